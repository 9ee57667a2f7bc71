package container_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"nodectl/runtime/internal/container"
	"nodectl/runtime/internal/container/containertest"
)

// TestPrecompiledSeccompSameFilter: a command task's filter, compiled once
// and loaded by nodectl-seccomp, is byte for byte the one libcontainer
// loads when it compiles the profile in a container's init (the warm
// container's stub, made that way), with the same no_new_privs, one filter
// and no descriptor left to the task.
func TestPrecompiledSeccompSameFilter(t *testing.T) {
	e, work := warmEnv(t)
	c := e.start(t, warmSpec(t, work, "p1", "sleep", "30"))
	stub := warmReady(t, e.cfg.Root)

	if cfg := stateConfig(t, e.cfg.Root, "p1"); cfg["seccomp"] != nil {
		t.Fatalf("p1's libcontainer configuration has a seccomp profile: the init compiled it, not the helper")
	}
	if cfg := stateConfig(t, e.cfg.Root, "warm-"); cfg["seccomp"] == nil {
		t.Fatalf("the warm container's configuration has no seccomp profile")
	}
	if files, _ := filepath.Glob(filepath.Join(e.cfg.Root, "seccomp", "*.bpf")); len(files) != 1 {
		t.Fatalf("compiled filters in the cache: %v, want one", files)
	}
	got, want := seccompFilter(t, c.Pid()), seccompFilter(t, stub)
	if !bytes.Equal(got, want) {
		t.Fatalf("the helper loaded %d instructions, libcontainer %d: not the same filter", len(got)/8, len(want)/8)
	}
	t.Logf("same filter: %d instructions", len(got)/8)
	st := containertest.ReadFile(fmt.Sprintf("/proc/%d/status", c.Pid()))
	for _, line := range []string{"NoNewPrivs:\t1", "Seccomp:\t2", "Seccomp_filters:\t1"} {
		if !strings.Contains(st, line+"\n") {
			t.Errorf("the task's status lacks %q", line)
		}
	}
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", c.Pid())); err != nil || len(fds) != 3 {
		t.Errorf("the task has %d fds open (%v), want 3: the helper's are closed", len(fds), err)
	}
}

// TestPrecompiledSeccompExec: a process run in a container whose filter the
// helper loaded goes through the helper too (the container's configuration
// has none for libcontainer to apply), and a command that is not there
// fails its exec with the reason, as it fails a start.
func TestPrecompiledSeccompExec(t *testing.T) {
	e := newEnv(t)
	c := e.start(t, e.spec(t, "pexec", "", "sleep", "30"))
	ex, out := execIn(t, c, container.ExecSpec{Args: []string{"grep", "-E", "^(Seccomp|Seccomp_filters|NoNewPrivs):", "/proc/self/status"}})
	if want := "NoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n"; !ex.Success() || out != want {
		t.Errorf("exec: exit %+v, output %q; want %q", ex, out, want)
	}
	if _, _, err := c.Exec(t.Context(), container.ExecSpec{Args: []string{"no-such-command"}}); err == nil || !strings.Contains(err.Error(), `"no-such-command": executable file not found in $PATH`) {
		t.Errorf("exec of a missing command: %v, want it named as not found", err)
	}
	_, err := e.d.Start(t.Context(), e.spec(t, "pmissing", "", "no-such-command"))
	if err == nil || !strings.Contains(err.Error(), `"no-such-command": executable file not found in $PATH`) {
		t.Errorf("start of a missing command: %v, want it named as not found", err)
	}
}

// TestPrecompiledSeccompCacheRebuilt: a damaged cache file is compiled
// again, and the task still runs under its filter.
func TestPrecompiledSeccompCacheRebuilt(t *testing.T) {
	e := newEnv(t)
	c1 := e.start(t, e.spec(t, "pc1", "", "sleep", "30"))
	files, _ := filepath.Glob(filepath.Join(e.cfg.Root, "seccomp", "*.bpf"))
	if len(files) != 1 {
		t.Fatalf("compiled filters in the cache: %v, want one", files)
	}
	good, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 0xff // an instruction changed: the checksum no longer holds
	if err := os.WriteFile(files[0], bad, 0o600); err != nil {
		t.Fatal(err)
	}
	c2 := e.start(t, e.spec(t, "pc2", "", "sleep", "30"))
	if b, _ := os.ReadFile(files[0]); !bytes.Equal(b, good) {
		t.Errorf("the damaged cache file was not compiled again")
	}
	if got, want := seccompFilter(t, c2.Pid()), seccompFilter(t, c1.Pid()); !bytes.Equal(got, want) {
		t.Errorf("after the damaged cache: %d instructions, want the %d of before", len(got)/8, len(want)/8)
	}
}

// stateConfig is the libcontainer configuration in the state of the
// container whose id is or (ending in "-") starts with id.
func stateConfig(t *testing.T, root, id string) map[string]any {
	t.Helper()
	pattern := filepath.Join(root, "runc", id, "state.json")
	if strings.HasSuffix(id, "-") {
		pattern = filepath.Join(root, "runc", id+"*", "state.json")
	}
	files, _ := filepath.Glob(pattern)
	if len(files) != 1 {
		t.Fatalf("state of %s: %v", id, files)
	}
	var st struct {
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal([]byte(containertest.ReadFile(files[0])), &st); err != nil {
		t.Fatal(err)
	}
	return st.Config
}

// seccompFilter reads the newest seccomp filter of process pid (ptrace:
// PTRACE_SECCOMP_GET_FILTER, as root), stopping it for that moment.
func seccompFilter(t *testing.T, pid int) []byte {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.PtraceSeize(pid); err != nil {
		t.Fatalf("ptrace %d: %v", pid, err)
	}
	defer unix.PtraceDetach(pid)
	if err := unix.PtraceInterrupt(pid); err != nil {
		t.Fatalf("ptrace interrupt %d: %v", pid, err)
	}
	// PTRACE_INTERRUPT stops the tracee at once (or it has exited, which
	// wait reports too): a blocking wait, as the shim's readFilter does.
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
		t.Fatalf("wait for %d to stop: %v", pid, err)
	}
	if !ws.Stopped() {
		t.Fatalf("%d did not stop for ptrace: %v", pid, ws)
	}
	const getFilter = 0x420c // PTRACE_SECCOMP_GET_FILTER
	n, _, e := unix.Syscall6(unix.SYS_PTRACE, getFilter, uintptr(pid), 0, 0, 0, 0)
	if e != 0 || n == 0 {
		t.Fatalf("PTRACE_SECCOMP_GET_FILTER %d: %d instructions, %v", pid, n, e)
	}
	b := make([]byte, 8*n)
	if _, _, e := unix.Syscall6(unix.SYS_PTRACE, getFilter, uintptr(pid), 0, uintptr(unsafe.Pointer(&b[0])), 0, 0); e != 0 {
		t.Fatalf("PTRACE_SECCOMP_GET_FILTER %d: %v", pid, e)
	}
	return b
}
