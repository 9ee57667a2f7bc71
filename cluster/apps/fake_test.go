package apps

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"nodectl/cluster"
	"nodectl/cluster/api"
)

// fakeScheduler records the framework's calls.
type fakeScheduler struct {
	mu         sync.Mutex // guards the fields below
	subs       []cluster.SubscribeRequest
	accepts    []api.AcceptCall
	declines   []api.DeclineCall
	kills      []api.KillCall
	acks       int
	reconciles []api.ReconcileCall
	revives    int
	suppresses int
	nextID     int
}

func (f *fakeScheduler) Subscribe(req cluster.SubscribeRequest) (cluster.Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs = append(f.subs, req)
	id := "fw-1"
	if req.Info.ID != nil {
		id = req.Info.ID.Value
	}
	f.nextID++
	s := cluster.Subscription{FrameworkID: id, StreamID: fmt.Sprint("stream-", f.nextID)}
	req.Sink.Send(api.Event{Type: api.EventSubscribed, Subscribed: &api.SubscribedEvent{FrameworkID: api.ID{Value: id}}})
	return s, nil
}
func (f *fakeScheduler) Unsubscribe(cluster.Subscription) {}
func (f *fakeScheduler) Accept(_ cluster.Subscription, c api.AcceptCall) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accepts = append(f.accepts, c)
	return nil
}
func (f *fakeScheduler) Decline(_ cluster.Subscription, c api.DeclineCall) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.declines = append(f.declines, c)
	return nil
}
func (f *fakeScheduler) Kill(_ cluster.Subscription, c api.KillCall) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kills = append(f.kills, c)
	return nil
}
func (f *fakeScheduler) Acknowledge(cluster.Subscription, api.AcknowledgeCall) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acks++
	return nil
}
func (f *fakeScheduler) Reconcile(_ cluster.Subscription, c api.ReconcileCall) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reconciles = append(f.reconciles, c)
	return nil
}
func (f *fakeScheduler) Revive(cluster.Subscription, []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revives++
	return nil
}
func (f *fakeScheduler) Suppress(cluster.Subscription, []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.suppresses++
	return nil
}
func (f *fakeScheduler) Teardown(cluster.Subscription) error { return nil }

// launched is every TaskInfo accepted so far.
func (f *fakeScheduler) launched() []api.TaskInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.TaskInfo
	for _, a := range f.accepts {
		for _, op := range a.Operations {
			if op.Launch != nil { // LAUNCH_GROUPs are pods'
				out = append(out, op.Launch.TaskInfos...)
			}
		}
	}
	return out
}

func (f *fakeScheduler) killed() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, k := range f.kills {
		out = append(out, k.TaskID.Value)
	}
	return out
}

func testLogger(t testing.TB) *slog.Logger { return slog.New(slog.NewTextHandler(t.Output(), nil)) }

// harness is an Apps subscribed to a fake scheduler, driven by hand: no
// Run loop, a settable clock.
type harness struct {
	t     testing.TB
	a     *Apps
	fake  *fakeScheduler
	now   time.Time
	srv   http.Handler
	ids   int
	offer int
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{t: t, fake: &fakeScheduler{}, now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	a, err := New(Config{
		Scheduler: h.fake, IsLeader: func() bool { return true },
		Leader: func() (api.MasterInfo, bool) { return api.MasterInfo{IP: "127.0.0.1", Port: 5050}, true },
		Now:    func() time.Time { return h.now }, Logger: testLogger(t),
		NewID: func() string { h.ids++; return fmt.Sprintf("id%03d", h.ids) },
	})
	if err != nil {
		t.Fatal(err)
	}
	h.a = a
	q := cluster.NewEventQueue()
	sub, _ := h.fake.Subscribe(cluster.SubscribeRequest{Sink: q})
	a.mu.Lock()
	a.sub, a.subscribed, a.ready = sub, true, true
	a.mu.Unlock()
	evs, _ := q.Next(t.Context())
	for _, ev := range evs {
		if err := a.handle(ev); err != nil {
			t.Fatal(err)
		}
	}
	h.srv = a.Handler()
	return h
}

// do sends a request; the response body decodes into out when non-nil.
func (h *harness) do(method, path, body string, out any) int {
	h.t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			h.t.Fatalf("%s %s: decode %q: %v", method, path, rec.Body.String(), err)
		}
	}
	return rec.Code
}

// offerFrom sends one offer of host with attrs.
func (h *harness) offerFrom(host string, res string, attrs ...api.Attribute) {
	h.t.Helper()
	rs, err := api.ParseResources(res)
	if err != nil {
		h.t.Fatal(err)
	}
	h.offer++
	o := api.Offer{ID: api.ID{Value: fmt.Sprint("o", h.offer)}, AgentID: api.ID{Value: "agent-" + host}, Hostname: host, Resources: rs, Attributes: attrs}
	if err := h.a.handle(api.Event{Type: api.EventOffers, Offers: &api.OffersEvent{Offers: []api.Offer{o}}}); err != nil {
		h.t.Fatal(err)
	}
	h.a.step()
}

// status sends a status update for task id.
func (h *harness) status(id string, s api.TaskState) {
	h.t.Helper()
	st := api.TaskStatus{TaskID: api.ID{Value: id}, State: s, AgentID: &api.ID{Value: "a"}, UUID: []byte("u")}
	if err := h.a.handle(api.Event{Type: api.EventUpdate, Update: &api.UpdateEvent{Status: st}}); err != nil {
		h.t.Fatal(err)
	}
	h.a.step()
}

func (h *harness) runAll() {
	for _, ti := range h.fake.launched() {
		h.a.mu.Lock()
		t := h.a.tasks[ti.TaskID.Value]
		h.a.mu.Unlock()
		if t != nil && t.State == api.TaskStaging {
			h.status(ti.TaskID.Value, api.TaskRunning)
		}
	}
}

func (h *harness) app(id string) map[string]any {
	h.t.Helper()
	var out struct {
		App map[string]any `json:"app"`
	}
	if code := h.do("GET", "/v2/apps"+id, "", &out); code != 200 {
		h.t.Fatalf("GET app %s: %d", id, code)
	}
	return out.App
}
