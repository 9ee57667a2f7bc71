package apps

import (
	"testing"

	"nodectl/cluster/api"
)

// An app's tasks on a draining agent are replaced as in a rolling restart:
// replacements start elsewhere first (the draining agent's own offers are
// not used), and the old tasks are killed only once enough replacements
// run that minimumHealthCapacity holds; with maximumOverCapacity 0 one
// task moves at a time.
func TestDrainingAgentTasksMoveWithinStrategy(t *testing.T) {
	h := newHarness(t)
	draining := map[string]bool{}
	h.a.mu.Lock()
	h.a.cfg.DrainingAgents = func(bool) map[string]bool { return draining }
	h.a.mu.Unlock()
	h.do("POST", "/v2/apps", `{"id":"/d","cmd":"x","instances":2,"cpus":0.1,"mem":16,"upgradeStrategy":{"minimumHealthCapacity":1,"maximumOverCapacity":0}}`, nil)
	h.offerFrom("h1", res)
	h.runAll()
	if n := len(h.fake.launched()); n != 2 {
		t.Fatalf("launched %d, want 2 on h1", n)
	}
	draining["agent-h1"] = true
	h.a.step()
	if k := h.fake.killed(); len(k) != 0 {
		t.Fatalf("killed %v before any replacement runs", k)
	}
	h.offerFrom("h2", res)
	if n := len(h.fake.launched()); n != 3 {
		t.Fatalf("launched %d, want one replacement (maximumOverCapacity 0: one over)", n)
	}
	if k := h.fake.killed(); len(k) != 0 {
		t.Fatalf("killed %v while the replacement stages", k)
	}
	h.runAll()
	if k := h.fake.killed(); len(k) != 1 {
		t.Fatalf("killed %v once one replacement runs, want 1 old task", k)
	}
	for _, id := range h.fake.killed() {
		h.status(id, "TASK_KILLED")
	}
	h.offerFrom("h2", res)
	h.runAll()
	if n, k := len(h.fake.launched()), h.fake.killed(); n != 4 || len(k) != 2 {
		t.Fatalf("launched %d killed %v, want 4 and both old tasks", n, k)
	}
	for _, ti := range h.fake.launched()[2:] {
		if ti.AgentID.Value != "agent-h2" {
			t.Errorf("replacement on %s", ti.AgentID.Value)
		}
	}
}

// Pod instances on a draining agent move the same way, within
// scheduling.upgrade: with minimumHealthCapacity 1 the old instance goes
// only once its replacement elsewhere runs.
func TestDrainingAgentPodInstancesMove(t *testing.T) {
	h := newHarness(t)
	draining := map[string]bool{}
	h.a.mu.Lock()
	h.a.cfg.DrainingAgents = func(bool) map[string]bool { return draining }
	h.a.mu.Unlock()
	sched := `{"upgrade":{"minimumHealthCapacity":1,"maximumOverCapacity":1}}`
	if code := h.do("POST", "/v2/pods", stratPod("/dr/pod", 1, "sleep 100", sched), nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	h.a.step()
	h.offerFrom("h1", "cpus:4;mem:1024;disk:100")
	first := launchedPodTasks(h, 0)
	if len(first) != 1 {
		t.Fatalf("first launch: %d tasks", len(first))
	}
	h.status(first[0].TaskID.Value, api.TaskRunning)
	draining["agent-h1"] = true
	h.a.step()
	if k := h.fake.killed(); len(k) != 0 {
		t.Fatalf("killed %v before a replacement runs", k)
	}
	accepts := len(h.fake.accepts)
	h.offerFrom("h2", "cpus:4;mem:1024;disk:100")
	second := launchedPodTasks(h, accepts)
	if len(second) != 1 || second[0].AgentID.Value != "agent-h2" {
		t.Fatalf("replacement %+v, want one instance on h2", second)
	}
	if k := h.fake.killed(); len(k) != 0 {
		t.Fatalf("killed %v while the replacement stages", k)
	}
	h.status(second[0].TaskID.Value, api.TaskRunning)
	if k := h.fake.killed(); len(k) != 1 || k[0] != first[0].TaskID.Value {
		t.Fatalf("killed %v once the replacement runs, want the h1 instance", k)
	}
}
