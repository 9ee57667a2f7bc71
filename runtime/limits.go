package runtime

import "nodectl/cluster/api"

// taskLimits are the CPU and memory limits of a task's container: its
// resources, at least Mesos' minimums (api.MinCPUs, api.MinMemMB), so no
// task runs without a CPU and memory limit.
func taskLimits(rs api.Resources) (cpus float64, memBytes int64) {
	cpus = max(rs.Scalar("cpus"), api.MinCPUs)
	mem := max(rs.Scalar("mem"), api.MinMemMB)
	return cpus, int64(mem * (1 << 20))
}
