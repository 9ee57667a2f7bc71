package cluster

import (
	"testing"

	"nodectl/cluster/api"
)

// A launch the agent never reported (it died before it ran or checkpointed
// the task) ends when the agent re-registers without it, per Mesos'
// partition-aware semantics: TASK_DROPPED for a PARTITION_AWARE
// framework, TASK_LOST for the others, REASON_RECONCILIATION both.
func TestLaunchLostWithItsAgent(t *testing.T) {
	for _, c := range []struct {
		name string
		caps []api.Capability
		want api.TaskState
	}{
		{"partition-aware", []api.Capability{{Type: api.CapabilityPartitionAware}}, api.TaskDropped},
		{"not partition-aware", nil, api.TaskLost},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			ag := h.agent("a1", "cpus:4;mem:1024")
			fw := h.subscribe(api.FrameworkInfo{FailoverTimeout: 3600, Capabilities: c.caps})
			fw.launch(fw.offer(), mkTask("staged", "cpus:0.1;mem:32"))
			if got := h.taskState(fw.id(), "staged"); got != api.TaskStaging {
				t.Fatalf("task %q after its launch, want TASK_STAGING", got)
			}
			h.messages(ag) // the LAUNCH, never acted upon
			h.reregister(ag, "a1", "cpus:4;mem:1024")
			st := fw.update()
			if st.TaskID.Value != "staged" || st.State != c.want || st.Reason != api.ReasonReconciliation {
				t.Fatalf("update %s, want %s with REASON_RECONCILIATION", fmtStatus(st), c.want)
			}
			if got := h.metric("master/tasks_staging"); got != 0 {
				t.Errorf("master/tasks_staging %v, want 0", got)
			}
		})
	}
}
