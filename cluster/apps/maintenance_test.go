package apps

import (
	"testing"
	"time"

	"nodectl/cluster/api"
)

// Marathon's maintenance mode: an offer whose unavailability has begun
// (or begins within the draining time) and has not ended is declined; one
// whose window is ahead or over is used.
func TestMaintenanceModeDeclines(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(start time.Time, dur time.Duration) api.Offer {
		u := &api.Unavailability{Start: &api.TimeInfo{Nanoseconds: start.UnixNano()}}
		if dur > 0 {
			u.Duration = &api.DurationInfo{Nanoseconds: int64(dur)}
		}
		return api.Offer{Unavailability: u}
	}
	for _, c := range []struct {
		name     string
		o        api.Offer
		draining time.Duration
		want     bool
	}{
		{"no unavailability", api.Offer{}, 0, false},
		{"started, 1h", at(now.Add(-time.Minute), time.Hour), 0, true},
		{"started, no duration", at(now.Add(-time.Minute), 0), 0, true},
		{"ahead", at(now.Add(time.Minute), time.Hour), 0, false},
		{"ahead within draining", at(now.Add(time.Minute), time.Hour), 2 * time.Minute, true},
		{"over", at(now.Add(-2*time.Hour), time.Hour), 0, false},
	} {
		if got := underMaintenance(c.o, now, c.draining); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}

	h := newHarness(t)
	if code := h.do("POST", "/v2/apps", `{"id":"/web","cmd":"sleep 1000","instances":1,"cpus":0.1,"mem":32}`, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	rs, err := api.ParseResources(res)
	if err != nil {
		t.Fatal(err)
	}
	o := at(h.now.Add(-time.Second), time.Hour)
	o.ID, o.AgentID, o.Hostname, o.Resources = api.ID{Value: "om"}, api.ID{Value: "agent-m"}, "m", rs
	if err := h.a.handle(api.Event{Type: api.EventOffers, Offers: &api.OffersEvent{Offers: []api.Offer{o}}}); err != nil {
		t.Fatal(err)
	}
	h.a.step()
	if ls := h.fake.launched(); len(ls) != 0 {
		t.Fatalf("launched %d tasks on a machine in maintenance", len(ls))
	}
	h.fake.mu.Lock()
	declined := len(h.fake.declines) > 0 && h.fake.declines[len(h.fake.declines)-1].OfferIDs[0].Value == "om"
	h.fake.mu.Unlock()
	if !declined {
		t.Error("the maintenance offer was not declined")
	}
	h.offerFrom("h1", res)
	if ls := h.fake.launched(); len(ls) != 1 {
		t.Fatalf("launched %d tasks on the other agent, want 1", len(ls))
	}
}
