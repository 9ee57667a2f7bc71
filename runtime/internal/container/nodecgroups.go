package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
)

// The CPU weights of a node's two cgroups (docs/runtime.md "Protected
// control-plane capacity"), in cgroup v1 cpu.shares units; on cgroup v2
// they become cpu.weight by CPUWeight. Under contention the kernel splits
// CPU time between sibling cgroups in proportion to their weights, so the
// node's own processes get up to 8/9 of the CPU they ask for however busy
// the tasks keep it, and give back whatever they do not use.
//
// The two are siblings at the top of the hierarchy, never under one
// parent of their own: the kernel gives a parent's whole weight to
// whichever of its children are runnable, so under a parent weighing
// both (8192+1024) the tasks weighed nine default processes against
// everything outside the node whenever nodectl itself was idle, which
// is most of the time (measured: two busy tasks got 8x the CPU of four
// busy processes outside the node). At the top, each weighs only its own
// against the outside: the tasks one default process (1024, on cgroup v1
// the weight of one process or autogroup in the root cgroup), nodectl
// eight.
const (
	SystemCPUShares = 8192
	TasksCPUShares  = 1024
)

// CPUWeight is the cgroup v2 cpu.weight of a node cgroup with the given
// v1 cpu.shares: proportional, default to default (1024 → 100), so the
// two cgroups keep the same ratio on v2. (runc's own conversion,
// cgroups.ConvertCPUSharesToCgroupV2Value, is not linear: 8192 → 532.)
func CPUWeight(shares uint64) uint64 { return max(1, min(10000, shares*100/1024)) }

// SetupCgroup creates the cgroup at path (absolute, in every hierarchy on
// cgroup v1) if needed, sets its CPU weight and, when memLow > 0 and the
// host has cgroup v2, its memory.low, and moves pid into it unless pid is
// -1 (on cgroup v1, in the cpu and cpuacct hierarchies only). It leaves the device controller alone: path is a parent of
// containers or the node's own cgroup, never a container.
func SetupCgroup(path string, shares uint64, memLow int64, pid int) error {
	if os.Geteuid() != 0 {
		return errors.New("not running as root")
	}
	if !filepath.IsAbs(path) {
		return fmt.Errorf("cgroup path %q is not absolute", path)
	}
	res := &cgroups.Resources{SkipDevices: true, CpuShares: shares}
	if cgroups.IsCgroup2UnifiedMode() {
		res.CpuShares, res.CpuWeight = 0, CPUWeight(shares)
		res.MemoryReservation = memLow // memory.low; v1 has no such protection
	}
	m, err := manager.New(&cgroups.Cgroup{Path: path, Resources: res})
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", path, err)
	}
	v2 := cgroups.IsCgroup2UnifiedMode()
	join := pid
	if !v2 {
		join = -1 // below, into the CPU hierarchies only
	}
	if err := m.Apply(join); err != nil {
		return fmt.Errorf("cgroup %s: create: %w", path, err)
	}
	if err := m.Set(res); err != nil {
		return fmt.Errorf("cgroup %s: set weight: %w", path, err)
	}
	if v2 && memLow > 0 {
		// memory.low protects a cgroup only as far as its ancestors'
		// does: raise theirs (below the root) to at least memLow.
		for dir := filepath.Dir(path); dir != "/"; dir = filepath.Dir(dir) {
			if err := raiseMemoryLow(filepath.Join("/sys/fs/cgroup", dir), memLow); err != nil {
				return fmt.Errorf("cgroup %s: %w", dir, err)
			}
		}
	}
	if v2 || pid == -1 {
		return nil
	}
	// On cgroup v1 the process joins the cpu and cpuacct hierarchies
	// only: the weight is all this buys there, and the process keeps its
	// memory, pids, ... cgroups (a service manager's limits and
	// accounting).
	for _, sub := range []string{"cpu", "cpuacct"} {
		if dir := m.Path(sub); dir != "" {
			if err := cgroups.WriteCgroupProc(dir, pid); err != nil {
				return fmt.Errorf("cgroup %s: join: %w", path, err)
			}
		}
	}
	return nil
}

// raiseMemoryLow sets the cgroup v2 dir's memory.low to v unless it is
// already at least that.
func raiseMemoryLow(dir string, v int64) error {
	cur, err := cgroups.ReadFile(dir, "memory.low")
	if err != nil {
		return err
	}
	cur = strings.TrimSpace(cur)
	if n, err := strconv.ParseInt(cur, 10, 64); cur == "max" || (err == nil && n >= v) {
		return nil
	}
	return cgroups.WriteFile(dir, "memory.low", strconv.FormatInt(v, 10))
}
