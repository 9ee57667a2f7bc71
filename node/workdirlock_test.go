package node

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// holdLock takes dir's lock through a descriptor of its own (flock locks
// belong to open files, so this process conflicts with itself), having
// written pid as the holder's.
func holdLock(t *testing.T, dir string, pid int) *os.File {
	t.Helper()
	path := filepath.Join(dir, workDirLockName)
	if err := os.WriteFile(path, []byte("pid "+strconv.Itoa(pid)+"\nrole agent\nsince 2026-12-08T00:00:00Z\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// A running holder stops a second start at once, naming it.
func TestWorkDirLockHeld(t *testing.T) {
	dir := t.TempDir()
	holdLock(t, dir, os.Getpid())
	_, err := lockWorkDir(dir, "agent")
	if err == nil || !strings.Contains(err.Error(), "in use by nodectl pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("lock held by a running process: %v, want it named", err)
	}
}

// A holder that is gone (killed with -9) while a descriptor of its lock
// lives on a moment longer (a child between fork and exec) does not stop
// the next start: it waits for the descriptor to close.
func TestWorkDirLockOrphan(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := holdLock(t, dir, dead.Process.Pid)
	time.AfterFunc(200*time.Millisecond, func() { _ = f.Close() })
	l, err := lockWorkDir(dir, "agent")
	if err != nil {
		t.Fatalf("lock of a gone holder, closed 200 ms later: %v", err)
	}
	defer l.Close()
	b, _ := os.ReadFile(filepath.Join(dir, workDirLockName))
	if !strings.HasPrefix(string(b), "pid "+strconv.Itoa(os.Getpid())+"\n") {
		t.Fatalf("lock file after taking it: %q", b)
	}
}
