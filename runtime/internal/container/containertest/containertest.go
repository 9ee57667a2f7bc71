// Package containertest helps tests that run real containers: it builds the
// nodectl-shim, builds a tiny busybox root filesystem, and gives each test its
// own driver root and cgroup parent that are removed afterwards.
//
// Tests importing it need root. It must only be imported from _test.go files
// and must not import package container (so container's own tests can use it).
package containertest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ShimPackage is the shim program's package.
const ShimPackage = "nodectl/runtime/internal/container/shim"

// ShimBuildFlags are the flags the Makefile uses for the shipped shim: cgo
// (libcontainer's nsenter needs it), pure-Go DNS and user lookups, static.
var ShimBuildFlags = []string{
	"-tags", "netgo,osusergo,seccomp",
	"-trimpath",
	"-ldflags", "-s -w -linkmode external -extldflags -static",
}

// MonitorCompiler and MonitorCFlags build the monitor, a C program, as the
// Makefile does: static with musl (Debian: musl-tools).
var (
	MonitorCompiler = "musl-gcc"
	MonitorCFlags   = []string{"-static", "-O2", "-s", "-Wall", "-Wextra", "-Werror"}
)

// MonitorSource is the monitor's C source, found from this file's own path.
func MonitorSource() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "monitor", "monitor.c")
}

// SeccompHelperSource is the seccomp helper's C source (built like the
// monitor).
func SeccompHelperSource() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "seccompexec", "seccompexec.c")
}

// BuildShim builds nodectl-shim and, next to it, nodectl-monitor and
// nodectl-seccomp into dir and returns the shim's path (the driver finds
// the others beside it). It
// is meant for TestMain (no testing.TB there); the go build cache makes
// repeated builds cheap.
func BuildShim(dir string) (string, error) {
	args := append([]string{"build", "-o", filepath.Join(dir, "nodectl-shim")}, ShimBuildFlags...)
	cmd := exec.Command("go", append(args, ShimPackage)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build nodectl-shim: %w\n%s", err, out)
	}
	if err := BuildMonitor(filepath.Join(dir, "nodectl-monitor")); err != nil {
		return "", err
	}
	if err := BuildSeccompHelper(filepath.Join(dir, "nodectl-seccomp")); err != nil {
		return "", err
	}
	return filepath.Join(dir, "nodectl-shim"), nil
}

// BuildSeccompHelper compiles the seccomp helper into out.
func BuildSeccompHelper(out string) error {
	args := append(append([]string{}, MonitorCFlags...), "-o", out, SeccompHelperSource())
	if b, err := exec.Command(MonitorCompiler, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("build nodectl-seccomp (%s, Debian package musl-tools): %w\n%s", MonitorCompiler, err, b)
	}
	return nil
}

// BuildMonitor compiles the monitor into out.
func BuildMonitor(out string) error {
	args := append(append([]string{}, MonitorCFlags...), "-o", out, MonitorSource())
	if b, err := exec.Command(MonitorCompiler, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("build nodectl-monitor (%s, Debian package musl-tools): %w\n%s", MonitorCompiler, err, b)
	}
	return nil
}

// RequireRoot skips the test unless it runs as root.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root to run containers")
	}
}

// BusyboxPath finds a statically linked busybox (Debian: busybox-static).
func BusyboxPath() (string, error) {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("busybox not found: apt-get install -y busybox-static")
}

var (
	rootfsOnce sync.Once
	rootfsDir  string
	rootfsErr  error
)

// BusyboxRootfs returns a read-only-by-convention root filesystem with a
// static busybox and its applet symlinks in /bin, shared by all tests of the
// process (containers must not write to it: use the sandbox or a tmpfs). It
// is built once per process in a temp dir removed by RemoveShared.
func BusyboxRootfs(tb testing.TB) string {
	tb.Helper()
	rootfsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nodectl-rootfs-")
		if err != nil {
			rootfsErr = err
			return
		}
		rootfsDir = dir
		rootfsErr = BuildBusyboxRootfs(dir)
	})
	if rootfsErr != nil {
		tb.Skipf("busybox rootfs: %v", rootfsErr)
	}
	return rootfsDir
}

// RemoveShared removes the shared rootfs; call it at the end of TestMain.
func RemoveShared() {
	if rootfsDir != "" {
		os.RemoveAll(rootfsDir)
	}
}

// BuildBusyboxRootfs fills dir with bin/busybox, a symlink per applet, and
// the empty directories a container root needs.
func BuildBusyboxRootfs(dir string) error {
	bb, err := BusyboxPath()
	if err != nil {
		return err
	}
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp", "etc", "mnt/mesos/sandbox", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	b, err := os.ReadFile(bb)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), b, 0o755); err != nil {
		return err
	}
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// CgroupParent returns a cgroup parent unique to this test process, and
// registers removal of its (by then empty) directories in every hierarchy.
func CgroupParent(tb testing.TB) string {
	tb.Helper()
	name := "/nodectl-test-" + strconv.Itoa(os.Getpid()) + "-" + sanitize(tb.Name())
	tb.Cleanup(func() { RemoveCgroup(name) })
	return name
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
}

// CgroupExists reports whether the cgroup path exists in any hierarchy.
func CgroupExists(path string) bool {
	for _, r := range cgroupRoots() {
		if _, err := os.Stat(filepath.Join(r, path)); err == nil {
			return true
		}
	}
	return false
}

func cgroupRoots() []string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup"}
	}
	var roots []string
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range ents {
		roots = append(roots, filepath.Join("/sys/fs/cgroup", e.Name()))
	}
	return roots
}

// RemoveCgroup removes the cgroup path (and empty children) in every mounted
// hierarchy, v1 or v2. Errors are ignored: it is cleanup.
func RemoveCgroup(path string) {
	for _, r := range cgroupRoots() {
		removeTree(filepath.Join(r, path))
	}
}

// removeTree rmdirs a cgroup directory bottom-up; cgroup dirs can only be
// rmdir'ed, never RemoveAll'ed (their files cannot be unlinked).
func removeTree(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.IsDir() {
			removeTree(filepath.Join(dir, e.Name()))
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) || time.Now().After(deadline) {
			return
		}
		// EBUSY while the kernel finishes tearing down exited tasks.
		time.Sleep(10 * time.Millisecond)
	}
}

// minWait is the shortest deadline Eventually gives a condition: a
// deadline only bounds a hang, and a loaded machine is slow.
const minWait = 60 * time.Second

// Eventually polls cond every 10ms until it returns true or timeout (at
// least minWait) passes, then fails the test with msg.
func Eventually(tb testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	tb.Helper()
	timeout = max(timeout, minWait)
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v: "+msg, append([]any{timeout}, args...)...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ReadFile returns the content of path, or "" if it cannot be read.
func ReadFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(bytes.TrimRight(b, "\x00"))
}

// PSS returns the proportional set size of pid in bytes, from
// /proc/<pid>/smaps_rollup.
func PSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse smaps_rollup Pss: %w", err)
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("no Pss line in smaps_rollup")
}

// EscapeProbePackage tries every way out of a task's box (isolation tests).
const EscapeProbePackage = "nodectl/runtime/internal/container/containertest/escapeprobe"

// BuildEscapeProbe builds the static escape probe into dir and returns its path.
func BuildEscapeProbe(tb testing.TB, dir string) string {
	tb.Helper()
	out := filepath.Join(dir, "escapeprobe")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, EscapeProbePackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build escape probe: %v\n%s", err, b)
	}
	return out
}
