package apps

import (
	"time"

	"nodectl/cluster/api"
)

// Per-check health: an app with several health checks has each checked by
// the agent (api.TaskInfo.MoreHealthChecks), which reports, with each
// health update, every check's latest result
// (api.TaskStatus.HealthChecks). A task's healthCheckResults then hold one
// entry per check, in the app's healthChecks order, as Marathon shows them
// (Marathon docs: health-checks.html, "healthCheckResults"); the task is
// healthy when all are.

// recordChecks folds a health update's per-check results into t.Checks
// (nothing for a single check: t.Health is its health).
func (t *task) recordChecks(results []api.CheckResult, now time.Time) {
	if len(results) == 0 {
		return
	}
	if len(t.Checks) != len(results) {
		t.Checks = make([]health, len(results))
	}
	for i, r := range results {
		if r.Healthy == nil {
			continue // no verdict yet
		}
		c := &t.Checks[i]
		if *r.Healthy { // its latest probe passed
			c.Alive, c.ConsecutiveFailures, c.LastSuccess = true, 0, now
			if c.FirstSuccess.IsZero() {
				c.FirstSuccess = now
			}
			continue
		}
		if c.Alive || c.LastFailure.IsZero() { // a new failure, not one reported again with another check's change
			c.ConsecutiveFailures++
			c.LastFailure = now
		}
		c.Alive, c.LastFailureCause = false, r.Message
	}
}

// healthResultJSON is one entry of a task's healthCheckResults (Marathon's
// Health).
func healthResultJSON(t *task, h *health, ts func(time.Time) any) map[string]any {
	r := map[string]any{
		"alive": h.Alive, "consecutiveFailures": h.ConsecutiveFailures, "firstSuccess": ts(h.FirstSuccess),
		"lastSuccess": ts(h.LastSuccess), "lastFailure": ts(h.LastFailure), "taskId": t.ID, "instanceId": t.ID,
	}
	if h.LastFailureCause != "" {
		r["lastFailureCause"] = h.LastFailureCause
	}
	return r
}
