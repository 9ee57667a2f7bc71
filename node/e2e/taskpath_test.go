package e2e

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// busyboxTar writes a gzipped rootfs tarball of busybox-static with a few
// applet links, like `docker import` input.
func busyboxTar(t testing.TB) string {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox-static is not installed (make deps installs it)")
	}
	body, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "busybox.tgz")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	for _, d := range []string{"bin/", "tmp/", "proc/", "sys/", "dev/", "etc/"} {
		must(t, tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}))
	}
	must(t, tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(body))}))
	_, err = tw.Write(body)
	must(t, err)
	for _, app := range []string{"sh", "echo", "cat", "sleep", "ls", "env", "head", "dd"} {
		must(t, tw.WriteHeader(&tar.Header{Name: "bin/" + app, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}))
	}
	must(t, tw.Close())
	must(t, gz.Close())
	must(t, f.Close())
	return out
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// execute runs `nodectl execute` against a master and returns its output
// and exit code.
func execute(t *testing.T, master int, args ...string) (string, int) {
	t.Helper()
	full := append([]string{"execute", "--master", "127.0.0.1:" + strconv.Itoa(master)}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Env = cliEnv(master)
	out, err := cmd.CombinedOutput()

	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("execute %v: %v", args, err)
	}
	return string(out), code
}

// findFile returns the first file named name under dir whose content
// contains want.
func findFile(dir, name, want string) string {
	var found string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || found != "" || d.IsDir() || d.Name() != name {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), want) {
			found = p
		}
		return nil
	})
	return found
}

// A task runs end to end: transitions printed, exit codes passed through,
// output in the sandbox stdout with runs/latest pointing at the run.
func TestExecute(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := newNode(t)
	start(t, n.args("all", "--resources", "cpus:2;mem:2048;disk:1024;ports:[31000-31100]")...)
	waitFor(t, 30*time.Second, "agent active", func() bool {
		s := slaves(t, n.url())
		return len(s) == 1 && s[0].Active
	})

	out, code := execute(t, n.port, "--name", "hi", "--", "echo", "hello-from-task")
	if code != 0 || !strings.Contains(out, "TASK_RUNNING") || !strings.Contains(out, "TASK_FINISHED") {
		t.Fatalf("execute echo: exit %d, output:\n%s", code, out)
	}
	stdout := findFile(n.dir, "stdout", "hello-from-task")
	if stdout == "" {
		t.Fatalf("no sandbox stdout holds the output under %s", n.dir)
	}
	run := filepath.Dir(stdout)
	if latest, err := os.Readlink(filepath.Join(filepath.Dir(run), "latest")); err != nil || latest != filepath.Base(run) {
		t.Errorf("runs/latest -> %q (%v), want %q", latest, err, filepath.Base(run))
	}
	if !strings.Contains(run, filepath.Join("slaves")) || !strings.Contains(run, "/frameworks/") || !strings.Contains(run, "/executors/") {
		t.Errorf("sandbox %s is not in the Mesos layout", run)
	}

	out, code = execute(t, n.port, "--name", "three", "--", "sh", "-c", "exit 3")
	if code != 3 || !strings.Contains(out, "TASK_FAILED") {
		t.Errorf("execute 'exit 3': exit %d, output:\n%s", code, out)
	}

	out, code = execute(t, n.port, "--name", "huge", "--resources", "cpus:100000;mem:32", "--", "true")
	if code == 0 || !strings.Contains(strings.ToLower(out), "cpus") {
		t.Errorf("a task asking 100000 cpus: exit %d, output:\n%s", code, out)
	}
}

