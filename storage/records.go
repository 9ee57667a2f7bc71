package storage

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// Agent is the agent's own record (Mesos' slave.info and meta/boot_id).
type Agent struct {
	ID   string // empty until the first registration
	Info []byte // JSON, the agent's description; may be empty with ID
	// BootID is the host boot id at the last successful recovery; a
	// different current boot id means the host rebooted.
	BootID string
	// ConfigFingerprint identifies the flags the record was written with,
	// to refuse an incompatible restart.
	ConfigFingerprint string
}

// Framework is a framework with tasks on this agent (framework.info).
type Framework struct {
	ID         string
	Info       []byte // JSON FrameworkInfo
	Checkpoint bool   // FrameworkInfo.checkpoint: recover its executors
}

// Executor is one run of an executor: one container with its sandbox
// (Mesos' executor.info plus the run directory). Runs are keyed by their
// container id; an executor restarted in a new container is a new run.
type Executor struct {
	FrameworkID string
	ExecutorID  string
	ContainerID string
	Sandbox     string // host path of the sandbox
	Info        []byte // JSON ExecutorInfo (or the task's, for command tasks)
	LaunchedAt  time.Time
	// Completed is Mesos' executor.sentinel: the run has terminated.
	Completed   bool
	CompletedAt time.Time
}

// Task is a task and its status-update stream (task.info, task.updates).
type Task struct {
	FrameworkID string
	TaskID      string
	ExecutorID  string
	ContainerID string
	Info        []byte // JSON TaskInfo
	// State is the latest state the agent knows (the state of the newest
	// update, or the launch state before any update).
	State    string
	Terminal bool // State is terminal
	// Done: the terminal update was acknowledged and nothing is pending;
	// the stream is closed and the task may be garbage-collected.
	Done bool
	// Updates is the whole stream in order, acknowledged ones included
	// (LoadState fills it; write methods ignore it).
	Updates []Update
}

// Key is the task's stream key.
func (t Task) Key() TaskKey { return TaskKey{t.FrameworkID, t.TaskID} }

// Pending is the unacknowledged updates in order: what the status update
// manager must (re)send, head first.
func (t Task) Pending() []Update {
	for i, u := range t.Updates {
		if !u.Acked() {
			return t.Updates[i:]
		}
	}
	return nil
}

// TaskKey names a task, and so its status-update stream.
type TaskKey struct{ FrameworkID, TaskID string }

func (k TaskKey) String() string {
	return fmt.Sprintf("(framework_id %q, task_id %q)", k.FrameworkID, k.TaskID)
}

// Update is one status update of a task's stream.
type Update struct {
	FrameworkID string
	TaskID      string
	Seq         int64  // position in the stream, from 1; assigned by the store
	UUID        []byte // the update's uuid; unique within the stream
	State       string // the task state the update reports
	Terminal    bool   // State is terminal
	Body        []byte // JSON StatusUpdate
	CreatedAt   time.Time
	AckedAt     time.Time // zero while unacknowledged
}

// Acked reports whether the update was acknowledged.
func (u Update) Acked() bool { return !u.AckedAt.IsZero() }

// Launch is what LaunchTask checkpoints in one transaction. Ids left empty
// in the inner records are taken from the enclosing ones.
type Launch struct {
	Framework Framework // inserted, or its info replaced
	Executor  Executor  // inserted unless the run (container id) exists
	Task      Task      // Task.State is the launch state, e.g. TASK_STAGING
	// Update, if set, is the task's first status update; its state
	// becomes the task's.
	Update *Update
}

// State is everything LoadState recovered.
type State struct {
	Agent      *Agent // nil: never registered, or reset
	Resources  []byte // checkpointed resources JSON; nil if none
	Frameworks []Framework
	Executors  []Executor // ordered by framework, executor, launch time
	Tasks      []Task     // ordered by framework, task id
	Volumes    []Volume   // persistent volume directories, in insertion order
	// Errors are the records skipped by a lenient (non-strict) load, each a
	// *RecordError. Mesos counts them in slave/recovery_errors.
	Errors []error
}

