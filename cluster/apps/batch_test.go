package apps

import (
	"errors"
	"fmt"
	"testing"

	"nodectl/cluster"
	"nodectl/cluster/api"
)

// burstHarness has a 20-instance app waiting for an offer, its writes
// counted by meter.
func burstHarness(t *testing.T, maxOps int) (*harness, *cluster.TxnMeter) {
	h := newHarness(t)
	meter := &cluster.TxnMeter{}
	h.a.mu.Lock()
	h.a.store = &store{meter: meter}
	h.a.cfg.MaxTxnOps = maxOps
	h.a.mu.Unlock()
	if code := h.do("POST", "/v2/apps", `{"id":"/burst","instances":20,"cmd":"sleep 1000","cpus":0.01,"mem":1}`, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	return h, meter
}

// updates is one status update of state per task, as the master queues
// them for the framework.
func updates(tasks []api.TaskInfo, state api.TaskState) []api.Event {
	var out []api.Event
	for i, ti := range tasks {
		st := api.TaskStatus{TaskID: ti.TaskID, State: state, AgentID: &api.ID{Value: "a"}, UUID: fmt.Appendf(nil, "%s-%d", state, i)}
		out = append(out, api.Event{Type: api.EventUpdate, Update: &api.UpdateEvent{Status: st}})
	}
	return out
}

func (h *harness) states() map[api.TaskState]int {
	h.a.mu.Lock()
	defer h.a.mu.Unlock()
	out := map[api.TaskState]int{}
	for _, t := range h.a.tasks {
		out[t.State]++
	}
	return out
}

// TestBurstWritesBatched: the tasks placed in one offer are written in one
// transaction (split only at etcd's operation limit), and status updates
// that arrive together in one, a task's STARTING and RUNNING as its
// newest record; every update is acknowledged once written.
func TestBurstWritesBatched(t *testing.T) {
	h, meter := burstHarness(t, 0)
	txns0 := meter.Txns()
	h.offerFrom("h1", "cpus:1;mem:1024;ports:[31000-31100]")
	launched := h.fake.launched()
	if len(launched) != 20 {
		t.Fatalf("launched %d, want 20", len(launched))
	}
	if n := meter.Txns() - txns0; n != 1 {
		t.Errorf("staging 20 tasks took %d transactions, want 1", n)
	}
	txns0, ops0 := meter.Txns(), meter.Ops()
	evs := append(updates(launched, api.TaskStarting), updates(launched, api.TaskRunning)...)
	if err := h.a.handleEventBatch(evs); err != nil {
		t.Fatal(err)
	}
	if n, ops := meter.Txns()-txns0, meter.Ops()-ops0; n != 1 || ops != 20 {
		t.Errorf("40 updates of 20 tasks: %d transactions of %d ops, want 1 of 20", n, ops)
	}
	if got := h.states(); got[api.TaskRunning] != 20 {
		t.Errorf("task states %v, want 20 running", got)
	}
	h.fake.mu.Lock()
	acks := h.fake.acks
	h.fake.mu.Unlock()
	if acks != 40 {
		t.Errorf("%d acknowledgements, want 40", acks)
	}

	// A task's end then a retry of an older update of it: the end is
	// written (and the task forgotten) before the retry is handled.
	evs = append(updates(launched[:1], api.TaskFailed), updates(launched[:1], api.TaskRunning)...)
	if err := h.a.handleEventBatch(evs); err != nil {
		t.Fatal(err)
	}
	h.a.mu.Lock()
	_, kept := h.a.tasks[launched[0].TaskID.Value]
	h.a.mu.Unlock()
	if kept {
		t.Errorf("a retry behind a task's end brought the task back")
	}
}

// TestBurstWritesSplit: a batch larger than etcd takes in one transaction
// is split, in order.
func TestBurstWritesSplit(t *testing.T) {
	h, meter := burstHarness(t, 8)
	txns0 := meter.Txns()
	h.offerFrom("h1", "cpus:1;mem:1024;ports:[31000-31100]")
	if n := len(h.fake.launched()); n != 20 {
		t.Fatalf("launched %d, want 20", n)
	}
	if n := meter.Txns() - txns0; n != 3 {
		t.Errorf("20 tasks at 8 ops per transaction: %d transactions, want 3", n)
	}
}

// TestBurstDeposedBatchCommitsNothing: with the term's fence gone, the
// batch of an offer launches nothing and leaves no staged task behind,
// and a batch of status updates is neither applied nor acknowledged (the
// agent retries them); the framework's term ends (lost leadership).
func TestBurstDeposedBatchCommitsNothing(t *testing.T) {
	h, meter := burstHarness(t, 0)
	h.a.mu.Lock()
	h.a.store = deposedStore(t)
	h.a.store.meter = meter
	h.a.mu.Unlock()
	txns0 := meter.Txns()
	h.offerFrom("h1", "cpus:1;mem:1024;ports:[31000-31100]")
	if n := len(h.fake.launched()); n != 0 {
		t.Errorf("deposed: launched %d, want 0", n)
	}
	if got := h.states(); len(got) != 0 {
		t.Errorf("deposed: tasks kept %v, want none", got)
	}
	if meter.Txns() == txns0 {
		t.Errorf("no write was attempted: the test did not reach the batch")
	}

	// Launch while leading, then lose the term before the updates.
	h.a.mu.Lock()
	h.a.store = &store{meter: meter}
	h.a.mu.Unlock()
	h.offerFrom("h1", "cpus:1;mem:1024;ports:[31000-31100]")
	launched := h.fake.launched()
	if len(launched) != 20 {
		t.Fatalf("launched %d, want 20", len(launched))
	}
	h.a.mu.Lock()
	h.a.store = deposedStore(t)
	h.a.mu.Unlock()
	h.fake.mu.Lock()
	acks := h.fake.acks
	h.fake.mu.Unlock()
	evs := append(updates(launched, api.TaskStarting), updates(launched, api.TaskRunning)...)
	if err := h.a.handleEventBatch(evs); !errors.Is(err, cluster.ErrLostLeadership) {
		t.Errorf("updates while deposed: %v, want lost leadership", err)
	}
	h.fake.mu.Lock()
	if h.fake.acks != acks {
		t.Errorf("%d updates that were not persisted were acknowledged", h.fake.acks-acks)
	}
	h.fake.mu.Unlock()
	if got := h.states(); got[api.TaskStaging] != 20 {
		t.Errorf("task states after the refused batch %v, want 20 still staging", got)
	}
}

// TestFinishedDeploymentsForgottenTogether: the deployments that finish in
// one step are deleted in one transaction, not one each under the lock
// every API call waits for.
func TestFinishedDeploymentsForgottenTogether(t *testing.T) {
	h := newHarness(t)
	meter := &cluster.TxnMeter{}
	h.a.mu.Lock()
	h.a.store = &store{meter: meter}
	h.a.mu.Unlock()
	for i := range 20 {
		if code := h.do("POST", "/v2/apps", fmt.Sprintf(`{"id":"/d%d","instances":1,"cmd":"sleep 1000","cpus":0.01,"mem":1}`, i), nil); code != 201 {
			t.Fatalf("create /d%d: %d", i, code)
		}
	}
	h.offerFrom("h1", "cpus:1;mem:1024;ports:[31000-31100]")
	launched := h.fake.launched()
	if len(launched) != 20 {
		t.Fatalf("launched %d, want 20", len(launched))
	}
	if err := h.a.handleEventBatch(updates(launched, api.TaskRunning)); err != nil {
		t.Fatal(err)
	}
	txns0, ops0 := meter.Txns(), meter.Ops()
	h.a.step()
	h.a.mu.Lock()
	left := len(h.a.deployments)
	h.a.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d deployments left after their apps converged", left)
	}
	if n, ops := meter.Txns()-txns0, meter.Ops()-ops0; n != 1 || ops != 20 {
		t.Errorf("20 deployments finished in %d transactions of %d ops, want 1 of 20", n, ops)
	}
}
