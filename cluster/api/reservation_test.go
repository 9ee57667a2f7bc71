package api

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestReservationFormats(t *testing.T) {
	post := `[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservations":[{"type":"DYNAMIC","role":"ads","principal":"ops","labels":{"labels":[{"key":"k","value":"v"}]}}]}]`
	pre := `[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"role":"ads","reservation":{"principal":"ops","labels":{"labels":[{"key":"k","value":"v"}]}}}]`
	a, err := ParseResources(post)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseResources(pre)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Equal(b) || len(a.Add(b)) != 1 {
		t.Fatalf("formats differ: %v vs %v", a, b)
	}
	if a[0].Role != "ads" || b[0].Reservations[0].Role != "ads" || b[0].Reservations[0].Type != ReservationDynamic || a[0].Reservation.Principal != "ops" {
		t.Fatalf("not normalised: %+v / %+v", a[0], b[0])
	}
	if a[0].Label("k") != "v" || a.Scalar("cpus") != 1 {
		t.Fatalf("label/scalar: %+v", a[0])
	}
	out, _ := json.Marshal(a)
	c, err := ParseResources(string(out))
	if err != nil || !c.Equal(a) {
		t.Fatalf("round trip %s: %v", out, err)
	}
}

func TestReservationMerging(t *testing.T) {
	unres := Resources{ScalarResource("cpus", 2), ScalarResource("disk", 100)}
	r1 := Resources{ScalarResource("cpus", 1)}.Reserve("web", "p", nil)
	r2 := Resources{ScalarResource("cpus", 1)}.Reserve("web", "p", nil)
	l := Resources{ScalarResource("cpus", 1)}.Reserve("web", "p", &Labels{Labels: []Label{{Key: "a", Value: "b"}}})
	if got := r1.Add(r2); len(got) != 1 || got.Scalar("cpus") != 2 {
		t.Fatalf("same labels should merge: %v", got)
	}
	if got := r1.Add(l); len(got) != 2 {
		t.Fatalf("different labels must not merge: %+v", got)
	}
	if unres.Contains(r1) || !unres.Contains(Resources{r1[0].Unreserved()}) {
		t.Fatalf("reserved must not be covered by unreserved")
	}
	total := unres.Subtract(Resources{r1[0].Unreserved()}).Add(r1)
	if total.Scalar("cpus") != 2 || len(total.Reserved()) != 1 {
		t.Fatalf("reserve conversion: %v", total)
	}
}

func TestVolumeValidation(t *testing.T) {
	vol := func(role, id, path, mode string) string {
		return `[{"name":"disk","type":"SCALAR","scalar":{"value":10},"role":"` + role + `","reservation":{"principal":"p"},"disk":{"persistence":{"id":"` + id + `"},"volume":{"container_path":"` + path + `","mode":"` + mode + `"}}}]`
	}
	rs, err := ParseResources(vol("web", "v1", "data", "RW"))
	if err != nil || len(rs.Volumes()) != 1 || rs[0].PersistenceID() != "v1" {
		t.Fatalf("valid volume: %v %v", rs, err)
	}
	if len(Resources{rs[0].WithoutVolume()}.Volumes()) != 0 {
		t.Fatal("WithoutVolume kept the volume")
	}
	other, _ := ParseResources(vol("web", "v2", "data", "RW"))
	if len(rs.Add(other)) != 2 {
		t.Fatal("two volumes merged")
	}
	for name, in := range map[string]string{
		"unreserved":    `[{"name":"disk","type":"SCALAR","scalar":{"value":10},"disk":{"persistence":{"id":"v"},"volume":{"container_path":"d"}}}]`,
		"absolute path": vol("web", "v", "/data", "RW"),
		"climbs":        vol("web", "v", "../x", "RW"),
		"bad id":        vol("web", "a/b", "d", "RW"),
		"bad mode":      vol("web", "v", "d", "XX"),
		"star role":     `[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservations":[{"type":"DYNAMIC","role":"*"}]}]`,
		"disk on cpus":  `[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"role":"web","reservation":{},"disk":{"persistence":{"id":"v"},"volume":{"container_path":"d"}}}]`,
	} {
		if _, err := ParseResources(in); !errors.Is(err, ErrBadResources) {
			t.Errorf("%s: err = %v, want ErrBadResources", name, err)
		}
	}
}
