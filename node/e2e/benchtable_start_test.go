package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"nodectl/cluster/api"
)

// benchTaskStart: task start (master STAGING→RUNNING of a command task and
// of a busybox image task) and `nodectl execute --detach` end to end,
// against Debian's `runc run -d` and in-process libcontainer create+start
// of the same busybox `sleep`, interleaved round by round. Every container
// stays up until the figure ends (as the node's tasks do).
func benchTaskStart(t *testing.T, tab *benchTable, rounds int) {
	n := newNode(t)
	t.Cleanup(func() { unmountUnder(n.dir) })
	start(t, n.args("all", "--quiet", "--resources", "cpus:16;mem:16384;disk:1024;ports:[31000-31100]")...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, n.url()); return len(s) == 1 && s[0].Active })
	tgz := busyboxTarball(t)
	if out, err := exec.Command(bin, "image", "import", "--work-dir", n.dir, tgz, "bench/busybox:1").CombinedOutput(); err != nil {
		t.Fatalf("image import: %v\n%s", err, out)
	}
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "-C", rootfs, "-xzf", tgz).CombinedOutput(); err != nil {
		t.Fatalf("untar rootfs: %v\n%s", err, out)
	}
	runc, runcErr := newRuncBaseline(t, rootfs)
	floor, floorErr := startFloor(t, rootfs)
	res, err := api.ParseResources("cpus:0.01;mem:8")
	if err != nil {
		t.Fatal(err)
	}
	base := 50000 + int(time.Now().UnixNano()%1000)*100 // unique `sleep` arguments
	var cmdLat, imgLat, execLat, runcLat, floorLat []float64
	for i := range rounds {
		if runcErr == nil {
			ms, err := runc.run(fmt.Sprintf("nb-%d-%d", os.Getpid(), i))
			if err != nil {
				t.Fatal(err)
			}
			runcLat = append(runcLat, ms)
		}
		if floorErr == nil {
			ms, err := floor.start(fmt.Sprintf("floor%d", i))
			if err != nil {
				t.Fatal(err)
			}
			floorLat = append(floorLat, ms)
		}
		cmd := api.TaskInfo{Name: fmt.Sprintf("cmd%d", i), TaskID: api.ID{Value: fmt.Sprintf("cmd%d", i)}, Resources: res,
			Command: &api.CommandInfo{Shell: new(bool), Value: "sleep", Arguments: []string{"sleep", strconv.Itoa(base + i)}}}
		launchAll(t, n.url(), []api.TaskInfo{cmd}, 60*time.Second)
		staging, running := statusTimes(t, n.url(), cmd.TaskID.Value)
		cmdLat = append(cmdLat, (running-staging)*1000)

		img := api.TaskInfo{Name: fmt.Sprintf("img%d", i), TaskID: api.ID{Value: fmt.Sprintf("img%d", i)}, Resources: res,
			Command: &api.CommandInfo{Shell: new(bool), Value: "sleep", Arguments: []string{"sleep", "3600"}},
			Container: &api.ContainerInfo{Type: "MESOS", Mesos: &api.MesosContainer{Image: &api.Image{Type: "DOCKER",
				Docker: &api.DockerImage{Name: "bench/busybox:1"}}}}}
		launchAll(t, n.url(), []api.TaskInfo{img}, 60*time.Second)
		staging, running = statusTimes(t, n.url(), img.TaskID.Value)
		imgLat = append(imgLat, (running-staging)*1000)

		x := exec.Command(bin, "execute", "--master", "127.0.0.1:"+strconv.Itoa(n.port), "--name", fmt.Sprintf("exec%d", i),
			"--resources", "cpus:0.01;mem:32", "--detach", "-q", "--", "sleep", strconv.Itoa(base+rounds+i))
		x.Env = cliEnv(n.port)
		t0 := time.Now()
		if out, err := x.CombinedOutput(); err != nil {
			t.Fatalf("nodectl execute --detach: %v\n%s", err, out)
		}
		execLat = append(execLat, msSince(t0))
	}
	runcName := "Debian `runc run -d`"
	if runc != nil {
		runcName += " " + runc.version
	}
	const floorName = "in-process libcontainer create+start (floorbench)"
	tab.add("task start STAGING→RUNNING (master /state), command task", "ms", cmdLat, runcName, runcLat, runcErr, ratioGoal(0.75, "≤ 0.75× runc"), "")
	tab.add("task start STAGING→RUNNING (master /state), command task", "ms", cmdLat, floorName, floorLat, floorErr, ratioGoal(1.5, "≤ 1.5× the floor"), "")
	tab.add("task start STAGING→RUNNING (master /state), image task", "ms", imgLat, runcName, runcLat, runcErr, ratioGoal(0.75, "≤ 0.75× runc"), "")
	tab.add("task start STAGING→RUNNING (master /state), image task", "ms", imgLat, floorName, floorLat, floorErr, ratioGoal(1.5, "≤ 1.5× the floor"), "")
	tab.add("`nodectl execute --detach` end to end (CLI start-up included)", "ms", execLat, runcName, runcLat, runcErr, ratioGoal(1.5, "≤ 1.5× runc"), "")
}

