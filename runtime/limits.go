package runtime

import "nodectl/cluster/api"

// Mesos' smallest task (src/master/constants.hpp MIN_CPUS and MIN_MEM):
// a task asking for less (cpus: 0, mem: 0 included) is still limited to
// these, so no task runs without a CPU and memory limit.
const (
	MinCPUs  = 0.01
	MinMemMB = 32
)

// taskLimits are the CPU and memory limits of a task's container: its
// resources, at least Mesos' minimums.
func taskLimits(rs api.Resources) (cpus float64, memBytes int64) {
	cpus = max(rs.Scalar("cpus"), MinCPUs)
	mem := max(rs.Scalar("mem"), MinMemMB)
	return cpus, int64(mem * (1 << 20))
}
