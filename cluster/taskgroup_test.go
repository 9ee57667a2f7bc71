package cluster

import (
	"strings"
	"testing"

	"nodectl/cluster/api"
)

// TestLaunchGroup: a task group launches whole (one LAUNCH per task, each
// naming the group, the executor's resources counted) or not at all.
func TestLaunchGroup(t *testing.T) {
	h := newHarness(t)
	ag := h.agent("h1", "cpus:1;mem:256")
	h.messages(ag)
	f := h.subscribe(api.FrameworkInfo{User: "root"})
	group := func(o api.Offer, tasks ...api.TaskInfo) {
		t.Helper()
		exec := api.ExecutorInfo{Type: api.ExecutorTypeDefault, ExecutorID: api.ID{Value: "exec-" + tasks[0].TaskID.Value}, Resources: mkTask("x", "cpus:0.1;mem:32").Resources}
		zero := 0.0
		err := h.m.Accept(f.sub, api.AcceptCall{OfferIDs: []api.ID{o.ID}, Filters: &api.Filters{RefuseSeconds: &zero}, Operations: []api.Operation{{
			Type: api.OperationLaunchGroup, LaunchGroup: &api.LaunchGroupOperation{Executor: exec, TaskGroup: api.TaskGroupInfo{Tasks: tasks}},
		}}})
		if err != nil {
			t.Fatal(err)
		}
	}

	// Too large together (each would fit alone): none launches.
	group(f.offer(), mkTask("big1", "cpus:0.5;mem:100"), mkTask("big2", "cpus:0.5;mem:100"))
	us := f.updates()
	if len(us) != 2 {
		t.Fatalf("updates %v, want 2", us)
	}
	for _, u := range us {
		if u.State != api.TaskError || u.Reason != api.ReasonTaskGroupInvalid || !strings.Contains(u.Message, "more resources") {
			t.Fatalf("update %s", fmtStatus(u))
		}
	}
	if ms := h.messages(ag); len(ms) != 0 {
		t.Fatalf("agent got %v", msgTypes(ms))
	}

	// One invalid task fails the group.
	bad := mkTask("bad", "cpus:0.1")
	bad.Command = nil
	group(f.offer(), mkTask("ok1", "cpus:0.1;mem:16"), bad)
	if us := f.updates(); len(us) != 2 || us[0].Reason != api.ReasonTaskGroupInvalid || us[1].Reason != api.ReasonTaskGroupInvalid {
		t.Fatalf("updates %v", us)
	}

	// A volume source other than SANDBOX_PATH PARENT is refused.
	vol := mkTask("vol", "cpus:0.1;mem:16")
	vol.Container = &api.ContainerInfo{Type: "MESOS", Volumes: []api.Volume{{ContainerPath: "d", Mode: "RW",
		Source: &api.VolumeSource{Type: api.VolumeSourceSandboxPath, SandboxPath: &api.SandboxPath{Type: api.SandboxPathParent, Path: "../x"}}}}}
	group(f.offer(), vol)
	if u := f.update(); u.State != api.TaskError || !strings.Contains(u.Message, "must be relative") {
		t.Fatalf("update %s", fmtStatus(u))
	}

	// A group that fits: one LAUNCH per task, each with the group.
	group(f.offer(), mkTask("a", "cpus:0.2;mem:64"), mkTask("b", "cpus:0.2;mem:64"))
	ms := h.messages(ag)
	if len(ms) != 2 {
		t.Fatalf("agent got %v", msgTypes(ms))
	}
	for i, m := range ms {
		if m.Type != api.MsgLaunch || m.Launch.Group == nil || m.Launch.Group.Executor.ExecutorID.Value != "exec-a" || len(m.Launch.Group.TaskIDs) != 2 {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	// The executor's resources went with the first task.
	if c := ms[0].Launch.Task.Resources.Scalar("cpus"); c < 0.29 || c > 0.31 {
		t.Fatalf("first task cpus %v, want 0.3", c)
	}
	// What is left is offered again: 1 - 0.5 cpus.
	if o := f.offer(); o.Resources.Scalar("cpus") < 0.49 || o.Resources.Scalar("cpus") > 0.51 {
		t.Fatalf("offer after the group: %s", o.Resources)
	}
	// The group's tasks and their executor count as used (h.metric also
	// checks the figure against the tasks').
	if got := h.metric("master/cpus_used"); got != 0.5 {
		t.Fatalf("cpus_used %v, want the group's 0.4 and its executor's 0.1", got)
	}
}
