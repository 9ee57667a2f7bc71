package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testNodes is the work dir of every node the tests made (newNode), so the
// suite can check, once every test has cleaned up, that none of them left
// a process, a mount or a cgroup behind (issue 16: tasks outlive their node
// by design, so every test must end its own).
var testNodes struct {
	sync.Mutex
	dirs []string
}

func registerNode(dir string) {
	testNodes.Lock()
	testNodes.dirs = append(testNodes.dirs, dir)
	testNodes.Unlock()
}

// leftovers lists what the tests' nodes left behind: processes whose
// command line or working directory is in a node's work dir, mounts
// beneath one, and the nodes' cgroups. It waits up to a deadline for
// processes and cgroups the kernel is still tearing down.
func leftovers() []string {
	testNodes.Lock()
	dirs := slices.Clone(testNodes.dirs)
	testNodes.Unlock()
	if len(dirs) == 0 {
		return nil
	}
	var found []string
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond) // polling for exits the kernel has not finished
	defer tick.Stop()
	for {
		found = scanLeftovers(dirs)
		if len(found) == 0 || time.Now().After(deadline) {
			return found
		}
		<-tick.C
	}
}

func scanLeftovers(dirs []string) []string {
	in := func(p string) string {
		for _, d := range dirs {
			if p == d || strings.HasPrefix(p, d+"/") {
				return d
			}
		}
		return ""
	}
	var found []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	self := fmt.Sprintf("/proc/%d", os.Getpid())
	for _, p := range procs {
		if p == self {
			continue
		}
		b, err := os.ReadFile(p + "/cmdline")
		if err != nil || len(b) == 0 {
			continue // gone, or a zombie or kernel thread
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		hit := ""
		for _, a := range args {
			if hit = in(a); hit != "" {
				break
			}
		}
		if cwd, err := os.Readlink(p + "/cwd"); err == nil && hit == "" {
			hit = in(cwd)
		}
		if hit != "" && running(atoiPid(p)) {
			found = append(found, fmt.Sprintf("process %s (%s) of node %s", filepath.Base(p), strings.Join(args, " "), hit))
		}
	}
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 4 {
				if d := in(fields[4]); d != "" {
					found = append(found, "mount "+fields[4])
				}
			}
		}
		f.Close()
	}
	for _, d := range dirs {
		root := node{dir: d}.cgroupsRoot()
		cgs, _ := filepath.Glob("/sys/fs/cgroup/*/" + root)
		if _, err := os.Stat("/sys/fs/cgroup/" + root); err == nil {
			cgs = append(cgs, "/sys/fs/cgroup/"+root)
		}
		for _, cg := range cgs {
			found = append(found, fmt.Sprintf("cgroup %s of node %s", cg, d))
		}
	}
	return found
}

func atoiPid(p string) int {
	var pid int
	fmt.Sscanf(filepath.Base(p), "%d", &pid)
	return pid
}

// TestLeftoversSeen: the suite's end-of-run check does see a process left
// in a node's work dir (and nothing once it is gone).
func TestLeftoversSeen(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("sleep", "600")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := scanLeftovers([]string{dir})
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if len(found) != 1 || !strings.Contains(found[0], "sleep 600") {
		t.Errorf("a sleep in the work dir: found %q, want it", found)
	}
	if found := scanLeftovers([]string{dir}); len(found) != 0 {
		t.Errorf("after it ended: found %q", found)
	}
}
