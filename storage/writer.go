package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Group commit. Every write is a function run by the one writer goroutine
// inside a transaction. Whatever writes are queued when a transaction
// starts share it, so N concurrent writers pay for one fsync instead of N,
// and each caller is answered only after COMMIT returned (with
// synchronous=FULL, after the WAL was fsynced). Each write runs in its own
// SAVEPOINT, so a write that fails leaves no trace while the others in its
// batch still commit.
//
// Statements inside the transaction never see a caller's context: sqlite
// answers an interrupted write by rolling back the whole transaction, which
// would take the other callers' writes with it. A caller's context is
// checked before its write starts and bounds how long the caller waits.

// op is one queued write.
type op struct {
	ctx  context.Context
	fn   func(*wtx) error
	done chan error // buffered: the writer never blocks on a gone caller
}

// write queues fn and waits until it is durable or failed. If ctx ends
// while waiting, the write may still commit.
func (s *Store) write(ctx context.Context, fn func(*wtx) error) error {
	o := &op{ctx: ctx, fn: fn, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed || s.ops == nil {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.ops <- o:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w (the write may still be committed)", ctx.Err())
	}
}

// writeLoop owns s.wc until Close: it commits batches until ops is closed
// and drained.
func (s *Store) writeLoop() {
	defer close(s.wdone)
	batch := make([]*op, 0, s.maxBatch)
	for o := range s.ops {
		batch = append(batch[:0], o)
	fill:
		for len(batch) < s.maxBatch {
			select {
			case o, ok := <-s.ops:
				if !ok {
					break fill
				}
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

// commit runs one batch in one transaction and answers every op.
func (s *Store) commit(batch []*op) {
	res := make([]error, len(batch))
	defer func() {
		for i, o := range batch {
			o.done <- res[i]
		}
	}()
	w := &wtx{s: s}
	failAll := func(err error) {
		for i := range res {
			if res[i] == nil {
				res[i] = err
			}
		}
	}
	if err := w.execNoCache("BEGIN IMMEDIATE"); err != nil {
		failAll(s.wrapErr("begin write on", err))
		return
	}
	ok := 0
	for i, o := range batch {
		if err := o.ctx.Err(); err != nil {
			res[i] = err
			continue
		}
		if err := w.exec("SAVEPOINT w"); err != nil {
			s.rollback(w)
			failAll(s.wrapErr("write", err))
			return
		}
		if err := o.fn(w); err != nil {
			res[i] = s.classify(err)
			// A failed ROLLBACK TO means sqlite already rolled back the whole
			// transaction (I/O error, disk full): nothing in it survives.
			if rerr := errors.Join(w.exec("ROLLBACK TO w"), w.exec("RELEASE w")); rerr != nil {
				s.rollback(w)
				failAll(s.wrapErr("write", fmt.Errorf("transaction lost after %v: %w", err, rerr)))
				return
			}
			continue
		}
		if err := w.exec("RELEASE w"); err != nil {
			s.rollback(w)
			failAll(s.wrapErr("write", err))
			return
		}
		ok++
	}
	if ok == 0 {
		s.rollback(w)
		return
	}
	if err := w.execNoCache("COMMIT"); err != nil {
		s.rollback(w)
		failAll(s.wrapErr("commit to", err))
		return
	}
	s.commits.Add(1)
	s.writes.Add(int64(ok))
}

func (s *Store) rollback(w *wtx) {
	if err := w.execNoCache("ROLLBACK"); err != nil {
		// "no transaction is active" after sqlite's own rollback is fine.
		s.log.Debug("rollback", "err", err)
	}
}

// wtx is the writer's handle inside a batch transaction. Statements are
// prepared once on the writer connection and reused.
type wtx struct{ s *Store }

func (w *wtx) stmt(q string) (*sql.Stmt, error) {
	if st, ok := w.s.stmts[q]; ok {
		return st, nil
	}
	st, err := w.s.wc.PrepareContext(context.Background(), q)
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", q, err)
	}
	w.s.stmts[q] = st
	return st, nil
}

func (w *wtx) exec(q string, args ...any) error {
	_, err := w.execResult(q, args...)
	return err
}

func (w *wtx) execResult(q string, args ...any) (sql.Result, error) {
	st, err := w.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(context.Background(), args...)
}

// execNoCache runs transaction control statements, which are not worth
// preparing (and COMMIT must not be a lingering prepared statement).
func (w *wtx) execNoCache(q string) error {
	_, err := w.s.wc.ExecContext(context.Background(), q)
	return err
}

// queryRow runs a one-row query; sql.ErrNoRows if there is none.
func (w *wtx) queryRow(q string, args []any, dest ...any) error {
	st, err := w.stmt(q)
	if err != nil {
		return err
	}
	return st.QueryRowContext(context.Background(), args...).Scan(dest...)
}

// rowsAffected runs q and returns how many rows it changed.
func (w *wtx) rowsAffected(q string, args ...any) (int64, error) {
	r, err := w.execResult(q, args...)
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}
