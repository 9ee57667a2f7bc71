package container_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"nodectl/runtime/internal/container"
	"nodectl/runtime/internal/container/containertest"
)

// escapePidsLimit is the pids limit of the containers the escape probe runs
// in; the probe tries to fork past it.
const escapePidsLimit = 32

// escapeEnv is a work dir laid out like an agent's (outside /tmp, which
// tasks get a private copy of) with the node's secrets in it, hidden from
// tasks, a driver rooted in it and the built escape probe.
type escapeEnv struct {
	*env
	work    string
	secrets []string
	probe   []byte
	// reads and hostWrites are the probe's read= and write= targets.
	reads      []string
	hostWrites []string
}

func newEscapeEnv(t *testing.T) *escapeEnv {
	t.Helper()
	containertest.RequireRoot(t)
	work, err := os.MkdirTemp("/var/lib", "nodectl-escape-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	x := &escapeEnv{
		work: work,
		secrets: []string{
			"pki/cluster.secret", "pki/ca.key.sealed", "admin.secret", "etcd/member/snap/db",
			"agent.db", "bin/nodectl-shim", "slaves/s1/frameworks/f/executors/other/runs/r/stdout",
		},
		reads:      []string{"/etc/shadow", "/etc/gshadow", "/root", filepath.Join(work, "runtime")},
		hostWrites: []string{"/etc/nodectl-escape", "/usr/nodectl-escape", filepath.Join(work, "bin/escape"), filepath.Join(work, "escape")},
	}
	for _, s := range x.secrets {
		p := filepath.Join(work, s)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("secret\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		x.reads = append(x.reads, p)
	}
	x.probe, err = os.ReadFile(containertest.BuildEscapeProbe(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	cfg := container.Config{
		Root:         filepath.Join(work, "runtime"),
		ShimPath:     shimPath,
		CgroupParent: containertest.CgroupParent(t),
		HiddenPaths:  []string{work},
	}
	d, err := container.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	x.env = &env{cfg: cfg, d: d}
	return x
}

// escapeCase is a kind of task the probe runs in.
type escapeCase struct {
	name   string
	rootfs string
	// writes are attempts that must fail inside the task; image tasks
	// write their own rootfs freely, so only the host is checked after.
	writes bool
}

func escapeCases(t *testing.T) []escapeCase {
	return []escapeCase{
		{"command task", "", true},
		{"image task", containertest.BusyboxRootfs(t), false},
	}
}

// spec returns the spec of tc's task with id, its sandbox under the work
// dir holding the probe, and the probe's command line as seen inside it.
func (x *escapeEnv) spec(t *testing.T, id string, tc escapeCase) (container.Spec, []string) {
	t.Helper()
	sandbox := filepath.Join(x.work, "slaves/s1/frameworks/f/executors", id, "runs/r")
	if err := os.MkdirAll(sandbox, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sandbox, "escapeprobe"), x.probe, 0o755); err != nil {
		t.Fatal(err)
	}
	target := sandbox
	if tc.rootfs != "" {
		target = container.DefaultSandboxTarget
	}
	cmd := []string{filepath.Join(target, "escapeprobe"), strconv.Itoa(escapePidsLimit)}
	for _, r := range x.reads {
		cmd = append(cmd, "read="+r)
	}
	if tc.writes {
		for _, w := range x.hostWrites {
			cmd = append(cmd, "write="+w)
		}
	}
	spec := container.Spec{ID: "escape-" + id, Rootfs: tc.rootfs, SandboxDir: sandbox, PidsLimit: escapePidsLimit}
	return spec, cmd
}

// check fails on every attempt the probe's output reports as ESCAPED, on
// too few attempts reported, on anything the probe created on the host,
// and on a sandbox the probe could not write. diag tells what else to show.
func (x *escapeEnv) check(t *testing.T, sandbox, out string, diag func() string) {
	t.Helper()
	var probes int
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		probes++
		if strings.Contains(line, " ESCAPED") {
			t.Errorf("escaped: %s", line)
		} else {
			t.Logf("%s", line)
		}
	}
	if probes < 20 {
		t.Errorf("only %d probes reported; output:\n%s\n%s", probes, out, diag())
	}
	for _, w := range x.hostWrites {
		if _, err := os.Stat(w); err == nil {
			os.Remove(w)
			t.Errorf("the task created %s on the host", w)
		}
	}
	// The task's own sandbox stays writable under the hidden work dir.
	if _, err := os.Stat(filepath.Join(sandbox, "probe-was-here")); err != nil {
		t.Errorf("sandbox: %v", err)
	}
}

// TestEscape runs the escape probe as a command task and as an image task
// and fails on any attempt that succeeds: reading the node's secrets,
// writing the host, mounting, devices, namespaces, keys, ptrace, modules,
// rlimits, the pids limit, seccomp and no_new_privs.
func TestEscape(t *testing.T) {
	x := newEscapeEnv(t)
	for _, tc := range escapeCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			spec, cmd := x.spec(t, strings.ReplaceAll(tc.name, " ", "-"), tc)
			spec.Args = cmd
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := x.d.Start(ctx, spec)
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			t.Cleanup(func() { destroy(t, x.d, spec.ID) })
			stderr := func() string { return "stderr:\n" + containertest.ReadFile(sandboxFile(spec, "stderr")) }
			if ex := wait(t, c); ex.Code != 0 {
				t.Errorf("probe exit %+v; %s", ex, stderr())
			}
			x.check(t, spec.SandboxDir, containertest.ReadFile(sandboxFile(spec, "stdout")), stderr)
		})
	}
}

// TestEscapeExec runs the same probe the way a COMMAND health check runs:
// exec'd by (*Container).Exec into a running command task and a running
// image task. The exec'd process must be no less boxed than the task.
func TestEscapeExec(t *testing.T) {
	x := newEscapeEnv(t)
	for _, tc := range escapeCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			spec, cmd := x.spec(t, "exec-"+strings.ReplaceAll(tc.name, " ", "-"), tc)
			spec.Args = []string{"sleep", "3600"}
			c := x.start(t, spec)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			ex, b, err := c.Exec(ctx, container.ExecSpec{Args: cmd})
			out := string(b)
			if err != nil {
				t.Fatalf("exec: %v; output:\n%s", err, out)
			}
			if ex.Code != 0 || ex.Signal != 0 {
				t.Errorf("probe exit %+v; output:\n%s", ex, out)
			}
			// Exec keeps only the output's tail: all of it must have fit.
			if len(b) >= container.ExecOutputLimit {
				t.Errorf("probe output %d bytes, Exec keeps %d: attempts may be cut off", len(b), container.ExecOutputLimit)
			}
			x.check(t, spec.SandboxDir, out, func() string { return "" })
			if st, err := c.Status(); err != nil || st != container.Running {
				t.Errorf("task after the probe: %v %v", st, err)
			}
		})
	}
}
