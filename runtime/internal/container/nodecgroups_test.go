package container_test

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/cgroups"

	"nodectl/runtime/internal/container"
	"nodectl/runtime/internal/container/containertest"
)

// cpuWeightOf reads a cgroup's CPU weight: cpu.weight on cgroup v2,
// cpu.shares on v1 (in shares).
func cpuWeightOf(t *testing.T, path string) uint64 {
	t.Helper()
	file := filepath.Join("/sys/fs/cgroup/cpu", path, "cpu.shares")
	if cgroups.IsCgroup2UnifiedMode() {
		file = filepath.Join("/sys/fs/cgroup", path, "cpu.weight")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantWeight(shares uint64) uint64 {
	if cgroups.IsCgroup2UnifiedMode() {
		return container.CPUWeight(shares)
	}
	return shares
}

// cgroupOf is pid's cgroup in the cpu hierarchy (v1) or the unified one.
func cgroupOf(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if cgroups.IsCgroup2UnifiedMode() && parts[0] == "0" {
			return parts[2]
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "cpu" {
				return parts[2]
			}
		}
	}
	t.Fatalf("no cpu cgroup for %d in %q", pid, b)
	return ""
}

func memCgroupOf(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if parts := strings.SplitN(line, ":", 3); len(parts) == 3 && parts[1] == "memory" {
			return parts[2]
		}
	}
	return ""
}

// A node's system cgroup outweighs its tasks' parent; a process moves
// into the system one; containers go under the tasks' one.
func TestNodeCgroups(t *testing.T) {
	containertest.RequireRoot(t)
	root := containertest.CgroupParent(t)
	tasks, system := root+"/containers", root+"/system"
	if err := container.SetupCgroup(tasks, container.TasksCPUShares, 0, -1); err != nil {
		t.Fatal(err)
	}
	// Again: a restarted agent finds it in place.
	if err := container.SetupCgroup(tasks, container.TasksCPUShares, 0, -1); err != nil {
		t.Fatal(err)
	}
	sleeper := exec.Command("sleep", "1000")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	if err := container.SetupCgroup(system, container.SystemCPUShares, 64<<20, sleeper.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if got := cgroupOf(t, sleeper.Process.Pid); got != system {
		t.Errorf("process in %s, want %s", got, system)
	}
	if !cgroups.IsCgroup2UnifiedMode() {
		// v1: the process keeps its memory cgroup.
		if got, was := memCgroupOf(t, sleeper.Process.Pid), memCgroupOf(t, os.Getpid()); got != was {
			t.Errorf("process moved to memory cgroup %s, was in %s", got, was)
		}
	}
	if got, want := cpuWeightOf(t, system), wantWeight(container.SystemCPUShares); got != want {
		t.Errorf("system weight %d, want %d", got, want)
	}
	if got, want := cpuWeightOf(t, tasks), wantWeight(container.TasksCPUShares); got != want {
		t.Errorf("tasks weight %d, want %d", got, want)
	}
	if sys, tk := cpuWeightOf(t, system), cpuWeightOf(t, tasks); sys <= tk {
		t.Errorf("system weight %d not above tasks' %d", sys, tk)
	}

	cfg := container.Config{
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Root:         t.TempDir(),
		ShimPath:     shimPath,
		CgroupParent: tasks,
	}
	d, err := container.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	e := &env{cfg: cfg, d: d}
	c := e.start(t, e.spec(t, "undertasks", "", "/bin/sleep", "1000"))
	if got, want := cgroupOf(t, c.Pid()), tasks+"/undertasks"; got != want {
		t.Errorf("container in %s, want %s", got, want)
	}
}

func TestSetupCgroupErrors(t *testing.T) {
	if err := container.SetupCgroup("relative/path", 1024, 0, -1); err == nil {
		t.Error("relative path: no error")
	}
}
