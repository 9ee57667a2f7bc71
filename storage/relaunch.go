package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RelaunchTask moves a live task to a new executor run (container) in one
// transaction: the task's current run is marked completed (its sandbox is
// garbage-collected as any other, see Prune), the new run e is recorded,
// and the task points at it. The task keeps its id, state and status
// stream. The agent relaunches a task marked to restart after a host
// reboot this way (runtime/bootrelaunch.go).
func (s *Store) RelaunchTask(ctx context.Context, k TaskKey, e Executor) error {
	if e.FrameworkID == "" {
		e.FrameworkID = k.FrameworkID
	}
	if err := e.check(); err != nil {
		return fmt.Errorf("relaunch task %s: %w: %v", k, ErrInvalid, err)
	}
	if e.FrameworkID != k.FrameworkID || e.Completed {
		return fmt.Errorf("relaunch task %s: %w: the new run must be a live run of the task's framework", k, ErrInvalid)
	}
	now := time.Now()
	if e.LaunchedAt.IsZero() {
		e.LaunchedAt = now
	}
	err := s.write(ctx, func(w *wtx) error {
		var old, executorID string
		var done bool
		if err := w.queryRow(`SELECT container_id, executor_id, done FROM tasks WHERE framework_id = ? AND task_id = ?`,
			[]any{k.FrameworkID, k.TaskID}, &old, &executorID, &done); errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		if done {
			return fmt.Errorf("%w: the task is done", ErrInvalid)
		}
		if executorID != e.ExecutorID {
			return fmt.Errorf("%w: the task belongs to executor %q, not %q", ErrInvalid, executorID, e.ExecutorID)
		}
		if err := w.exec(`INSERT INTO executors (container_id, framework_id, executor_id, sandbox, info, launched_at, completed, completed_at)
			VALUES (?, ?, ?, ?, ?, ?, 0, 0)`,
			e.ContainerID, e.FrameworkID, e.ExecutorID, e.Sandbox, e.Info, toNanos(e.LaunchedAt)); err != nil {
			return err
		}
		if err := w.exec(`UPDATE tasks SET container_id = ? WHERE framework_id = ? AND task_id = ?`,
			e.ContainerID, k.FrameworkID, k.TaskID); err != nil {
			return err
		}
		return w.exec(`UPDATE executors SET completed = 1, completed_at = ? WHERE container_id = ? AND completed = 0`,
			toNanos(now), old)
	})
	if err != nil {
		return fmt.Errorf("relaunch task %s: %w", k, err)
	}
	return nil
}
