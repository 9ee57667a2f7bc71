package ociconf

import (
	"errors"
	"fmt"
	"os"

	"github.com/opencontainers/runc/libcontainer"

	"nodectl/runtime/internal/container/internal/shimapi"
)

// ErrNotRunning: Exec found the container stopped (or still being created).
var ErrNotRunning = errors.New("container is not running")

// Exec starts e as an extra, non-init process in the running container that
// req created, like `runc exec`: libcontainer's setns process joins the
// container's namespaces and cgroup and applies the container config's
// capabilities, no_new_privs, seccomp filter, AppArmor profile, SELinux
// label and rlimits. Nothing of that is taken from e. The user is the
// container's (req.Spec.UID/GID), the same as its init process's.
//
// The process's stdio is io's: a nil Stdin is /dev/null, a nil Stderr is
// Stdout. With io.Console (an AF_UNIX socket, runc's --console-socket) the
// process gets a new pseudo-terminal as its stdio and controlling terminal,
// e.Rows×e.Cols big, and libcontainer sends its master over io.Console. The
// caller waits for the returned process.
func Exec(req *shimapi.Request, e *shimapi.ExecRequest, io ExecIO) (*libcontainer.Process, error) {
	if len(e.Args) == 0 || e.Args[0] == "" {
		return nil, fmt.Errorf("exec: empty command")
	}
	c, err := libcontainer.Load(req.StateRoot, req.Spec.ID)
	if err != nil {
		return nil, fmt.Errorf("exec: load container: %w", err)
	}
	switch st, err := c.Status(); {
	case err != nil:
		return nil, fmt.Errorf("exec: container status: %w", err)
	case st != libcontainer.Running:
		return nil, fmt.Errorf("exec: %w (%s)", ErrNotRunning, st)
	}
	p := &libcontainer.Process{
		Args: e.Args,
		Env:  e.Env,
		Cwd:  e.Cwd,
		UID:  int(req.Spec.UID),
		GID:  int(req.Spec.GID),
		Init: false,
	}
	if io.Console != nil {
		p.ConsoleSocket = io.Console
		p.ConsoleWidth, p.ConsoleHeight = e.Cols, e.Rows
	} else {
		p.Stdout, p.Stderr = io.Stdout, io.Stdout
		if io.Stderr != nil {
			p.Stderr = io.Stderr
		}
		if io.Stdin != nil {
			p.Stdin = io.Stdin
		}
	}
	p.AdditionalGroups = additionalGroups(req.Spec.Groups)
	if len(p.Env) == 0 {
		p.Env = req.Spec.Env
	}
	if p.Cwd == "" {
		p.Cwd = req.Spec.Cwd
	}
	// A container whose filter the seccomp helper loaded (precompiled.go)
	// has none in its configuration: the process goes through the helper
	// too, with the same program.
	var report *os.File
	if cfg := c.Config(); cfg.Seccomp == nil && hasProfile(req) && req.SeccompHelperPath != "" {
		sc, err := seccompConfig(req)
		if err != nil {
			return nil, fmt.Errorf("exec: %w", err)
		}
		prog, err := loadProgram(req, sc)
		if err != nil {
			return nil, fmt.Errorf("exec: %w", err)
		}
		if p.Args, p.ExtraFiles, report, err = helperProcess(req, prog, p.Args); err != nil {
			return nil, fmt.Errorf("exec: %w", err)
		}
	}
	err = c.Run(p)
	for _, f := range p.ExtraFiles {
		f.Close() // the process has its own copies
	}
	if err != nil {
		if report != nil {
			report.Close()
		}
		return nil, fmt.Errorf("exec: %w", err)
	}
	if report != nil {
		if err := awaitHelper(report); err != nil {
			_, _ = p.Wait() // it exits 127 by itself
			return nil, fmt.Errorf("exec: %w", err)
		}
	}
	return p, nil
}

// ExecIO is an exec'd process's stdio (see Exec).
type ExecIO struct {
	Stdin, Stdout, Stderr *os.File
	Console               *os.File
}
