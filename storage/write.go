package storage

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
)

// Every method here is one atomic write: it returns nil only once the
// whole write is durable, and on error nothing of it was stored (except
// where the error says the outcome is unknown because ctx ended).

// PutAgent stores the agent record, replacing the previous one.
func (s *Store) PutAgent(ctx context.Context, a Agent) error {
	if err := a.check(); err != nil {
		return fmt.Errorf("put agent: %w: %v", ErrInvalid, err)
	}
	return s.write(ctx, func(w *wtx) error {
		return w.exec(`INSERT INTO agent (id, agent_id, info, boot_id, config_fingerprint) VALUES (1, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET agent_id = excluded.agent_id, info = excluded.info,
				boot_id = excluded.boot_id, config_fingerprint = excluded.config_fingerprint`,
			a.ID, blob(a.Info), a.BootID, a.ConfigFingerprint)
	})
}

// SetBootID records the host boot id, as Mesos does at the end of every
// successful recovery. The rest of the agent record is kept.
func (s *Store) SetBootID(ctx context.Context, bootID string) error {
	if err := checkUTF8("boot id", bootID); err != nil {
		return fmt.Errorf("set boot id: %w: %v", ErrInvalid, err)
	}
	return s.write(ctx, func(w *wtx) error {
		return w.exec(`INSERT INTO agent (id, boot_id) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET boot_id = excluded.boot_id`, bootID)
	})
}

// ResetAgent forgets the agent's identity and everything it ran:
// frameworks, executors, tasks and their streams. The boot id and the
// checkpointed resources are kept. This is what an agent does after a
// reboot with an incompatible configuration, to register as a new agent.
func (s *Store) ResetAgent(ctx context.Context) error {
	return s.write(ctx, func(w *wtx) error {
		return firstErr(
			w.exec(`UPDATE agent SET agent_id = '', info = x'', config_fingerprint = ''`),
			w.exec(`DELETE FROM frameworks`)) // cascades to executors, tasks, updates
	})
}

// PutResources stores the checkpointed resources (reservations, volumes)
// as one JSON document, replacing the previous one.
func (s *Store) PutResources(ctx context.Context, body []byte) error {
	if err := checkJSON("resources", body, false); err != nil {
		return fmt.Errorf("put resources: %w: %v", ErrInvalid, err)
	}
	return s.write(ctx, func(w *wtx) error {
		return w.exec(`INSERT INTO resources (id, body) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET body = excluded.body`, body)
	})
}

// PutFramework inserts a framework or replaces its info and checkpoint bit.
func (s *Store) PutFramework(ctx context.Context, f Framework) error {
	if err := f.check(); err != nil {
		return fmt.Errorf("put framework: %w: %v", ErrInvalid, err)
	}
	return s.write(ctx, func(w *wtx) error { return putFramework(w, f) })
}

func putFramework(w *wtx, f Framework) error {
	return w.exec(`INSERT INTO frameworks (framework_id, info, checkpoint) VALUES (?, ?, ?)
		ON CONFLICT (framework_id) DO UPDATE SET info = excluded.info, checkpoint = excluded.checkpoint`,
		f.ID, f.Info, f.Checkpoint)
}

