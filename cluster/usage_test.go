package cluster

import (
	"testing"
	"time"

	"nodectl/cluster/api"
)

// The leader sums its live agents' latest usage with their totals, at most
// once per clusterUsageInterval.
func TestClusterUsageSums(t *testing.T) {
	h := newHarness(t)
	a1 := h.agent("a1", "cpus:2;mem:1024;disk:100")
	a2 := h.agent("a2", "cpus:4;mem:2048;disk:100")
	h.m.recordAgentUsage(a1, &api.UsageSample{CPUs: 0.5, MemBytes: 100})
	if got := h.m.ClusterUsage().Samples; len(got) != 1 || got[0].TotalCPUs != 6 || got[0].Agents != 2 || got[0].CPUs != 0.5 {
		t.Fatalf("first sample %+v", got)
	}
	h.m.recordAgentUsage(a2, &api.UsageSample{CPUs: 1, MemBytes: 50})
	if got := h.m.ClusterUsage().Samples; len(got) != 1 {
		t.Fatalf("a second sample within the interval: %+v", got)
	}
	h.advance(clusterUsageInterval + time.Millisecond)
	h.m.recordAgentUsage(a1, &api.UsageSample{CPUs: 0.25, MemBytes: 100})
	got := h.m.ClusterUsage().Samples
	if len(got) != 2 || got[1].CPUs != 1.25 || got[1].MemBytes != 150 || got[1].TotalMemMB != 3072 {
		t.Fatalf("second sample %+v, want cpus 1.25 mem 150 total mem 3072", got)
	}
}
