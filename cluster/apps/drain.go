package apps

import (
	"nodectl/cluster"
	"nodectl/cluster/api"
)

// Agent draining (Mesos' DRAIN_AGENT, DEACTIVATE_AGENT; cluster/drain.go)
// and machines in maintenance: an app task on such an agent is replaced
// as a task of an old config is in a rolling restart (planFor): the
// replacement is launched elsewhere first, within maximumOverCapacity,
// and the old task is killed only while at least minimumHealthCapacity of
// the instances stay healthy (health and readiness checks included). The
// framework says so to the master (cluster.LabelReplacesOnDrain), which
// then leaves these tasks to it rather than killing them at once, so a
// drain never takes more of an app down than its upgradeStrategy allows.
//
// Pod instances move the same way, within the pod's
// scheduling.upgrade (podPlan). Resident tasks and pod instances
// (persistent volumes) are not moved: their data is on the agent. They keep running, and the agent stays DRAINING, until the
// operator acts (kills or scales the app, or waits for the maintenance to
// end) — the same as Marathon, which never moves a resident task.

// drainLabels mark the framework as one that replaces its own tasks on
// draining agents.
func drainLabels() *api.Labels {
	return &api.Labels{Labels: []api.Label{{Key: cluster.LabelReplacesOnDrain, Value: "true"}}}
}

// drainingLocked marks the tasks on draining agents (Config.DrainingAgents).
func (a *Apps) drainingLocked() {
	var draining map[string]bool
	if a.cfg.DrainingAgents != nil {
		draining = a.cfg.DrainingAgents(!a.cfg.DisableMaintenanceMode)
	}
	for _, t := range a.tasks {
		was := t.Draining
		t.Draining = t.AgentID != "" && draining[t.AgentID]
		if t.Draining && !was {
			a.revive = true // the replacement needs offers
			a.log.Info("app task on a draining agent; replacing it", "app_id", t.AppID, "task_id", t.ID, "agent_id", t.AgentID)
		}
	}
	for _, i := range a.pods.instances {
		was := i.Draining
		// A resident instance stays with its volumes.
		i.Draining = i.AgentID != "" && i.Reservation == "" && draining[i.AgentID]
		if i.Draining && !was {
			a.revive = true
			a.log.Info("pod instance on a draining agent; replacing it", "pod_id", i.PodID, "instance_id", i.ID, "agent_id", i.AgentID)
		}
	}
}
