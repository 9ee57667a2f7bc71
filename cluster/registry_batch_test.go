package cluster

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"nodectl/cluster/api"
)

// Registrations that queue up while the registrar writes are written in one
// transaction and each admitted (Mesos' registrar batches the same way); a
// refused one in the batch does not hold the others back, and a batch never
// exceeds one transaction's operations.
func TestRegistrationsBatched(t *testing.T) {
	h := newHarness(t)
	gone := h.agent("gone", "cpus:1;mem:256")
	h.m.mu.Lock()
	h.m.removals.gone = map[string]time.Time{gone: t0}
	h.m.mu.Unlock()
	rs := mustRes(t, "cpus:1;mem:256")
	const n = maxTxnOps + 10
	h.m.registrar.Lock() // a write in progress: the registrations queue
	h.st.mu.Lock()
	before := h.st.commits
	h.st.mu.Unlock()
	var wg sync.WaitGroup
	ids := make([]string, n)
	errs := make([]error, n+1)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := h.m.register(api.RegisterRequest{Agent: api.AgentInfo{Hostname: fmt.Sprint("b", i), IP: "10.0.1.1", Port: 5051 + i, Resources: rs}})
			ids[i], errs[i] = resp.AgentID, err
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, errs[n] = h.m.register(api.RegisterRequest{Agent: api.AgentInfo{ID: gone, Hostname: "gone"}})
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		h.m.regMu.Lock()
		queued := len(h.m.regQueue)
		h.m.regMu.Unlock()
		if queued == n+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d registrations queued", queued, n+1)
		}
		runtime.Gosched()
	}
	h.m.registrar.Unlock()
	wg.Wait()
	seen := map[string]bool{}
	for i, err := range errs[:n] {
		if err != nil || ids[i] == "" || seen[ids[i]] {
			t.Fatalf("registration %d: id %q, err %v", i, ids[i], err)
		}
		seen[ids[i]] = true
	}
	if errs[n] == nil {
		t.Error("the removed agent was admitted")
	}
	h.st.mu.Lock()
	commits := h.st.commits - before
	h.st.mu.Unlock()
	if commits != 2 { // maxTxnOps, then the other 10
		t.Errorf("%d registrations took %d commits, want 2", n, commits)
	}
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if len(h.m.agents) != n+1 {
		t.Errorf("%d agents admitted, want %d", len(h.m.agents), n+1)
	}
}

// An agent that lost its id and registers at an address replaces the agent
// registered there (whose tasks are gone); the address index follows an
// agent that re-registers from another address.
func TestNewAgentAtAnAddressReplacesTheOld(t *testing.T) {
	h := newHarness(t)
	a1 := h.agent("h1", "cpus:2;mem:512")
	a2 := h.agent("h2", "cpus:2;mem:512")
	f := h.subscribe(api.FrameworkInfo{Name: "fw"})
	for _, o := range f.offers() {
		if o.AgentID.Value == a1 {
			f.launch(o, mkTask("t1", "cpus:1;mem:64"))
		}
	}
	h.report(a1, f.id(), "t1", api.TaskRunning)
	h.reregister(a2, "h2b", "cpus:2;mem:512") // a2 moves
	n1 := h.agent("h1", "cpus:2;mem:512")     // a new agent where a1 was
	n2 := h.agent("h2", "cpus:2;mem:512")     // where a2 was: nobody is now
	present := func(id string) bool {
		h.m.mu.Lock()
		defer h.m.mu.Unlock()
		return h.m.agents[id] != nil
	}
	if present(a1) || !present(n1) || !present(a2) || !present(n2) {
		t.Fatalf("agents present: a1 %v (want false), n1 %v, a2 %v, n2 %v (want true)", present(a1), present(n1), present(a2), present(n2))
	}
	if st := h.taskState(f.id(), "t1"); st != api.TaskLost && st != api.TaskGone {
		t.Errorf("t1 %s after its agent was replaced, want TASK_LOST (TASK_GONE when partition-aware)", st)
	}
	h.agent("h2b", "cpus:2;mem:512") // a new agent where a2 is now
	if present(a2) {
		t.Error("a2 kept after a new agent registered at the address it had moved to")
	}
}
