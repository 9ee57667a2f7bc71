package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"nodectl/runtime/internal/container/internal/shimapi"
)

// ExecOutputLimit is how much of an exec'd process's combined stdout and
// stderr Exec keeps: the last 4 KiB, as Mesos keeps of a check's output.
const ExecOutputLimit = 4096

// execKillGrace is how long Exec waits for the shim to kill the process and
// answer after ctx ended, before it kills the shim itself; and how long it
// waits for the output pipe to close after the shim has exited.
const execKillGrace = 5 * time.Second

// ErrNotRunning: the container is not running, so nothing can be exec'd in it.
var ErrNotRunning = errors.New("container not running")

// ExecSpec is one extra process to run in a running container.
type ExecSpec struct {
	// Args is the command line (required); Args[0] is resolved against the
	// PATH in Env.
	Args []string
	// Env is KEY=VALUE pairs; empty means the container's Spec.Env. PATH
	// gets a default when missing.
	Env []string
	// Cwd is the working directory inside the container; empty means the
	// container's Spec.Cwd.
	Cwd string
}

// Exec runs s inside the container as an extra process, the way `runc exec`
// does, and returns how it ended and the last ExecOutputLimit bytes of its
// combined stdout and stderr. The process joins the container's namespaces
// and cgroup and runs with the container's own user (Spec.UID/GID),
// capabilities, no_new_privs, seccomp filter and labels: nothing in s can
// make it more privileged than the container's init. It is what Mesos does
// for a command task's COMMAND health check (src/checks/checker_process.cpp
// enters the task's namespaces).
//
// When ctx ends first the process is killed (SIGKILL), and Exec returns the
// exit it got together with ctx's error. In every case every process left
// in the exec'd process's group (what it started) is killed before Exec
// returns. A process that left that group itself (setsid) stays in the
// container, as with `runc exec`, and dies with it.
func (c *Container) Exec(ctx context.Context, s ExecSpec) (Exit, []byte, error) {
	e, out, err := c.exec(ctx, s)
	if err != nil {
		return e, out, fmt.Errorf("exec in container %s: %w", c.id, err)
	}
	return e, out, nil
}

