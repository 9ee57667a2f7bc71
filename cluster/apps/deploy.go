package apps

import (
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

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
	// Originals are the apps of a multi-app deployment (bulk updates,
	// groups; deploymany.go) before it, by id (nil: created by it).
	Originals map[string]*App `json:"originals,omitempty"`
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

// newDeploymentLocked builds a deployment of one action on app id; it is
// tracked once persisted (recordDeploymentLocked).
func (a *Apps) newDeploymentLocked(action, id, version string, original *App) *Deployment {
	act := Action{Action: action, App: id, ReadinessCheckResults: []any{}}
	return &Deployment{
		ID: a.cfg.NewID(), Version: version, AffectedApps: []string{id}, AffectedPods: []string{},
		Steps: []Step{{Actions: []Action{act}}}, CurrentActions: []Action{act}, CurrentStep: 1, TotalSteps: 1,
		Original: original,
	}
}

// deploymentOp persists d, in the transaction of the change it deploys.
func deploymentOp(d *Deployment) (clientv3.Op, error) {
	return putOp(prefixDeployments+d.ID, d)
}

// recordDeploymentLocked tracks a persisted deployment.
func (a *Apps) recordDeploymentLocked(d *Deployment) {
	a.addDeploymentLocked(d)
	a.log.Info("deployment started", "deployment_id", d.ID, "app_id", d.CurrentActions[0].App, "action", d.CurrentActions[0].Action)
	a.publishLocked("deployment_info", map[string]any{"plan": planJSON(d), "currentStep": d.Steps[0]})
	a.revive = true
	a.poke()
}

// deploymentOfLocked is the running deployment that locks app id.
func (a *Apps) deploymentOfLocked(id string) *Deployment {
	for _, d := range a.deploymentsByApp[id] {
		return d
	}
	return nil
}

// addDeploymentLocked and removeDeploymentLocked keep a.deployments and
// its index by affected app (deploymentOfLocked: asked per app by every
// create, update and listing; a scan of every deployment's apps made a
// group of n apps cost n² to deploy and to list).
func (a *Apps) addDeploymentLocked(d *Deployment) {
	if old := a.deployments[d.ID]; old != nil {
		a.removeDeploymentLocked(old)
	}
	a.deployments[d.ID] = d
	for _, id := range d.AffectedApps {
		of := a.deploymentsByApp[id]
		if of == nil {
			of = map[string]*Deployment{}
			a.deploymentsByApp[id] = of
		}
		of[d.ID] = d
	}
}

func (a *Apps) removeDeploymentLocked(d *Deployment) {
	delete(a.deployments, d.ID)
	for _, id := range d.AffectedApps {
		if of := a.deploymentsByApp[id]; of != nil {
			delete(of, d.ID)
			if len(of) == 0 {
				delete(a.deploymentsByApp, id)
			}
		}
	}
}

// dropDeploymentLocked stops tracking a deployment that did not finish
// (cancelled, rolled back or overridden), once its deletion is persisted
// (dropOp, in the transaction of the change that drops it).
func (a *Apps) dropDeploymentLocked(d *Deployment) {
	a.publishLocked("deployment_failed", map[string]any{"id": d.ID, "plan": planJSON(d)})
	a.removeDeploymentLocked(d)
}

// dropOp deletes deployment d.
func dropOp(d *Deployment) clientv3.Op { return clientv3.OpDelete(prefixDeployments + d.ID) }

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

// finishDeploymentsLocked forgets the deployments whose apps and pods
// have converged, and publishes their success.
//
// The deployments that finish in one step are deleted together, in as few
// transactions as etcd takes (batch.go). One commit each, under the lock
// every API call waits for, held it for seconds when thousands finished
// at once (10,000 apps made in make bench-scale: a GET /v2/apps waited
// 12 s). A failed delete leaves those deployments for the next step.
func (a *Apps) finishDeploymentsLocked() {
	var done []*Deployment
	for _, d := range a.deployments {
		ok := a.podsConvergedLocked(d) // poddeploy.go
		for _, id := range d.AffectedApps {
			if !a.convergedLocked(id) {
				ok = false
			}
		}
		if ok {
			done = append(done, d)
		}
	}
	if len(done) == 0 {
		return
	}
	ops := make([]clientv3.Op, len(done))
	for i, d := range done {
		ops[i] = dropOp(d)
	}
	n, err := a.store.commitChunked(ops, a.txnOps())
	if err != nil {
		a.log.Warn("forget finished deployments; retried at the next step", "deployments", len(done)-n, "err", err)
	}
	for _, d := range done[:n] {
		a.removeDeploymentLocked(d)
		a.log.Info("deployment finished", "deployment_id", d.ID)
		a.publishLocked("deployment_step_success", map[string]any{"plan": planJSON(d), "currentStep": d.Steps[0]})
		a.publishLocked("deployment_success", map[string]any{"id": d.ID, "plan": planJSON(d)})
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
