package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"nodectl/runtime/internal/container/internal/ociconf"
	"nodectl/runtime/internal/container/internal/shimapi"
)

// execMain is `nodectl-shim exec <rundir>`: it reads a shimapi.ExecRequest
// on stdin, runs it in the container of <rundir> as an extra process (the
// way `runc exec` does: ociconf.Exec), sends the process's output to its own
// stdout, and writes a shimapi.ExecReply on ReplyFD when the process has
// ended. SIGTERM or SIGINT kill the process. Whichever way it ends, every
// process left in its process group (the exec'd process is a session
// leader, so the group is the process and what it started) is killed before
// the shim exits: a check leaves nothing behind in the task's container.
// The exit code is 0 when a reply was written.
//
// An interactive session (ExecRequest.Session, `nodectl exec`) also takes
// the process's stdin and stderr on shimapi.SessionStdinFD and
// SessionStderrFD, or, for a TTY, a console socket on SessionConsoleFD over
// which libcontainer sends the new terminal's master to the caller.
func execMain(dir string) int {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, unix.SIGTERM, unix.SIGINT)
	signal.Ignore(unix.SIGHUP, unix.SIGPIPE, unix.SIGQUIT)
	unix.CloseOnExec(shimapi.ReplyFD)
	reply := os.NewFile(shimapi.ReplyFD, "reply")
	defer reply.Close()

	r := execIn(dir, stop)
	if r.Error != "" {
		fmt.Fprintf(os.Stderr, "nodectl-shim exec: %s\n", r.Error)
	}
	if err := json.NewEncoder(reply).Encode(r); err != nil {
		fmt.Fprintf(os.Stderr, "nodectl-shim exec: write reply: %v\n", err)
		return 1
	}
	return 0
}

func execIn(dir string, stop <-chan os.Signal) shimapi.ExecReply {
	fail := func(err error) shimapi.ExecReply { return shimapi.ExecReply{Error: err.Error()} }
	var req shimapi.Request
	if err := shimapi.ReadJSON(filepath.Join(dir, shimapi.RequestFile), &req); err != nil {
		return fail(fmt.Errorf("read container request: %w", err))
	}
	var e shimapi.ExecRequest
	if err := json.NewDecoder(os.Stdin).Decode(&e); err != nil {
		return fail(fmt.Errorf("read exec request: %w", err))
	}
	select {
	case <-stop:
		return shimapi.ExecReply{Code: 128 + int(unix.SIGKILL), Signal: int(unix.SIGKILL), Killed: true}
	default:
	}
	io := ociconf.ExecIO{Stdout: os.Stdout}
	switch {
	case e.Session && e.TTY:
		io = ociconf.ExecIO{Console: os.NewFile(shimapi.SessionConsoleFD, "console-socket")}
	case e.Session:
		io.Stdin = os.NewFile(shimapi.SessionStdinFD, "stdin")
		io.Stderr = os.NewFile(shimapi.SessionStderrFD, "stderr")
	}
	p, err := ociconf.Exec(&req, &e, io)
	// The process has its own copies (or, for a TTY, libcontainer has sent
	// the terminal's master): the caller sees EOF when the process ends.
	for _, f := range []*os.File{io.Stdin, io.Stderr, io.Console} {
		if f != nil {
			f.Close()
		}
	}
	if err != nil {
		r := fail(err)
		r.NotRunning = errors.Is(err, ociconf.ErrNotRunning)
		return r
	}
	pid, err := p.Pid()
	if err != nil {
		_ = p.Signal(unix.SIGKILL)
		_, _ = p.Wait()
		return fail(err)
	}
	// Wait for the exit without reaping, so that pid (which is also the
	// process group id) stays ours while the group is killed.
	exited := make(chan error, 1)
	go func() {
		for {
			var info unix.Siginfo
			err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			exited <- err
			return
		}
	}()
	killed := false
	select {
	case <-exited:
	case <-stop:
		killed = true
		_ = unix.Kill(-pid, unix.SIGKILL)
		_ = unix.Kill(pid, unix.SIGKILL)
		<-exited
	}
	// Whatever the process started and left running goes with it: its
	// process group and, since a shell with a terminal puts each job in a
	// group of its own, every process of its session.
	_ = unix.Kill(-pid, unix.SIGKILL)
	killSession(pid)
	ps, err := p.Wait()
	if ps == nil {
		return fail(fmt.Errorf("wait: %w", err))
	}
	res := shimapi.ExecReply{Killed: killed}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	switch {
	case ok && ws.Signaled():
		res.Signal = int(ws.Signal())
		res.Code = 128 + res.Signal
	default:
		res.Code = ps.ExitCode()
	}
	return res
}

// killSession kills every process whose session id is sid (the exec'd
// process, a session leader that is not reaped yet, so sid is not reused),
// again until none is left: a process that forks meanwhile is found on
// the next pass. A process that made a session of its own (setsid) is not
// found, as with `runc exec`; it dies with the container.
func killSession(sid int) {
	for pass := 0; pass < 100; pass++ {
		ents, err := os.ReadDir("/proc")
		if err != nil {
			return
		}
		found := false
		for _, e := range ents {
			p, err := strconv.Atoi(e.Name())
			if err != nil || p == sid {
				continue
			}
			st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
			if err != nil {
				continue
			}
			// pid (comm) state ppid pgrp session ...
			i := bytes.LastIndexByte(st, ')')
			if i < 0 {
				continue
			}
			f := bytes.Fields(st[i+1:])
			if len(f) < 4 || f[0][0] == 'Z' {
				continue
			}
			if s, err := strconv.Atoi(string(f[3])); err == nil && s == sid {
				_ = unix.Kill(p, unix.SIGKILL)
				found = true
			}
		}
		if !found {
			return
		}
	}
}
