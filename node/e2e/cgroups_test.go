package e2e

import (
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cpuCgroupOf is pid's cgroup in the cpu hierarchy (v1) or the unified one.
func cpuCgroupOf(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	return cpuCgroupIn(string(b))
}

func cpuCgroupIn(procCgroup string) string {
	unified := ""
	for _, line := range strings.Split(procCgroup, "\n") {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" {
			unified = parts[2]
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "cpu" {
				return parts[2]
			}
		}
	}
	return unified
}

// cgroupCPUWeight reads a cgroup's cpu.shares (v1) or cpu.weight (v2).
func cgroupCPUWeight(t *testing.T, path string) (file string, v int) {
	t.Helper()
	file = filepath.Join("/sys/fs/cgroup/cpu", path, "cpu.shares")
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		file = filepath.Join("/sys/fs/cgroup", path, "cpu.weight")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	v, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return file, v
}

// An agent node runs in its own cgroup, which outweighs the parent of its
// tasks' containers; it advertises the detected resources less its
// reservation and shows the reservation in /state (docs/runtime.md
// "Protected control-plane capacity").
func TestProtectedControlPlane(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for cgroups")
	}
	n := newNode(t)
	p := start(t, n.args("all")...)
	waitFor(t, 30*time.Second, "agent active", func() bool {
		s := slaves(t, n.url())
		return len(s) == 1 && s[0].Active
	})
	root := "/" + n.cgroupsRoot()
	system, containers := root+"-system", root+"/containers" // siblings: runtime.SystemCgroup
	if got := cpuCgroupOf(p.cmd.Process.Pid); got != system {
		t.Errorf("nodectl runs in cpu cgroup %q, want %q", got, system)
	}
	sf, sw := cgroupCPUWeight(t, system)
	tf, tw := cgroupCPUWeight(t, containers)
	if sw <= tw {
		t.Errorf("%s = %d is not above %s = %d", sf, sw, tf, tw)
	}
	if strings.HasSuffix(sf, "cpu.shares") && (sw != 8192 || tw != 1024) {
		t.Errorf("cpu.shares: system %d, containers %d; want 8192, 1024", sw, tw)
	}
	// Against processes outside the node, the tasks' side weighs as much
	// as the tasks, not nodectl's weight too.
	if rf, rw := cgroupCPUWeight(t, root); rw != tw {
		t.Errorf("%s = %d, want the tasks' %d", rf, rw, tw)
	}

	wantCPUs := max(0.5, float64(goruntime.NumCPU())*0.05)
	var ast struct {
		Resources      map[string]any    `json:"resources"`
		SystemReserved map[string]any    `json:"system_reserved_resources"`
		Flags          map[string]string `json:"flags"`
	}
	if err := getJSON(n.agentURL()+"/state", &ast); err != nil {
		t.Fatal(err)
	}
	if ast.SystemReserved["cpus"] != wantCPUs || ast.Resources["cpus"] != float64(goruntime.NumCPU())-wantCPUs {
		t.Errorf("agent /state: resources %v, system_reserved_resources %v; want %v cpus reserved of %d", ast.Resources, ast.SystemReserved, wantCPUs, goruntime.NumCPU())
	}
	if !strings.Contains(ast.Flags["reserved-resources"], "cpus:") {
		t.Errorf("agent /state flags: reserved-resources %q", ast.Flags["reserved-resources"])
	}
	var mst struct {
		Slaves []struct {
			SystemReserved map[string]any `json:"system_reserved_resources"`
		} `json:"slaves"`
	}
	if err := getJSON(n.url()+"/state", &mst); err != nil || len(mst.Slaves) != 1 || mst.Slaves[0].SystemReserved["cpus"] != wantCPUs {
		t.Errorf("master /state slaves: %v %+v", err, mst.Slaves)
	}

	out, code := execute(t, n.port, "--name", "cg", "--resources", "cpus:0.1;mem:32", "--", "cat", "/proc/self/cgroup")
	if code != 0 {
		t.Fatalf("execute: exit %d\n%s", code, out)
	}
	stdout := findFile(n.dir, "stdout", containers+"/")
	if stdout == "" {
		t.Fatalf("no task stdout shows a cgroup under %s", containers)
	}
	b, _ := os.ReadFile(stdout)
	if got := cpuCgroupIn(string(b)); !strings.HasPrefix(got, containers+"/") {
		t.Errorf("task's cpu cgroup %q is not under %s", got, containers)
	}
}
