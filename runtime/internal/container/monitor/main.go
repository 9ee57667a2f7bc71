// Command nodectl-monitor is what a container's nodectl-shim turns into once
// the container runs: the shim execve(2)s this program, so the pid, the
// session, the child-subreaper flag and the parenthood of the container's init
// all carry over, while the ~6 MB libcontainer binary is unmapped. It waits for
// the init process, records its exit in <rundir>/exit.json atomically
// (temp file + fsync + rename + fsync of the directory) and exits.
//
// Usage (only the shim runs it):
//
//	nodectl-monitor <rundir> <init-pid> [<oom-counter-file>]
//
// <oom-counter-file> is the container's cgroup v1 memory.oom_control or v2
// memory.events; a non-zero "oom_kill" there marks the exit as OOM-killed.
//
// It exists to keep each running task's monitor within its 3 MB PSS budget, so
// it stays pure Go (CGO_ENABLED=0) and imports almost nothing: no
// encoding/json, no fmt, no x/sys, no nodectl package. The exit record's JSON
// is written by hand and must stay compatible with shimapi.Exit (the
// container package's tests read it back).
package main

import (
	"errors"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 3 || len(os.Args) > 4 {
		fail("usage: nodectl-monitor <rundir> <init-pid> [<oom-counter-file>]")
	}
	dir := os.Args[1]
	pid, err := strconv.Atoi(os.Args[2])
	if err != nil || pid <= 0 {
		fail("bad init pid " + os.Args[2])
	}
	oomFile := ""
	if len(os.Args) == 4 {
		oomFile = os.Args[3]
	}
	// The agent's signals are not ours (see the shim); only SIGKILL stops us.
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGPIPE, syscall.SIGQUIT)

	code, sig := wait(pid)
	finished := time.Now().UTC()
	oom := oomKilled(oomFile)
	if err := writeAtomic(dir, "exit.json", exitJSON(code, sig, oom, finished)); err != nil {
		fail("record exit: " + err.Error())
	}
}

func fail(msg string) {
	os.Stderr.WriteString("nodectl-monitor: " + msg + "\n")
	os.Exit(1)
}

// wait reaps children until pid exits and returns its exit code (128+signal
// when killed) and signal. Other children, orphans reparented to us as
// subreaper, are reaped and ignored.
func wait(pid int) (code, sig int) {
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			fail("wait for init " + strconv.Itoa(pid) + ": " + err.Error())
		}
		if got != pid {
			continue
		}
		switch {
		case ws.Exited():
			return ws.ExitStatus(), 0
		case ws.Signaled():
			return 128 + int(ws.Signal()), int(ws.Signal())
		}
	}
}

// oomKilled reports whether the cgroup's "oom_kill" counter is non-zero.
func oomKilled(file string) bool {
	if file == "" {
		return false
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return err == nil && n > 0
		}
	}
	return false
}

// exitJSON encodes the record the way encoding/json encodes shimapi.Exit.
func exitJSON(code, sig int, oom bool, finished time.Time) []byte {
	b := []byte(`{"code":`)
	b = strconv.AppendInt(b, int64(code), 10)
	if sig != 0 {
		b = append(b, `,"signal":`...)
		b = strconv.AppendInt(b, int64(sig), 10)
	}
	if oom {
		b = append(b, `,"oom_killed":true`...)
	}
	b = append(b, `,"finished_at":"`...)
	b = finished.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...)
}

// writeAtomic writes dir/name via a synced temp file, rename(2) and a synced
// directory, so a reader sees the whole record or none, even after a crash.
func writeAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, dir+"/"+name); err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
