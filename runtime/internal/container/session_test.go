package container_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"nodectl/runtime/internal/container"
	"nodectl/runtime/internal/container/containertest"
)

// syncBuffer is a bytes.Buffer safe for a writer and a poller.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// sessionContainer starts an image task as uid 65534 with its own hostname,
// running `sleep 3600` as its pid 1.
func sessionContainer(t *testing.T, id string) (*container.Container, []int) {
	e := newEnv(t)
	rootfs := containertest.BusyboxRootfs(t)
	if err := os.Chmod(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := e.spec(t, id, rootfs, "sleep", "3600")
	spec.UID, spec.GID = 65534, 65534
	spec.Hostname = "exec-task"
	spec.Env = []string{"TASKVAR=from-task"}
	if err := os.Chown(spec.SandboxDir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spec.SandboxDir, "task-file"), []byte("in-sandbox"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := e.start(t, spec)
	var before []int
	containertest.Eventually(t, time.Minute, func() bool {
		before = livePids(t, c.Pid())
		return len(before) == 1
	}, "task processes never settled: %v", lazyPids{&before})
	return c, before
}

// An interactive session without a terminal: stdin is the caller's (its
// EOF ends the shell), stdout and stderr stay apart, the exit code comes
// back, and the process sees the task's pid namespace (pid 1 is the task's
// sleep), user, hostname, environment and mount view (the sandbox).
func TestSession(t *testing.T) {
	c, before := sessionContainer(t, "session")
	var out, errOut syncBuffer
	script := `id -u; cat /proc/1/cmdline | tr '\0' ' '; echo; hostname; echo "$TASKVAR"; cat $MESOS_SANDBOX/task-file 2>/dev/null || cat /mnt/mesos/sandbox/task-file; echo; echo to-stderr >&2; exit 3` + "\n"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := c.StartSession(ctx, container.SessionSpec{
		ExecSpec: container.ExecSpec{Args: []string{"sh"}},
		Stdin:    strings.NewReader(script), Stdout: &out, Stderr: &errOut,
	})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := s.Wait()
	if err != nil {
		t.Fatalf("wait: %v (stdout %q, stderr %q)", err, out.String(), errOut.String())
	}
	if ex.Code != 3 {
		t.Errorf("exit %+v, want code 3", ex)
	}
	want := "65534\nsleep 3600 \nexec-task\nfrom-task\nin-sandbox\n"
	if got := out.String(); got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	if got := errOut.String(); got != "to-stderr\n" {
		t.Errorf("stderr %q", got)
	}
	if got := livePids(t, c.Pid()); !slices.Equal(got, before) {
		t.Errorf("processes after the session: %v, before %v", got, before)
	}
}

// A terminal session: the process has a pty as its controlling terminal,
// input typed is echoed and run, a resize shows in `stty size`, and the
// exit code of the shell comes back. Ending the context kills what the
// session started.
func TestSessionTTY(t *testing.T) {
	c, before := sessionContainer(t, "sessiontty")
	var out syncBuffer
	inR, inW := io.Pipe()
	defer inW.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := c.StartSession(ctx, container.SessionSpec{
		ExecSpec: container.ExecSpec{Args: []string{"sh"}},
		TTY:      true, Rows: 24, Cols: 80,
		Stdin: inR, Stdout: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor := func(what string) {
		t.Helper()
		containertest.Eventually(t, time.Minute, func() bool { return strings.Contains(out.String(), what) },
			"terminal never showed %q: %q", what, lazyString{&out})
	}
	io.WriteString(inW, "tty; stty size; echo hello-$((40+2))\n")
	waitFor("hello-42")
	if o := out.String(); !strings.Contains(o, "/dev/pts/") || !strings.Contains(o, "24 80") {
		t.Errorf("terminal output %q: want a /dev/pts tty of 24x80", o)
	}
	if err := s.Resize(40, 100); err != nil {
		t.Fatal(err)
	}
	io.WriteString(inW, "stty size; echo resized-$((1+1))\n")
	waitFor("resized-2")
	if !strings.Contains(out.String(), "40 100") {
		t.Errorf("after resize: %q", out.String())
	}
	io.WriteString(inW, "exit 5\n")
	ex, err := s.Wait()
	if err != nil || ex.Code != 5 {
		t.Errorf("wait: %+v %v, want code 5", ex, err)
	}

	// A session whose caller goes away takes what it started with it.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	inR2, inW2 := io.Pipe()
	defer inW2.Close()
	var out2 syncBuffer
	s2, err := c.StartSession(ctx2, container.SessionSpec{
		ExecSpec: container.ExecSpec{Args: []string{"sh"}}, TTY: true, Stdin: inR2, Stdout: &out2,
	})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(inW2, "sleep 3600 & echo started-$((2+2))\n")
	containertest.Eventually(t, time.Minute, func() bool { return strings.Contains(out2.String(), "started-4") },
		"never started: %q", lazyString{&out2})
	cancel2()
	if _, err := s2.Wait(); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled session: %v, want context.Canceled", err)
	}
	var now []int
	containertest.Eventually(t, time.Minute, func() bool {
		now = livePids(t, c.Pid())
		return slices.Equal(now, before)
	}, "processes after the sessions: %v, before %v", lazyPids{&now}, before)
}

type lazyString struct{ b *syncBuffer }

func (l lazyString) String() string { return l.b.String() }
