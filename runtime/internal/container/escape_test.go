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

// TestEscape runs the escape probe as a command task and as an image task
// in a work dir laid out like an agent's (outside /tmp, which tasks get a
// private copy of), and fails on any attempt that succeeds: reading the
// node's secrets, writing the host, mounting, devices, namespaces, keys,
// ptrace, modules, rlimits, the pids limit, seccomp and no_new_privs.
func TestEscape(t *testing.T) {
	containertest.RequireRoot(t)
	work, err := os.MkdirTemp("/var/lib", "nodectl-escape-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	secrets := []string{
		"pki/cluster.secret", "pki/ca.key.sealed", "admin.secret", "etcd/member/snap/db",
		"agent.db", "bin/nodectl-shim", "slaves/s1/frameworks/f/executors/other/runs/r/stdout",
	}
	for _, s := range secrets {
		p := filepath.Join(work, s)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("secret\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	probe := containertest.BuildEscapeProbe(t, t.TempDir())
	probeBytes, err := os.ReadFile(probe)
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
	e := &env{cfg: cfg, d: d}
	const pidsLimit = 32

	args := []string{"read=/etc/shadow", "read=/etc/gshadow", "read=/root", "read=" + filepath.Join(work, "runtime")}
	for _, s := range secrets {
		args = append(args, "read="+filepath.Join(work, s))
	}
	hostWrites := []string{"/etc/nodectl-escape", "/usr/nodectl-escape", filepath.Join(work, "bin/escape"), filepath.Join(work, "escape")}
	for _, tc := range []struct {
		name   string
		rootfs string
		// writes are attempts that must fail inside the task; image tasks
		// write their own rootfs freely, so only the host is checked after.
		writes bool
	}{
		{"command task", "", true},
		{"image task", containertest.BusyboxRootfs(t), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := strings.ReplaceAll(tc.name, " ", "-")
			sandbox := filepath.Join(work, "slaves/s1/frameworks/f/executors", id, "runs/r")
			if err := os.MkdirAll(sandbox, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(sandbox, "escapeprobe"), probeBytes, 0o755); err != nil {
				t.Fatal(err)
			}
			target := sandbox
			if tc.rootfs != "" {
				target = container.DefaultSandboxTarget
			}
			cmd := []string{filepath.Join(target, "escapeprobe"), strconv.Itoa(pidsLimit)}
			cmd = append(cmd, args...)
			if tc.writes {
				for _, w := range hostWrites {
					cmd = append(cmd, "write="+w)
				}
			}
			spec := container.Spec{ID: "escape-" + id, Rootfs: tc.rootfs, SandboxDir: sandbox, Args: cmd, PidsLimit: pidsLimit}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := e.d.Start(ctx, spec)
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			t.Cleanup(func() { destroy(t, e.d, spec.ID) })
			if ex := wait(t, c); ex.Code != 0 {
				t.Errorf("probe exit %+v; stderr:\n%s", ex, containertest.ReadFile(filepath.Join(sandbox, "stderr")))
			}
			out := containertest.ReadFile(filepath.Join(sandbox, "stdout"))
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
				t.Errorf("only %d probes reported; stdout:\n%s\nstderr:\n%s", probes, out, containertest.ReadFile(filepath.Join(sandbox, "stderr")))
			}
			for _, w := range hostWrites {
				if _, err := os.Stat(w); err == nil {
					os.Remove(w)
					t.Errorf("the task created %s on the host", w)
				}
			}
			// The task's own sandbox stays writable under the hidden work dir.
			if _, err := os.Stat(filepath.Join(sandbox, "probe-was-here")); err != nil {
				t.Errorf("sandbox: %v", err)
			}
		})
	}
}