// runcBaseline runs `runc run -d` of a busybox `sleep 3600` bundle (no
// network namespace, like a host-network task), timed from exec to exit.
type runcBaseline struct {
	root, bundle, version string
	ids                   []string
}

func newRuncBaseline(t *testing.T, rootfs string) (*runcBaseline, error) {
	path, err := exec.LookPath("runc")
	if err != nil {
		return nil, errors.New("runc is not installed (make bench installs Debian's runc)")
	}
	v, _ := exec.Command(path, "--version").Output()
	version, _, _ := strings.Cut(string(v), "\n")
	r := &runcBaseline{root: filepath.Join(t.TempDir(), "runc-root"), bundle: filepath.Join(t.TempDir(), "bundle"),
		version: strings.TrimPrefix(strings.TrimSpace(version), "runc version ")}
	if err := os.MkdirAll(r.bundle, 0o755); err != nil {
		return nil, err
	}
	spec := exec.Command(path, "spec")
	spec.Dir = r.bundle
	if out, err := spec.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("runc spec: %w: %s", err, out)
	}
	var cfg map[string]any
	body, err := os.ReadFile(filepath.Join(r.bundle, "config.json"))
	if err == nil {
		err = json.Unmarshal(body, &cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("runc spec: %w", err)
	}
	cfg["root"] = map[string]any{"path": rootfs, "readonly": true}
	proc := cfg["process"].(map[string]any)
	proc["args"], proc["terminal"] = []string{"sleep", "3600"}, false
	linux := cfg["linux"].(map[string]any)
	var ns []any
	for _, n := range linux["namespaces"].([]any) {
		if n.(map[string]any)["type"] != "network" {
			ns = append(ns, n)
		}
	}
	linux["namespaces"] = ns
	body, _ = json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(r.bundle, "config.json"), body, 0o644); err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		for _, id := range r.ids {
			_ = exec.Command("runc", "--root", r.root, "kill", id, "KILL").Run()
		}
		for _, id := range r.ids {
			// delete -f waits for the killed container and removes its cgroup.
			_ = exec.Command("runc", "--root", r.root, "delete", "-f", id).Run()
		}
	})
	return r, nil
}

// run times `runc run -d` of container id (ms).
func (r *runcBaseline) run(id string) (float64, error) {
	cmd := exec.Command("runc", "--root", r.root, "run", "-d", "--bundle", r.bundle, id)
	r.ids = append(r.ids, id)
	// A file, not a pipe: the detached container inherits runc's stdio,
	// and Run would wait for a pipe's end as long as the container lives.
	errFile, err := os.CreateTemp(r.bundle, "stderr")
	if err != nil {
		return 0, err
	}
	defer os.Remove(errFile.Name())
	defer errFile.Close()
	cmd.Stderr = errFile
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		msg, _ := os.ReadFile(errFile.Name())
		return 0, fmt.Errorf("runc run -d %s: %w: %s", id, err, msg)
	}
	return msSince(t0), nil
}

// floorProc is a running floorbench (runtime/internal/container/floorbench).
type floorProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

// startFloor builds and starts floorbench; an error says why the floor is
// unavailable.
func startFloor(t *testing.T, rootfs string) (*floorProc, error) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "floorbench")
	build := exec.Command("go", "build", "-tags", "nodectlbench", "-o", exe, "nodectl/runtime/internal/container/floorbench")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build floorbench: %w: %s", err, out)
	}
	cgroup := "/nodectl-bench-floor-" + strconv.Itoa(os.Getpid())
	cmd := exec.Command(exe, "-rootfs", rootfs, "-root", filepath.Join(dir, "root"), "-cgroup-parent", cgroup)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	f := &floorProc{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	t.Cleanup(func() {
		_, _ = io.WriteString(in, "quit\n")
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
		}
		removeCgroup(cgroup)
	})
	return f, nil
}

// start times one in-process create+start (ms).
func (f *floorProc) start(id string) (float64, error) {
	if _, err := io.WriteString(f.in, "start "+id+"\n"); err != nil {
		return 0, err
	}
	if !f.out.Scan() {
		return 0, fmt.Errorf("floorbench exited: %v", f.out.Err())
	}
	line := f.out.Text()
	us, ok := strings.CutPrefix(line, "ok ")
	if !ok {
		return 0, fmt.Errorf("floorbench: %s", line)
	}
	v, err := strconv.ParseFloat(us, 64)
	return v / 1000, err
}

// removeCgroup removes an (empty by now) cgroup directory tree in every
// hierarchy, deepest first.
func removeCgroup(path string) {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*" + path)
	roots = append(roots, "/sys/fs/cgroup"+path)
	for _, r := range roots {
		var dirs []string
		_ = filepath.WalkDir(r, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = syscall.Rmdir(dirs[i])
		}
	}
}
