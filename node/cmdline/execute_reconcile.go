package cmdline

import (
	"context"
	"time"

	"nodectl/cluster/api"
)

// Explicit reconciliation of `nodectl execute`'s one task, as the Mesos
// reconciliation guide asks of a scheduler
// (https://mesos.apache.org/documentation/latest/reconciliation/): after
// every re-subscription, and with a capped exponential backoff until the
// task's state ends execute. A master that failed over before it
// recorded the launch, and whose agent never ran it, sends no update of
// its own; asked, it answers TASK_LOST (TASK_GONE/TASK_UNKNOWN for a
// partition-aware framework), so execute ends instead of waiting forever.
// While the task's agent is still re-registering the master stays silent
// (Mesos case "agent transitioning"), hence the retries. They go on, at
// the capped backoff, until execute ends, whatever updates arrive
// meanwhile: an update that is not final (an agent's re-sent
// TASK_STARTING that the restarted master forwards without a record of the
// task, or the master's answer from a stale record) does not mean the task
// will progress. When the agent then re-registers without the task, the
// master has nothing to send on its own; only the next RECONCILE turns it
// into TASK_LOST (the guide: reconcile until every task's state is known,
// and periodically).

const (
	reconcileFirst = time.Second
	reconcileMax   = 30 * time.Second
)

// reconciler paces RECONCILE calls for the task; its timer channel is nil
// while no reconciliation is due.
type reconciler struct {
	timer   *time.Timer
	backoff time.Duration
	pending bool // reconciling: a task is submitted and not final
}

func newReconciler() *reconciler {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &reconciler{timer: t}
}

// C fires when a RECONCILE is due.
func (rc *reconciler) C() <-chan time.Time { return rc.timer.C }

// start asks for a reconciliation right away and then backs off, up to
// reconcileMax, until execute ends: called after each re-subscription
// while a task is submitted and not final.
func (rc *reconciler) start() {
	rc.pending, rc.backoff = true, reconcileFirst
	rc.timer.Reset(0)
}

// fire sends one RECONCILE for r's task and arms the next try.
func (rc *reconciler) fire(ctx context.Context, sub *subscription, r *execRun) {
	if !rc.pending || r.taskID == "" || r.final != nil {
		rc.pending = false
		return
	}
	call := api.Call{Type: api.CallReconcile, Reconcile: &api.ReconcileCall{Tasks: []api.ReconcileTask{{TaskID: api.ID{Value: r.taskID}}}}}
	if r.agentID != "" {
		call.Reconcile.Tasks[0].AgentID = &api.ID{Value: r.agentID}
	}
	// A failed call is retried with the next tick, like an unanswered one.
	_ = sub.call(ctx, call)
	rc.timer.Reset(rc.backoff)
	rc.backoff = min(2*rc.backoff, reconcileMax)
}
