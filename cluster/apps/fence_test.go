package apps

import (
	"errors"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"nodectl/cluster"
	"nodectl/cluster/api"
)

// deposedStore is a fenced store outside any term: every write fails with
// cluster.ErrLostLeadership before it reaches etcd (the client never
// dials).
func deposedStore(t *testing.T) *store {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:1"}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return &store{cli: cli, fenced: true}
}

// TestDeposedWritesNotApplied: with the term's fence gone, a status update
// is neither acknowledged nor applied (the agent retries it), and a
// create answers 503 and leaves no app behind; once writes commit again,
// the retried update is applied and acknowledged.
func TestDeposedWritesNotApplied(t *testing.T) {
	h := newHarness(t)
	if code := h.do("POST", "/v2/apps", `{"id":"/f","instances":1,"cmd":"sleep 1000","cpus":0.1,"mem":16}`, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	h.offerFrom("h1", "cpus:1;mem:128;ports:[31000-31010]")
	h.runAll()
	launched := h.fake.launched()
	if len(launched) != 1 {
		t.Fatalf("launched %d, want 1", len(launched))
	}
	id := launched[0].TaskID.Value

	h.a.mu.Lock()
	h.a.store = deposedStore(t)
	h.a.mu.Unlock()
	h.fake.mu.Lock()
	acks := h.fake.acks
	h.fake.mu.Unlock()
	st := api.TaskStatus{TaskID: api.ID{Value: id}, State: api.TaskFailed, AgentID: &api.ID{Value: "a"}, UUID: []byte("u2")}
	ev := api.Event{Type: api.EventUpdate, Update: &api.UpdateEvent{Status: st}}
	if err := h.a.handle(ev); !errors.Is(err, cluster.ErrLostLeadership) {
		t.Errorf("update while deposed: %v, want lost leadership", err)
	}
	h.fake.mu.Lock()
	if h.fake.acks != acks {
		t.Errorf("an update that was not persisted was acknowledged")
	}
	h.fake.mu.Unlock()
	h.a.mu.Lock()
	if tk := h.a.tasks[id]; tk == nil || tk.State != api.TaskRunning {
		t.Errorf("task after the refused update: %+v, want still running", tk)
	}
	h.a.mu.Unlock()
	if code := h.do("POST", "/v2/apps", `{"id":"/g","instances":1,"cmd":"sleep 1000","cpus":0.1,"mem":16}`, nil); code != 503 {
		t.Errorf("create while deposed: %d, want 503", code)
	}
	if code := h.do("GET", "/v2/apps/g", "", nil); code != 404 {
		t.Errorf("GET the refused app: %d, want 404", code)
	}

	// Writes commit again: the agent's retry is applied and acknowledged.
	h.a.mu.Lock()
	h.a.store = &store{}
	h.a.mu.Unlock()
	if err := h.a.handle(ev); err != nil {
		t.Fatal(err)
	}
	h.fake.mu.Lock()
	if h.fake.acks != acks+1 {
		t.Errorf("acks %d after the retry, want %d", h.fake.acks, acks+1)
	}
	h.fake.mu.Unlock()
	h.a.mu.Lock()
	if h.a.tasks[id] != nil {
		t.Errorf("the failed task is still tracked")
	}
	h.a.mu.Unlock()
}