// Validation shared by the write methods and LoadState, so that nothing
// is written that recovery would refuse.

func checkID(what, v string) error {
	if v == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s %q is not valid UTF-8", what, v)
	}
	return nil
}

func checkJSON(what string, b []byte, optional bool) error {
	if len(b) == 0 {
		if optional {
			return nil
		}
		return fmt.Errorf("%s is empty", what)
	}
	if !json.Valid(b) {
		return fmt.Errorf("%s is not valid JSON", what)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (a *Agent) check() error {
	if a.ID != "" {
		if err := checkID("agent id", a.ID); err != nil {
			return err
		}
	}
	return firstErr(checkJSON("agent info", a.Info, true),
		checkUTF8("boot id", a.BootID), checkUTF8("config fingerprint", a.ConfigFingerprint))
}

func checkUTF8(what, v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s %q is not valid UTF-8", what, v)
	}
	return nil
}

func (f *Framework) check() error {
	return firstErr(checkID("framework id", f.ID), checkJSON("framework info", f.Info, false))
}

func (e *Executor) check() error {
	return firstErr(checkID("framework id", e.FrameworkID), checkID("executor id", e.ExecutorID),
		checkID("container id", e.ContainerID), checkID("sandbox", e.Sandbox),
		checkJSON("executor info", e.Info, false))
}

func (t *Task) check() error {
	return firstErr(checkID("framework id", t.FrameworkID), checkID("task id", t.TaskID),
		checkID("executor id", t.ExecutorID), checkID("container id", t.ContainerID),
		checkJSON("task info", t.Info, false), checkID("task state", t.State))
}

func (u *Update) check() error {
	if err := firstErr(checkID("framework id", u.FrameworkID), checkID("task id", u.TaskID),
		checkID("update state", u.State), checkJSON("update body", u.Body, false)); err != nil {
		return err
	}
	if len(u.UUID) == 0 || len(u.UUID) > maxUUID {
		return fmt.Errorf("update uuid has %d bytes, want 1 to %d", len(u.UUID), maxUUID)
	}
	return nil
}

// maxUUID bounds an update uuid (Mesos uses 16 bytes).
const maxUUID = 64

// inherit fills an empty *dst from v and reports a conflict.
func inherit(dst *string, v, what string) error {
	switch {
	case *dst == "":
		*dst = v
	case *dst != v:
		return fmt.Errorf("%w: %s %q differs from the enclosing record's %q", ErrInvalid, what, *dst, v)
	}
	return nil
}

// normalize fills the inner records' ids from the outer ones and checks
// the whole launch.
func (l *Launch) normalize() error {
	if err := l.Framework.check(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	e, t := &l.Executor, &l.Task
	if err := firstErr(inherit(&e.FrameworkID, l.Framework.ID, "executor framework id"),
		inherit(&t.FrameworkID, l.Framework.ID, "task framework id"),
		inherit(&t.ExecutorID, e.ExecutorID, "task executor id"),
		inherit(&t.ContainerID, e.ContainerID, "task container id")); err != nil {
		return err
	}
	if u := l.Update; u != nil {
		if err := firstErr(inherit(&u.FrameworkID, t.FrameworkID, "update framework id"),
			inherit(&u.TaskID, t.TaskID, "update task id")); err != nil {
			return err
		}
		t.State, t.Terminal = u.State, u.Terminal
	}
	for _, c := range []interface{ check() error }{e, t} {
		if err := c.check(); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	if l.Update != nil {
		if err := l.Update.check(); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	if t.Done || e.Completed {
		return fmt.Errorf("%w: a launched task cannot be done, nor its executor run completed", ErrInvalid)
	}
	return nil
}

// Times are stored as unix nanoseconds; 0 is the zero time.

func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
