package apps

import (
	"encoding/json"
	"testing"
	"time"

	"nodectl/cluster/api"
)

// A new leader continues the launch backoff its predecessor stored: what
// a leader loads (the app and its stored delay, through JSON as in etcd)
// still holds the launch back until the stored time, and the next failure
// grows the stored delay rather than starting afresh; a delay stored for
// another config is stale and ignored.
func TestBackoffCarriedAcrossLeaders(t *testing.T) {
	h := newHarness(t)
	h.do("POST", "/v2/apps", `{"id":"/crash","cmd":"exit 1","cpus":0.1,"mem":16,"portDefinitions":[],"backoffSeconds":10,"backoffFactor":2,"maxLaunchDelaySeconds":100}`, nil)
	h.offerFrom("h1", res)
	h.status(h.fake.launched()[0].TaskID.Value, api.TaskFailed) // delay 10 s
	h.offerFrom("h1", res)
	h.now = h.now.Add(10 * time.Second)
	h.offerFrom("h1", res)
	if n := len(h.fake.launched()); n != 2 {
		t.Fatalf("launched %d, want 2", n)
	}
	h.status(h.fake.launched()[1].TaskID.Value, api.TaskFailed) // delay 20 s
	h.now = h.now.Add(5 * time.Second)

	// What etcd holds, and a new leader loading it.
	h.a.mu.Lock()
	st := h.a.apps["/crash"]
	d, ok := st.storedDelay()
	if !ok || d.Delay != 20*time.Second {
		h.a.mu.Unlock()
		t.Fatalf("stored delay %+v %v, want 20s", d, ok)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var loaded storedDelay
	if err := json.Unmarshal(b, &loaded); err != nil {
		t.Fatal(err)
	}
	snap := snapshot{versions: map[string][]string{}, apps: []*App{st.def}}
	stale := storedDelay{ConfigVersion: "2000-01-01T00:00:00.000Z", Delay: time.Hour, LaunchAfter: h.now.Add(time.Hour)}
	h.a.resetLocked()
	h.a.restoreLocked(snap)
	if err := h.a.restoreDelaysLocked(map[string]storedDelay{delayKey("/crash"): loaded, delayKey("/gone"): stale}); err != nil {
		h.a.mu.Unlock()
		t.Fatal(err)
	}
	h.a.subscribed, h.a.ready = true, true
	h.a.mu.Unlock()

	h.offerFrom("h1", res) // 15 s of 20 s: still held back
	if n := len(h.fake.launched()); n != 2 {
		t.Fatalf("the new leader launched %d during the carried backoff, want 2", n)
	}
	h.now = h.now.Add(15 * time.Second)
	h.offerFrom("h1", res)
	ls := h.fake.launched()
	if len(ls) != 3 {
		t.Fatalf("launched %d after the carried backoff, want 3", len(ls))
	}
	h.status(ls[2].TaskID.Value, api.TaskFailed)
	h.a.mu.Lock()
	d, _ = h.a.apps["/crash"].storedDelay()
	h.a.mu.Unlock()
	if d.Delay != 40*time.Second {
		t.Errorf("delay after the next failure %v, want 40s (continued, not afresh)", d.Delay)
	}

	// A stored delay of an older config is ignored.
	h.a.mu.Lock()
	st = h.a.apps["/crash"]
	h.a.resetLocked()
	h.a.restoreLocked(snapshot{versions: map[string][]string{}, apps: []*App{st.def}})
	if err := h.a.restoreDelaysLocked(map[string]storedDelay{delayKey("/crash"): stale}); err != nil {
		h.a.mu.Unlock()
		t.Fatal(err)
	}
	if got := h.a.apps["/crash"]; got.backoff != 0 || !got.launchAfter.IsZero() {
		t.Errorf("stale delay applied: %v until %v", got.backoff, got.launchAfter)
	}
	h.a.mu.Unlock()
}
