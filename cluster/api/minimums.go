package api

// Mesos' smallest task (src/master/constants.hpp MIN_CPUS and MIN_MEM). A
// task asking for less (cpus: 0, mem: 0 included) is counted at these by
// the master and limited to them by the agent, so no task runs unlimited
// or uncounted.
const (
	MinCPUs  = 0.01
	MinMemMB = 32
)
