package runtime

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/cgroups"

	"nodectl/runtime/internal/container/containertest"
)

// nodectl's cgroup and the tasks' side of the node are siblings at the
// top, each with its own weight against processes outside the node: under
// a common parent weighing both, the tasks got the parent's whole weight
// whenever nodectl was idle.
func TestJoinSystemCgroupWeighsTheNode(t *testing.T) {
	containertest.RequireRoot(t)
	root := containertest.CgroupParent(t)
	t.Cleanup(func() { containertest.RemoveCgroup(SystemCgroup(root)) }) // after the sleeper is gone
	sleeper := exec.Command("sleep", "1000")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if !JoinSystemCgroup(strings.TrimPrefix(root, "/"), 0, sleeper.Process.Pid, log) {
		t.Fatal("the process did not move into the system cgroup")
	}
	sys := SystemCgroup(root)
	if filepath.Dir(sys) != filepath.Dir(root) || strings.HasPrefix(TasksCgroup(root), sys+"/") {
		t.Errorf("system cgroup %s is not a sibling of the node's root %s", sys, root)
	}
	for _, c := range []struct {
		path   string
		shares uint64
	}{{root, TasksCPUShares}, {sys, SystemCPUShares}} {
		file := filepath.Join("/sys/fs/cgroup/cpu", c.path, "cpu.shares")
		want := c.shares
		if cgroups.IsCgroup2UnifiedMode() {
			file, want = filepath.Join("/sys/fs/cgroup", c.path, "cpu.weight"), CPUWeight(c.shares)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); got != want {
			t.Errorf("%s: weight %d, want %d", c.path, got, want)
		}
	}
	cg, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(sleeper.Process.Pid), "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cg), ":"+sys+"\n") {
		t.Errorf("process cgroups:\n%s\nnone is %s", cg, sys)
	}
}
