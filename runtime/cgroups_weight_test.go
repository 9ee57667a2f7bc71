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

	"nodectl/runtime/internal/container"
	"nodectl/runtime/internal/container/containertest"
)

// The node's root cgroup weighs its children's sum against processes
// outside the node: with the default weight the whole node (control plane
// included) counted as one busy loop beside them.
func TestJoinSystemCgroupWeighsTheNode(t *testing.T) {
	containertest.RequireRoot(t)
	root := containertest.CgroupParent(t)
	sleeper := exec.Command("sleep", "1000")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if !JoinSystemCgroup(strings.TrimPrefix(root, "/"), 0, sleeper.Process.Pid, log) {
		t.Fatal("the process did not move into the system cgroup")
	}
	for _, c := range []struct {
		path   string
		shares uint64
	}{{root, container.NodeCPUShares}, {SystemCgroup(root), SystemCPUShares}} {
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
}
