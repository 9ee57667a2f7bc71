package runtime

import (
	"log/slog"
	"path"

	"nodectl/runtime/internal/container"
)

// A node's cgroups (docs/runtime.md "Protected control-plane capacity"):
// /<root> (the agent's --cgroups-root, like Mesos' --cgroups_root) holds
// "containers" (not "tasks": cgroup v1 has a file of that name in every
// cgroup), the parent of every task container's cgroup, and its sibling
// /<root>-system holds the nodectl process itself (Mesos'
// --agent_subsystems idea), with a CPU weight eight times the tasks' so
// the control plane wins contention. They share no parent of their own
// (see container.SystemCPUShares): each weighs its own weight against the
// processes outside the node.
const (
	SystemCPUShares = container.SystemCPUShares
	TasksCPUShares  = container.TasksCPUShares
)

// SystemCgroup is the absolute path of the nodectl process's cgroup, a
// sibling of the node's root cgroup /<root>.
func SystemCgroup(root string) string { return path.Join("/", root) + "-system" }

// TasksCgroup is the absolute path of the task containers' parent cgroup.
func TasksCgroup(root string) string { return path.Join("/", root, "containers") }

// CPUWeight is the cgroup v2 cpu.weight of a cgroup v1 cpu.shares value.
func CPUWeight(shares uint64) uint64 { return container.CPUWeight(shares) }

// JoinSystemCgroup moves the calling process (all its threads) into
// SystemCgroup(root), creating it with its CPU weight and, on cgroup v2,
// memory.low = memLow bytes. It also sets the weight of the node's root
// cgroup /<root>, the tasks' side, to TasksCPUShares: an earlier version
// nested the system cgroup in it and gave it both weights, which the tasks
// would keep. Without root or a writable cgroup file system (a nested,
// read-only one) it logs a warning and the process stays where it is:
// the node still runs, unprotected. It reports whether the process moved.
func JoinSystemCgroup(root string, memLow int64, pid int, log *slog.Logger) bool {
	if root == "" {
		return false
	}
	p := SystemCgroup(root)
	if err := container.SetupCgroup(path.Join("/", root), TasksCPUShares, 0, -1); err != nil {
		log.Warn("cannot weigh the node's tasks cgroup: tasks may take more than their share from processes outside the node", "cgroup", path.Join("/", root), "err", err)
	}
	if err := container.SetupCgroup(p, SystemCPUShares, memLow, pid); err != nil {
		log.Warn("cannot move nodectl into its own cgroup: tasks may starve the control plane of CPU", "cgroup", p, "err", err)
		return false
	}
	log.Info("nodectl runs in its own cgroup", "cgroup", p, "cpu_shares", SystemCPUShares, "tasks_cgroup", TasksCgroup(root), "tasks_cpu_shares", TasksCPUShares)
	return true
}
