package simagent

import (
	"testing"

	"nodectl/cluster/api"
)

// TestFailedAcceptIsLaunchedAgain: the tasks of an ACCEPT the master did
// not take are no longer counted as launched (the next offers get them),
// but tasks that already reached the phase's state stay counted.
func TestFailedAcceptIsLaunchedAgain(t *testing.T) {
	f := &Framework{}
	f.phase = &phase{prefix: "p1", until: api.TaskRunning, want: 4, perOffer: 2, done: map[string]bool{}, all: make(chan struct{})}
	o := api.Offer{AgentID: api.ID{Value: "a1"}, Resources: api.Resources{api.ScalarResource("cpus", 8), api.ScalarResource("mem", 8192)}}
	f.cfg.TaskCPUs, f.cfg.TaskMem = 0.1, 32
	first, second := f.fill(o), f.fill(o)
	if len(first) != 2 || len(second) != 2 || f.phase.launched != 4 {
		t.Fatalf("filled %d and %d, launched %d", len(first), len(second), f.phase.launched)
	}
	if len(f.fill(o)) != 0 {
		t.Fatal("launched more than the phase wants")
	}
	f.update(api.TaskStatus{TaskID: first[0].TaskID, State: api.TaskRunning})
	acc := func(ts []api.TaskInfo) *api.AcceptCall {
		return &api.AcceptCall{Operations: []api.Operation{{Type: api.OperationLaunch, Launch: &api.LaunchOperation{TaskInfos: ts}}}}
	}
	if !f.unlaunched(acc(first)) || f.phase.launched != 3 || f.Unlaunched() != 1 {
		t.Fatalf("after the first ACCEPT failed (one of its tasks running): launched %d, unlaunched %d", f.phase.launched, f.Unlaunched())
	}
	if got := f.fill(o); len(got) != 1 || got[0].TaskID == first[1].TaskID {
		t.Fatalf("launched again: %v", got)
	}
}
