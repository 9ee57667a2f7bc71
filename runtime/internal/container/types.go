package container

import (
	"errors"
	"fmt"
	"time"

	"nodectl/runtime/internal/container/internal/shimapi"
)

// Spec describes a container to Start. See shimapi.Spec for the fields:
// ID, Rootfs ("" = command task on the read-only host root), SandboxDir,
// SandboxTarget, Cwd, Args, Env, Mounts, CPUs, MemBytes, PidsLimit,
// Hostname, UID, GID, Groups.
type Spec = shimapi.Spec

// Mount is an extra bind mount {Source, Destination, ReadOnly}.
type Mount = shimapi.Mount

// DefaultSandboxTarget is where the sandbox appears inside a container that
// has its own root filesystem (Mesos' --sandbox_directory).
const DefaultSandboxTarget = "/mnt/mesos/sandbox"

// defaultPath is PATH when Spec.Env sets none (runc's default).
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Sentinel errors; test with errors.Is.
var (
	// ErrNotFound: no container with that id.
	ErrNotFound = errors.New("container not found")
	// ErrExist: a container with that id already exists.
	ErrExist = errors.New("container already exists")
	// ErrLost: the container's monitor is gone and recorded no exit (killed,
	// or the host rebooted). The container may even still run, unmonitored;
	// Kill and Destroy still work on it.
	ErrLost = errors.New("container lost: monitor gone without an exit record")
	// ErrInvalidSpec: the Spec failed validation.
	ErrInvalidSpec = errors.New("invalid container spec")
	// ErrNoShim: nodectl was built without the embedded shim.
	ErrNoShim = errors.New("nodectl was built without the container shim; build with make build")
)

// ReasonMemoryLimit is the Mesos TaskStatus reason for a container killed
// for exceeding its memory limit.
const ReasonMemoryLimit = "REASON_CONTAINER_LIMITATION_MEMORY"

// Exit is how a container's init process ended.
type Exit struct {
	// Code is the exit status; 128+Signal when killed by a signal.
	Code int `json:"code"`
	// Signal is the signal that killed the init process, 0 if none.
	Signal int `json:"signal,omitempty"`
	// OOMKilled is true when the OOM killer killed a process in the
	// container's memory cgroup (the memory limit was exceeded).
	OOMKilled bool `json:"oom_killed,omitempty"`
	// FinishedAt is when the monitor reaped the init process.
	FinishedAt time.Time `json:"finished_at"`
}

// Reason is the Mesos TaskStatus reason implied by the exit, or "" when the
// exit itself says nothing beyond its code (the caller picks
// TASK_FINISHED/TASK_FAILED/TASK_KILLED from context).
func (e Exit) Reason() string {
	if e.OOMKilled {
		return ReasonMemoryLimit
	}
	return ""
}

// Success reports a clean exit: code 0, no signal, no OOM kill.
func (e Exit) Success() bool { return e.Code == 0 && e.Signal == 0 && !e.OOMKilled }

func (e Exit) String() string {
	s := fmt.Sprintf("exit code %d", e.Code)
	if e.Signal != 0 {
		s = fmt.Sprintf("killed by signal %d", e.Signal)
	}
	if e.OOMKilled {
		s += " (OOM killed)"
	}
	return s
}

func exitFromRecord(r shimapi.Exit) Exit {
	return Exit{Code: r.Code, Signal: r.Signal, OOMKilled: r.OOMKilled, FinishedAt: r.FinishedAt}
}

// Status is what a container handle knows about its container right now.
//
//	Start ──▶ Running ──(init exits, monitor records)──▶ Exited
//	             │
//	             └──(monitor killed / host rebooted, nothing recorded)──▶ Lost
type Status int

const (
	// Running: the monitor is alive and no exit is recorded.
	Running Status = iota + 1
	// Exited: the exit is recorded; Wait returns it at once.
	Exited
	// Lost: no live monitor and no exit record.
	Lost
)

func (s Status) String() string {
	switch s {
	case Running:
		return "running"
	case Exited:
		return "exited"
	case Lost:
		return "lost"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}
