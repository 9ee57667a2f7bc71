package storage

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("checkpoint store closed")
	// ErrInvalid: a record given to a write method is malformed (missing
	// id, JSON blob that does not parse, ids that disagree).
	ErrInvalid = errors.New("invalid checkpoint record")
	// ErrNotFound: the task, executor or framework is not in the store.
	ErrNotFound = errors.New("not in checkpoint")
	// ErrTaskExists: LaunchTask for a task id the framework already has.
	ErrTaskExists = errors.New("task already checkpointed")
	// ErrDuplicateUpdate: a status update whose uuid is already in the
	// task's stream. Mesos ignores such duplicates.
	ErrDuplicateUpdate = errors.New("duplicate status update")
	// ErrAckMismatch: an acknowledgement whose uuid is not the head (the
	// oldest unacknowledged update) of the task's stream.
	ErrAckMismatch = errors.New("acknowledgement does not match the head of the stream")
	// ErrStreamClosed: an update for a task whose terminal update was
	// already acknowledged.
	ErrStreamClosed = errors.New("status update stream closed")
	// ErrNewerSchema: the database was written by a newer nodectl.
	ErrNewerSchema = errors.New("checkpoint written by a newer nodectl")
	// ErrCorrupt: the database file is damaged (see CorruptError).
	ErrCorrupt = errors.New("checkpoint database damaged")
	// ErrBadRecord: LoadState met a record it cannot decode or that
	// contradicts another one (see RecordError).
	ErrBadRecord = errors.New("bad checkpoint record")
)

// CorruptError reports a damaged database file in words for an operator.
type CorruptError struct {
	Path   string // the database file
	Detail string // what sqlite said, e.g. "database disk image is malformed"
	Err    error  // the underlying error, if any
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("checkpoint database %s is damaged (%s): restart the agent with --no-strict to move it aside and start fresh, "+
		"or remove %s (and its -wal and -shm files) and restart with --no-strict to start fresh; running tasks are then not recovered", e.Path, e.Detail, e.Path)
}

func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }
func (e *CorruptError) Unwrap() error        { return e.Err }

// RecordError names one record LoadState could not use and why.
type RecordError struct {
	Table   string // e.g. "tasks"
	RowID   int64  // sqlite rowid; 0 for the updates table, whose Key names the row
	Key     string // the record's ids as far as they could be read
	Problem string
}

func (e *RecordError) Error() string {
	row := e.Key
	if e.RowID != 0 {
		row = strings.TrimSpace(fmt.Sprintf("rowid %d %s", e.RowID, e.Key))
	}
	return fmt.Sprintf("table %s %s: %s", e.Table, row, e.Problem)
}

func (e *RecordError) Is(target error) bool { return target == ErrBadRecord }