// An image task runs in the imported busybox rootfs, sandbox at
// /mnt/mesos/sandbox; an OOM kill is reported with the memory reason.
func TestExecuteImageAndLimits(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := newNode(t)
	start(t, n.args("all", "--resources", "cpus:2;mem:2048;disk:1024;ports:[31000-31100]")...)
	waitFor(t, 30*time.Second, "agent active", func() bool {
		s := slaves(t, n.url())
		return len(s) == 1 && s[0].Active
	})
	imp := exec.Command(bin, "image", "import", "--work-dir", n.dir, busyboxTar(t), "test/busybox:1")
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("image import: %v\n%s", err, out)
	}
	out, code := execute(t, n.port, "--name", "img", "--image", "test/busybox:1", "--", "sh", "-c", "echo in-image $MESOS_SANDBOX; ls /bin/busybox")
	if code != 0 {
		t.Fatalf("execute --image: exit %d, output:\n%s", code, out)
	}
	if findFile(n.dir, "stdout", "in-image /mnt/mesos/sandbox") == "" {
		t.Errorf("image task output not in a sandbox stdout")
	}

	out, code = execute(t, n.port, "--name", "hog", "--resources", "cpus:0.5;mem:16", "--", "sh", "-c", "head -c 200000000 /dev/zero | tail > /dev/null")
	if code == 0 || !strings.Contains(out, "TASK_FAILED") {
		t.Errorf("memory hog: exit %d, output:\n%s", code, out)
	}
	if !strings.Contains(out, "REASON_CONTAINER_LIMITATION_MEMORY") && !strings.Contains(strings.ToLower(out), "memory") {
		t.Errorf("memory hog not reported as an OOM kill:\n%s", out)
	}
}

// A detached task shows up in /monitor/statistics with its cgroup figures
// and is ended by `nodectl task kill`.
func TestDetachStatisticsAndKill(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := newNode(t)
	start(t, n.args("all", "--resources", "cpus:2;mem:2048;disk:1024;ports:[31000-31100]", "--cgroups_enable_cfs")...)
	waitFor(t, 30*time.Second, "agent active", func() bool {
		s := slaves(t, n.url())
		return len(s) == 1 && s[0].Active
	})
	out, code := execute(t, n.port, "--name", "spin", "--detach", "--resources", "cpus:0.1;mem:32", "--", "sh", "-c", "while :; do :; done")
	if code != 0 {
		t.Fatalf("execute --detach: exit %d\n%s", code, out)
	}
	taskID := strings.TrimSpace(lastLine(out))
	var stats []struct {
		Source     string         `json:"source"`
		Statistics map[string]any `json:"statistics"`
	}
	waitFor(t, 30*time.Second, "throttled cpu in /monitor/statistics", func() bool {
		if getJSON(n.agentURL()+"/monitor/statistics", &stats) != nil {
			return false
		}
		for _, s := range stats {
			if s.Source == taskID {
				thr, _ := s.Statistics["cpus_nr_throttled"].(float64)
				lim, _ := s.Statistics["cpus_limit"].(float64)
				return thr > 0 && lim > 0.09 && lim < 0.11
			}
		}
		return false
	})
	// The same container in Mesos' agent /containers, with its status.
	var ctrs []struct {
		ContainerID string `json:"container_id"`
		Source      string `json:"source"`
		Status      struct {
			ExecutorPid int `json:"executor_pid"`
		} `json:"status"`
	}
	if err := getJSON(n.agentURL()+"/containers", &ctrs); err != nil || len(ctrs) != 1 || ctrs[0].Source != taskID || ctrs[0].ContainerID == "" || ctrs[0].Status.ExecutorPid <= 0 {
		t.Errorf("agent /containers: %v %+v", err, ctrs)
	}
	var ver, sys map[string]any
	if err := getJSON(n.agentURL()+"/version", &ver); err != nil || ver["version"] == "" || ver["nodectl_version"] == nil {
		t.Errorf("agent /version: %v %v", err, ver)
	}
	for _, u := range []string{n.agentURL(), n.url()} {
		sys = nil
		err := getJSON(u+"/system/stats.json", &sys)
		if cpus, _ := sys["cpus_total"].(float64); err != nil || cpus < 1 {
			t.Errorf("%s/system/stats.json: %v %v", u, err, sys)
		}
	}
	kill := exec.Command(bin, "task", "kill", "--master", "127.0.0.1:"+strconv.Itoa(n.port), taskID)
	kill.Env = cliEnv(n.port)
	if out, err := kill.CombinedOutput(); err != nil {
		t.Fatalf("task kill: %v\n%s", err, out)
	}
	waitFor(t, 30*time.Second, "task killed", func() bool {
		var tasks struct {
			Tasks []struct {
				ID    string `json:"id"`
				State string `json:"state"`
			} `json:"tasks"`
		}
		if getJSON(n.url()+"/tasks", &tasks) != nil {
			return false
		}
		for _, tk := range tasks.Tasks {
			if tk.ID == taskID {
				return tk.State == "TASK_KILLED"
			}
		}
		return false
	})
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
