package apps

import (
	"context"

	"nodectl/cluster/api"
)

// Health events per check, as Marathon's event bus publishes them (Marathon
// docs: event-bus.html, "Health Checks"; one health check actor per check
// of an app, mesosphere/marathon core/health/impl/HealthCheckActor.scala):
//
//   - failed_health_check_event when a check reports a failure, with
//     "healthCheck" that check's definition (as in the app);
//   - health_status_changed_event when a check's health changes, with
//     "alive" that check's.
//
// Besides Marathon's fields (appId, taskId, instanceId, version, alive;
// appId, taskId, healthCheck) both carry the check's definition as
// "healthCheck" (Marathon's health_status_changed_event has none, so
// several checks of one task could not be told apart) and
// failed_health_check_event the failure's "cause". A task with one check
// has one event per report of it; with several (api.TaskStatus.HealthChecks,
// healthchecks.go) one per check whose result changed.

// healthEventsLocked are the health events of a health report of t (old is
// t before it), to be published once the report is persisted.
func (a *Apps) healthEventsLocked(old, t *task, alive bool, cause string, results []api.CheckResult) []func() {
	defs := a.taskCheckDefsLocked(t)
	var events []func()
	emit := func(i int, alive, changed, failed bool, cause string) {
		fields := func() map[string]any {
			m := map[string]any{"appId": t.AppID, "taskId": t.ID, "instanceId": t.ID, "version": t.Version}
			if i < len(defs) {
				hc := defs[i]
				m["healthCheck"] = &hc
			}
			return m
		}
		if failed {
			f := fields()
			f["cause"] = cause
			events = append(events, func() { a.publishLocked("failed_health_check_event", f) })
		}
		if changed {
			f := fields()
			f["alive"] = alive
			events = append(events, func() { a.publishLocked("health_status_changed_event", f) })
		}
	}
	if len(results) == 0 { // one check: the task's health is its
		emit(0, alive, old.Health == nil || old.Health.Alive != alive, !alive, cause)
		return events
	}
	for i, r := range results {
		if r.Healthy == nil {
			continue // no verdict yet
		}
		var had, was bool // a verdict before, and which
		if i < len(old.Checks) {
			p := old.Checks[i]
			had, was = p.Alive || !p.LastFailure.IsZero(), p.Alive
		}
		now := *r.Healthy
		emit(i, now, !had || was != now, !now && (!had || was), r.Message)
	}
	return events
}

// taskCheckDefsLocked are the health checks of t's app version, in the
// order of its health results (those healthChecks launched it with; nil
// when that version is gone). A task of an older configuration reads its
// version from the store.
func (a *Apps) taskCheckDefsLocked(t *task) []HealthCheck {
	st := a.apps[t.AppID]
	if st == nil || st.def == nil {
		return nil
	}
	def := st.def
	if def.VersionInfo == nil || def.VersionInfo.LastConfigChangeAt != t.ConfigVersion {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		v, err := a.versionAt(ctx, t.AppID, st.versions, def, t.Version)
		cancel()
		if err != nil || v == nil {
			return nil
		}
		def = v
	}
	var out []HealthCheck
	for _, h := range def.HealthChecks {
		if healthCheck(h, t.Ports) != nil {
			out = append(out, h)
		}
	}
	return out
}