// LaunchTask checkpoints a task launch in one transaction: the framework
// (inserted, or its info replaced), the executor run (inserted unless its
// container id is already there, as for a second task of a task group),
// the task, and its first status update if l.Update is set.
// ErrTaskExists if the framework already has the task id.
func (s *Store) LaunchTask(ctx context.Context, l Launch) error {
	if err := l.normalize(); err != nil {
		return fmt.Errorf("launch task: %w", err)
	}
	e, t := l.Executor, l.Task
	now := time.Now()
	if e.LaunchedAt.IsZero() {
		e.LaunchedAt = now
	}
	err := s.write(ctx, func(w *wtx) error {
		if err := putFramework(w, l.Framework); err != nil {
			return err
		}
		n, err := w.rowsAffected(`INSERT INTO executors (container_id, framework_id, executor_id, sandbox, info, launched_at, completed, completed_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (container_id) DO NOTHING`,
			e.ContainerID, e.FrameworkID, e.ExecutorID, e.Sandbox, e.Info, toNanos(e.LaunchedAt), e.Completed, toNanos(e.CompletedAt))
		if err != nil {
			return err
		}
		if n == 0 {
			var fw, ex string
			var completed bool
			if err := w.queryRow(`SELECT framework_id, executor_id, completed FROM executors WHERE container_id = ?`,
				[]any{e.ContainerID}, &fw, &ex, &completed); err != nil {
				return err
			}
			if fw != e.FrameworkID || ex != e.ExecutorID {
				return fmt.Errorf("%w: container %s belongs to executor %q of framework %q", ErrInvalid, e.ContainerID, ex, fw)
			}
			if completed {
				return fmt.Errorf("%w: executor run %s has completed", ErrInvalid, e.ContainerID)
			}
		}
		var exists bool
		if err := w.queryRow(`SELECT EXISTS (SELECT 1 FROM tasks WHERE framework_id = ? AND task_id = ?)`,
			[]any{t.FrameworkID, t.TaskID}, &exists); err != nil {
			return err
		}
		if exists {
			return ErrTaskExists
		}
		res, err := w.execResult(`INSERT INTO tasks (framework_id, task_id, executor_id, container_id, info, state, terminal, done)
			VALUES (?, ?, ?, ?, ?, ?, ?, 0)`,
			t.FrameworkID, t.TaskID, t.ExecutorID, t.ContainerID, t.Info, t.State, t.Terminal)
		if err != nil {
			return err
		}
		if u := l.Update; u != nil {
			row, err := res.LastInsertId()
			if err != nil {
				return err
			}
			return insertUpdate(w, row, *u, 1, now)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("launch task %s: %w", t.Key(), err)
	}
	return nil
}

// insertUpdate appends u as update seq of the stream of the task whose
// row (tasks.id) is task.
func insertUpdate(w *wtx, task int64, u Update, seq int64, now time.Time) error {
	created := u.CreatedAt
	if created.IsZero() {
		created = now
	}
	return w.exec(`INSERT INTO updates (task, seq, uuid, state, terminal, body, created_at, acked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
		task, seq, u.UUID, u.State, u.Terminal, u.Body, toNanos(created))
}

// AppendUpdate appends a status update to its task's stream and moves the
// task to the update's state, in one transaction, and returns the update's
// sequence number. Errors: ErrNotFound (no such task), ErrDuplicateUpdate
// (uuid already in the stream), ErrStreamClosed (the task is done).
func (s *Store) AppendUpdate(ctx context.Context, u Update) (int64, error) {
	if err := u.check(); err != nil {
		return 0, fmt.Errorf("append update: %w: %v", ErrInvalid, err)
	}
	k := TaskKey{u.FrameworkID, u.TaskID}
	now := time.Now()
	// Results of write closures go to variables the caller reads only
	// after a nil error: if ctx ends first, the writer may still set them.
	var seq int64
	err := s.write(ctx, func(w *wtx) error {
		var done bool
		var row, last int64
		err := w.queryRow(`SELECT t.id, t.done, (SELECT COALESCE(MAX(seq), 0) FROM updates WHERE task = t.id)
			FROM tasks t WHERE t.framework_id = ? AND t.task_id = ?`,
			[]any{u.FrameworkID, u.TaskID}, &row, &done, &last)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return ErrNotFound
		case err != nil:
			return err
		case done:
			return ErrStreamClosed
		}
		// A uuid already in the stream breaks the UNIQUE (task, uuid)
		// rule: the write's savepoint undoes the insert.
		if err := insertUpdate(w, row, u, last+1, now); err != nil {
			var se *sqlite.Error
			if errors.As(err, &se) && se.Code() == sqliteConstraintUnique {
				return ErrDuplicateUpdate
			}
			return err
		}
		seq = last + 1
		return w.exec(`UPDATE tasks SET state = ?, terminal = ? WHERE id = ?`, u.State, u.Terminal, row)
	})
	if err != nil {
		return 0, fmt.Errorf("append update %x to task %s: %w", u.UUID, k, err)
	}
	return seq, nil
}

// Ack records the acknowledgement of the head of a task's stream. When
// that leaves nothing pending and the task's state is terminal, the task
// is marked done in the same transaction, and done is true: the stream is
// closed. Errors: ErrNotFound (no such task), ErrAckMismatch (uuid is not
// the head: unknown, out of order, or already acknowledged).
func (s *Store) Ack(ctx context.Context, k TaskKey, uuid []byte) (bool, error) {
	now := toNanos(time.Now())
	var done bool
	err := s.write(ctx, func(w *wtx) error {
		done = false
		var terminal bool
		var row, acked int64
		err := w.queryRow(`SELECT id, terminal, acked_seq FROM tasks WHERE framework_id = ? AND task_id = ?`,
			[]any{k.FrameworkID, k.TaskID}, &row, &terminal, &acked)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		var seq int64
		var head []byte
		err = w.queryRow(`SELECT seq, uuid FROM updates WHERE task = ? AND seq > ? ORDER BY seq LIMIT 1`,
			[]any{row, acked}, &seq, &head)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: nothing is pending", ErrAckMismatch)
		} else if err != nil {
			return err
		}
		if !bytes.Equal(head, uuid) {
			var before bool
			if err := w.queryRow(`SELECT EXISTS (SELECT 1 FROM updates WHERE task = ? AND uuid = ? AND seq <= ?)`,
				[]any{row, uuid, acked}, &before); err != nil {
				return err
			}
			if before {
				return fmt.Errorf("%w: already acknowledged", ErrAckMismatch)
			}
			return fmt.Errorf("%w: the head is %x", ErrAckMismatch, head)
		}
		if err := w.exec(`UPDATE updates SET acked_at = ? WHERE task = ? AND seq = ?`, now, row, seq); err != nil {
			return err
		}
		var pending bool
		if err := w.queryRow(`SELECT EXISTS (SELECT 1 FROM updates WHERE task = ? AND seq > ?)`,
			[]any{row, seq}, &pending); err != nil {
			return err
		}
		done = terminal && !pending
		return w.exec(`UPDATE tasks SET acked_seq = ?, done = ? WHERE id = ?`, seq, done, row)
	})
	if err != nil {
		return false, fmt.Errorf("ack %x of task %s: %w", uuid, k, err)
	}
	return done, nil
}

// CompleteExecutor marks an executor run terminated (Mesos'
// executor.sentinel) at time at (now if zero). Completing a completed run
// keeps the first time.
func (s *Store) CompleteExecutor(ctx context.Context, containerID string, at time.Time) error {
	if at.IsZero() {
		at = time.Now()
	}
	err := s.write(ctx, func(w *wtx) error {
		n, err := w.rowsAffected(`UPDATE executors SET completed = 1, completed_at = ? WHERE container_id = ? AND completed = 0`,
			toNanos(at), containerID)
		if err != nil || n > 0 {
			return err
		}
		return mustExist(w, `SELECT EXISTS (SELECT 1 FROM executors WHERE container_id = ?)`, containerID)
	})
	if err != nil {
		return fmt.Errorf("complete executor run %s: %w", containerID, err)
	}
	return nil
}

func mustExist(w *wtx, q string, args ...any) error {
	var ok bool
	if err := w.queryRow(q, args, &ok); err != nil {
		return err
	}
	if !ok {
		return ErrNotFound
	}
	return nil
}

// remove runs one DELETE and reports ErrNotFound if it deleted nothing.
func (s *Store) remove(ctx context.Context, what, q string, args ...any) error {
	err := s.write(ctx, func(w *wtx) error {
		n, err := w.rowsAffected(q, args...)
		if err == nil && n == 0 {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("remove %s: %w", what, err)
	}
	return nil
}

// RemoveTask deletes a task and its stream.
func (s *Store) RemoveTask(ctx context.Context, k TaskKey) error {
	return s.remove(ctx, "task "+k.String(), `DELETE FROM tasks WHERE framework_id = ? AND task_id = ?`, k.FrameworkID, k.TaskID)
}

// RemoveExecutor deletes an executor run with its tasks and their streams.
func (s *Store) RemoveExecutor(ctx context.Context, containerID string) error {
	return s.remove(ctx, "executor run "+containerID, `DELETE FROM executors WHERE container_id = ?`, containerID)
}

// RemoveFramework deletes a framework with everything it ran here.
func (s *Store) RemoveFramework(ctx context.Context, frameworkID string) error {
	return s.remove(ctx, "framework "+frameworkID, `DELETE FROM frameworks WHERE framework_id = ?`, frameworkID)
}

// Prune garbage-collects the checkpoint: it deletes every executor run
// that completed before the given time and whose tasks are all done,
// together with those tasks, then the frameworks of those runs that have
// no run left. It returns the runs it deleted, so their sandboxes can go too.
func (s *Store) Prune(ctx context.Context, completedBefore time.Time) ([]Executor, error) {
	var gone []Executor
	err := s.write(ctx, func(w *wtx) error {
		gone = gone[:0]
		st, err := w.stmt(`SELECT container_id, framework_id, executor_id, sandbox, info, launched_at, completed_at
			FROM executors e WHERE completed = 1 AND completed_at < ?
			AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.container_id = e.container_id AND t.done = 0)
			ORDER BY completed_at`)
		if err != nil {
			return err
		}
		rows, err := st.QueryContext(context.Background(), toNanos(completedBefore))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e := Executor{Completed: true}
			var launched, completed int64
			if err := rows.Scan(&e.ContainerID, &e.FrameworkID, &e.ExecutorID, &e.Sandbox, &e.Info, &launched, &completed); err != nil {
				return err
			}
			e.LaunchedAt, e.CompletedAt = fromNanos(launched), fromNanos(completed)
			gone = append(gone, e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		for _, e := range gone {
			if err := w.exec(`DELETE FROM executors WHERE container_id = ?`, e.ContainerID); err != nil {
				return err
			}
		}
		for _, e := range gone {
			if err := w.exec(`DELETE FROM frameworks WHERE framework_id = ?
				AND NOT EXISTS (SELECT 1 FROM executors e WHERE e.framework_id = frameworks.framework_id)`, e.FrameworkID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("prune checkpoint: %w", err)
	}
	return gone, nil
}

// blob stores nil as an empty blob (the columns are NOT NULL).
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