func (c *Container) exec(ctx context.Context, s ExecSpec) (Exit, []byte, error) {
	if len(s.Args) == 0 || s.Args[0] == "" {
		return Exit{}, nil, fmt.Errorf("%w: empty command", ErrInvalidSpec)
	}
	if s.Cwd != "" && !filepath.IsAbs(s.Cwd) {
		return Exit{}, nil, fmt.Errorf("%w: cwd %q: not absolute", ErrInvalidSpec, s.Cwd)
	}
	if err := ctx.Err(); err != nil {
		return Exit{}, nil, err
	}
	switch st, err := c.Status(); {
	case err != nil:
		return Exit{}, nil, err
	case st != Running:
		return Exit{}, nil, fmt.Errorf("%w: %s", ErrNotRunning, st)
	}
	req := shimapi.ExecRequest{Args: s.Args, Env: s.Env, Cwd: s.Cwd}
	if len(req.Env) > 0 && !slices.ContainsFunc(req.Env, func(e string) bool { return strings.HasPrefix(e, "PATH=") }) {
		req.Env = append(slices.Clip(req.Env), defaultPath)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return Exit{}, nil, err
	}

	// The shim's fds: 0 the request, 1 the process's output, 2 the shim's
	// log, 3 the reply.
	var closers []io.Closer
	defer func() {
		for _, f := range closers {
			f.Close()
		}
	}()
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			closers = append(closers, r, w)
		}
		return r, w, err
	}
	reqR, reqW, err := pipe()
	if err != nil {
		return Exit{}, nil, err
	}
	outR, outW, err := pipe()
	if err != nil {
		return Exit{}, nil, err
	}
	replyR, replyW, err := pipe()
	if err != nil {
		return Exit{}, nil, err
	}
	log, err := os.OpenFile(filepath.Join(c.dir, shimapi.ShimLogFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return Exit{}, nil, fmt.Errorf("open shim log: %w", err)
	}
	closers = append(closers, log)
	env := []string{defaultPath}
	if v, ok := os.LookupEnv("GOMAXPROCS"); ok {
		env = append(env, "GOMAXPROCS="+v)
	}
	proc, err := os.StartProcess(c.d.cfg.ShimPath, []string{ShimName, "exec", c.dir}, &os.ProcAttr{
		Dir:   "/",
		Env:   env,
		Files: []*os.File{reqR, outW, log, replyW},
		// Its own session: the agent's terminal and process group signals
		// are not the shim's.
		Sys: &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return Exit{}, nil, fmt.Errorf("exec shim: %w", err)
	}
	// Only the shim and what it starts hold the write ends now.
	reqR.Close()
	outW.Close()
	replyW.Close()

	tail := &tailBuffer{max: ExecOutputLimit}
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		_, _ = io.Copy(tail, outR)
	}()
	replyc := make(chan shimapi.ExecReply, 1)
	replyErr := make(chan error, 1)
	go func() {
		var r shimapi.ExecReply
		if err := json.NewDecoder(replyR).Decode(&r); err != nil {
			replyErr <- err
			return
		}
		replyc <- r
	}()
	// Written aside, so a shim that never reads cannot block us; a write
	// error (the shim is gone) shows in the reply or its absence.
	go func() {
		_, _ = reqW.Write(body)
		reqW.Close()
	}()

	reply, rerr, ctxErr := waitShimExec(ctx, proc, replyc, replyErr)
	// The exec'd process and its group are gone: the pipe closes, unless a
	// process that escaped the group still holds it.
	_ = outR.SetReadDeadline(time.Now().Add(execKillGrace))
	<-outDone
	out := tail.bytes()
	if rerr != nil {
		err := fmt.Errorf("no answer from the shim: %w: %s", rerr, c.d.shimLogTail(c.dir))
		if ctxErr != nil {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return Exit{}, out, err
	}
	if reply.Error != "" {
		if ctxErr != nil {
			return Exit{}, out, fmt.Errorf("%w (%s)", ctxErr, reply.Error)
		}
		if reply.NotRunning {
			return Exit{}, out, fmt.Errorf("%w: %s", ErrNotRunning, reply.Error)
		}
		return Exit{}, out, errors.New(reply.Error)
	}
	e := Exit{Code: reply.Code, Signal: reply.Signal, FinishedAt: time.Now().UTC()}
	if reply.Killed && ctxErr != nil {
		return e, out, ctxErr
	}
	return e, out, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if len(p) >= b.max {
		b.buf = append(b.buf[:0], p[len(p)-b.max:]...)
		return n, nil
	}
	if over := len(b.buf) + len(p) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

func (b *tailBuffer) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.buf)
}

// waitShimExec waits for the shim's reply to an exec (or its failure to
// give one), and reaps the shim. When ctx ends first the shim gets
// SIGTERM, then SIGKILL after execKillGrace if it still has not answered
// (taking down its process group, which the exec'd process has left);
// ctxErr says ctx ended.
func waitShimExec(ctx context.Context, proc *os.Process, replyc <-chan shimapi.ExecReply, replyErr <-chan error) (reply shimapi.ExecReply, rerr, ctxErr error) {
	var backing <-chan time.Time
wait:
	for {
		select {
		case reply = <-replyc:
			break wait
		case rerr = <-replyErr:
			break wait
		case <-ctx.Done():
			if ctxErr == nil {
				ctxErr = ctx.Err()
				_ = proc.Signal(unix.SIGTERM)
				t := time.NewTimer(execKillGrace)
				defer t.Stop()
				backing = t.C
			}
		case <-backing:
			_ = proc.Kill()
			backing = nil
		}
	}
	if _, err := proc.Wait(); err != nil && rerr == nil {
		rerr = err
	}
	return reply, rerr, ctxErr
}
