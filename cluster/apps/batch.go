package apps

import (
	"errors"

	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster"
	"nodectl/cluster/api"
)

// Batched writes. A burst (an app scaled to 50 instances on one agent)
// used to cost one etcd transaction per task staged and one per status
// update, one after another, each a Raft round with a WAL fsync. Here the
// tasks placed in one offer are written in one transaction, and the status
// updates that arrive together are written together (a group commit:
// whatever is queued when the previous write ends, with no added delay).
// Nothing of the safety changes: every transaction is fenced by the term
// (store.commit), a task is written before its ACCEPT and a status update
// before its acknowledgement, and a task's writes keep their order.

// commitChunked commits ops in order, in as few fenced transactions as
// etcd takes (txnOps operations, maxTxnBytes bytes each). It returns how
// many of ops are committed: all, or those before the transaction that
// failed, with its error.
func (s *store) commitChunked(ops []clientv3.Op, maxOps int) (int, error) {
	done := 0
	for done < len(ops) {
		n, size := 0, 0
		for done+n < len(ops) && n < maxOps {
			b := opsBytes(ops[done+n : done+n+1])
			if n > 0 && size+b > maxTxnBytes {
				break
			}
			size += b
			n++
		}
		if err := s.commit(ops[done : done+n]...); err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

// stagedTask is a task placed in an offer and its checkpoint.
type stagedTask struct {
	t  *task
	op clientv3.Op
}

// commitStagedLocked checkpoints the tasks placed in one offer together
// and returns the launches of those that are written; the others are
// forgotten (their launch is retried with a later offer).
func (a *Apps) commitStagedLocked(staged []stagedTask, infos []api.TaskInfo) []api.TaskInfo {
	ops := make([]clientv3.Op, len(staged))
	for i, s := range staged {
		ops[i] = s.op
	}
	n, err := a.store.commitChunked(ops, a.txnOps())
	if err != nil {
		a.log.Warn("checkpoint tasks before launch", "tasks", len(staged)-n, "err", err)
		for _, s := range staged[n:] {
			a.removeTaskLocked(s.t.ID)
		}
	}
	for _, s := range staged[:n] {
		a.log.Info("launching app task", "app_id", s.t.AppID, "task_id", s.t.ID, "agent_id", s.t.AgentID)
	}
	return infos[:n]
}

// updateBatch collects the writes of status updates handled together:
// per update its task's write (none when nothing persisted changed),
// how to undo its change to the task, and what follows once it is
// written (the acknowledgement, events, bookkeeping).
type updateBatch struct {
	items []batchedUpdate
	ops   []clientv3.Op  // one per key, in the order of its last change
	keyOp map[string]int // key → its op in ops
	gone  map[string]bool
}

type batchedUpdate struct {
	key     string
	revert  func()
	applied func()
}

func newUpdateBatch() *updateBatch {
	return &updateBatch{keyOp: map[string]int{}, gone: map[string]bool{}}
}

// add queues one update. A later write of the same key replaces the
// earlier one: it carries the task's newer state (etcd refuses two
// writes of one key in a transaction).
func (b *updateBatch) add(key string, op *clientv3.Op, revert, applied func()) {
	b.items = append(b.items, batchedUpdate{key: key, revert: revert, applied: applied})
	if op == nil {
		return
	}
	if i, ok := b.keyOp[key]; ok {
		b.ops[i] = *op
	} else {
		b.keyOp[key] = len(b.ops)
		b.ops = append(b.ops, *op)
	}
	if op.IsDelete() {
		b.gone[key] = true
	}
}

// handleEventBatch handles one batch of the framework's events in order; the
// status updates among them that follow each other are persisted
// together (handleUpdates).
func (a *Apps) handleEventBatch(evs []api.Event) error {
	for i := 0; i < len(evs); {
		if evs[i].Type != api.EventUpdate || evs[i].Update == nil {
			if err := a.handle(evs[i]); err != nil {
				return err
			}
			i++
			continue
		}
		var sts []api.TaskStatus
		for ; i < len(evs) && evs[i].Type == api.EventUpdate && evs[i].Update != nil; i++ {
			sts = append(sts, evs[i].Update.Status)
		}
		if err := a.handleUpdates(sts); err != nil {
			return err
		}
	}
	return nil
}

// handleUpdates applies status updates as updateLocked does one by one,
// except that the writes of app tasks' updates go to etcd together, and
// each is acknowledged (and its events published) once they are written.
// An update of anything else (a pod's task, a resident task whose
// reservation is not yet confirmed, a task not known), or of a task whose
// end is queued in the batch, first commits what is queued.
func (a *Apps) handleUpdates(sts []api.TaskStatus) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(sts) == 1 {
		return a.updateLocked(sts[0])
	}
	b := newUpdateBatch()
	for _, st := range sts {
		if b.gone[prefixTasks+st.TaskID.Value] {
			if err := a.flushUpdatesLocked(b); err != nil {
				return err
			}
			b = newUpdateBatch()
		}
		batchable := a.batchableLocked(st)
		if !batchable {
			if err := a.flushUpdatesLocked(b); err != nil {
				return err
			}
			b = newUpdateBatch()
		}
		if batchable {
			a.updBatch = b
		}
		err := a.updateLocked(st)
		a.updBatch = nil
		if err != nil {
			return err
		}
	}
	return a.flushUpdatesLocked(b)
}

// batchableLocked: st is an update of a known app task whose handling
// writes nothing but the task (updateLocked's common case).
func (a *Apps) batchableLocked(st api.TaskStatus) bool {
	id := st.TaskID.Value
	if a.tasks[id] == nil {
		return false
	}
	if i, _ := a.podTaskLocked(id); i != nil {
		return false
	}
	if st.Source != api.SourceMaster {
		if r := a.reservationOfTaskLocked(id); r != nil && !r.Confirmed {
			return false
		}
	}
	return true
}

// flushUpdatesLocked writes a batch's tasks, then acknowledges and applies
// the updates written. Those whose task could not be written are undone
// (newest first, back to the task before the batch) and left
// unacknowledged: the agent sends them again. Lost leadership is the
// error, as in updateLocked.
func (a *Apps) flushUpdatesLocked(b *updateBatch) error {
	if len(b.items) == 0 {
		return nil
	}
	n, err := a.store.commitChunked(b.ops, a.txnOps())
	failed := func(key string) bool {
		i, ok := b.keyOp[key]
		return ok && i >= n
	}
	if err != nil {
		for i := len(b.items) - 1; i >= 0; i-- {
			if it := b.items[i]; failed(it.key) {
				it.revert()
			}
		}
	}
	for _, it := range b.items {
		if !failed(it.key) {
			it.applied()
		}
	}
	if err != nil {
		if errors.Is(err, cluster.ErrLostLeadership) {
			return err
		}
		a.log.Warn("status updates not persisted; left unacknowledged for a retry", "updates", len(b.ops)-n, "err", err)
	}
	return nil
}
