package apps

import "time"

// Deployment actions.
const (
	ActionStart   = "StartApplication"
	ActionStop    = "StopApplication"
	ActionScale   = "ScaleApplication"
	ActionRestart = "RestartApplication"
)

// Deployment is one versioned change of an app, done in steps (nodectl's
// plans have one step of one action). It is done when the app's tasks
// match its definition (planFor has nothing left to do and every task
// runs, and is healthy when it has a health check); a cancelled one
// simply stops being tracked (deployment_failed on /v2/events).
type Deployment struct {
	ID             string   `json:"id"`
	Version        string   `json:"version"`
	AffectedApps   []string `json:"affectedApps"`
	AffectedPods   []string `json:"affectedPods"`
	Steps          []Step   `json:"steps"`
	CurrentActions []Action `json:"currentActions"`
	CurrentStep    int      `json:"currentStep"`
	TotalSteps     int      `json:"totalSteps"`
	// Original is the app before the change, for rollback (nil: it did
	// not exist).
	Original *App `json:"original,omitempty"`
}

// Step is a set of actions done together.
type Step struct {
	Actions []Action `json:"actions"`
}

// Action is one app's part of a step.
type Action struct {
	Action                string `json:"action"`
	App                   string `json:"app"`
	ReadinessCheckResults []any  `json:"readinessCheckResults"`
}

// startDeploymentLocked records a deployment of one action on app id.
func (a *Apps) startDeploymentLocked(action, id, version string, original *App) *Deployment {
	act := Action{Action: action, App: id, ReadinessCheckResults: []any{}}
	d := &Deployment{
		ID: a.cfg.NewID(), Version: version, AffectedApps: []string{id}, AffectedPods: []string{},
		Steps: []Step{{Actions: []Action{act}}}, CurrentActions: []Action{act}, CurrentStep: 1, TotalSteps: 1,
		Original: original,
	}
	a.deployments[d.ID] = d
	if err := a.store.put(prefixDeployments+d.ID, d); err != nil {
		a.log.Warn("persist deployment", "deployment_id", d.ID, "err", err)
	}
	a.log.Info("deployment started", "deployment_id", d.ID, "app_id", id, "action", action)
	a.publishLocked("deployment_info", map[string]any{"plan": planJSON(d), "currentStep": d.Steps[0]})
	a.revive = true
	a.poke()
	return d
}

// deploymentOfLocked is the running deployment that locks app id.
func (a *Apps) deploymentOfLocked(id string) *Deployment {
	for _, d := range a.deployments {
		for _, x := range d.AffectedApps {
			if x == id {
				return d
			}
		}
	}
	return nil
}

// dropDeploymentLocked stops tracking a deployment that did not finish
// (cancelled, rolled back or overridden).
func (a *Apps) dropDeploymentLocked(d *Deployment) {
	a.publishLocked("deployment_failed", map[string]any{"id": d.ID, "plan": planJSON(d)})
	a.forgetDeploymentLocked(d)
}

func (a *Apps) forgetDeploymentLocked(d *Deployment) {
	delete(a.deployments, d.ID)
	if err := a.store.del(prefixDeployments + d.ID); err != nil {
		a.log.Warn("forget deployment", "deployment_id", d.ID, "err", err)
	}
}

// convergedLocked: the app's tasks are what its definition asks for.
func (a *Apps) convergedLocked(id string) bool {
	st := a.apps[id]
	ts := a.tasksOfLocked(id)
	if st == nil || st.def == nil {
		return len(ts) == 0
	}
	p := planFor(st.def, ts)
	if p.launch > 0 || len(p.kill) > 0 {
		return false
	}
	for _, t := range ts {
		if t.Inactive {
			continue // replaced; waits for its expunge
		}
		if t.Killing || !t.healthy() {
			return false
		}
	}
	return true
}

func (a *Apps) finishDeploymentsLocked() {
	for _, d := range a.deployments {
		done := true
		for _, id := range d.AffectedApps {
			if !a.convergedLocked(id) {
				done = false
			}
		}
		if done {
			a.log.Info("deployment finished", "deployment_id", d.ID)
			a.publishLocked("deployment_step_success", map[string]any{"plan": planJSON(d), "currentStep": d.Steps[0]})
			a.publishLocked("deployment_success", map[string]any{"id": d.ID, "plan": planJSON(d)})
			a.forgetDeploymentLocked(d)
		}
	}
}

// planJSON is a deployment plan as events show it (Marathon's
// DeploymentPlan: id, version, steps; original/target apps left out).
func planJSON(d *Deployment) map[string]any {
	return map[string]any{"id": d.ID, "version": d.Version, "steps": d.Steps, "affectedApps": d.AffectedApps}
}

// nextVersionLocked is a fresh version timestamp, later than any before.
func (a *Apps) nextVersionLocked() string {
	now := a.cfg.Now().UTC().Truncate(time.Millisecond)
	if !now.After(a.lastVersion) {
		now = a.lastVersion.Add(time.Millisecond)
	}
	a.lastVersion = now
	return formatTime(now)
}
