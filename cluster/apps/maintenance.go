package apps

import (
	"time"

	"nodectl/cluster/api"
)

// Maintenance mode, as Marathon 1.x has it
// (https://mesosphere.github.io/marathon/docs/maintenance-mode.html):
// an offer whose unavailability (Mesos maintenance: the agent's machine
// is in the maintenance schedule) has started, or starts within
// Config.MaintenanceDraining, and has not ended is declined as a whole:
// no new task, pod or reservation lands on a machine about to go down.
// Tasks already there are moved off once the window has started, as off
// a draining agent (drain.go: replacements first, within the app's
// upgradeStrategy); POST /machine/down ends what is left.
// Offers of machines whose window is still ahead, or over, are used as
// any other. Config.DisableMaintenanceMode turns this off (Marathon's
// --disable_maintenance_mode).

// underMaintenance says whether o comes from a machine in maintenance at
// now, Marathon's test: now is past start − draining and, if the window
// has a duration, before its end.
func underMaintenance(o api.Offer, now time.Time, draining time.Duration) bool {
	u := o.Unavailability
	if u == nil || u.Start == nil {
		return false
	}
	start := time.Unix(0, u.Start.Nanoseconds)
	if now.Before(start.Add(-draining)) {
		return false
	}
	return u.Duration == nil || now.Before(start.Add(time.Duration(u.Duration.Nanoseconds)))
}

// maintenanceDeclineLocked declines o when its machine is in maintenance;
// it reports whether it did.
func (a *Apps) maintenanceDeclineLocked(o api.Offer, now time.Time) bool {
	if a.cfg.DisableMaintenanceMode || !underMaintenance(o, now, a.cfg.MaintenanceDraining) {
		return false
	}
	refuse := declineBusy // the window may end soon: look again then
	_ = a.cfg.Scheduler.Decline(a.sub, api.DeclineCall{OfferIDs: []api.ID{o.ID}, Filters: &api.Filters{RefuseSeconds: &refuse}})
	a.log.Debug("declined an offer of a machine in maintenance", "agent_id", o.AgentID.Value, "hostname", o.Hostname)
	return true
}
