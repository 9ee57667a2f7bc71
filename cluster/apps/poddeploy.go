package apps

import (
	"net/http"

	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster/auth"
)

// Pod deployments: creating, changing or deleting a pod starts a
// deployment (Marathon-Deployment-Id, /v2/deployments) that affects the
// pod alone and finishes once the pod converged: STABLE with its wanted
// instances of the current version, or, after a delete, no instance left.

// Marathon's pod deployment actions.
const (
	actionStartPod   = "StartPod"
	actionRestartPod = "RestartPod"
	actionScalePod   = "ScalePod"
	actionStopPod    = "StopPod"
)

// newPodDeploymentLocked builds a deployment of one action on pod id.
func (a *Apps) newPodDeploymentLocked(action, id, version string) *Deployment {
	act := Action{Action: action, App: id, ReadinessCheckResults: []any{}}
	return &Deployment{
		ID: a.cfg.NewID(), Version: version, AffectedApps: []string{}, AffectedPods: []string{id},
		Steps: []Step{{Actions: []Action{act}}}, CurrentActions: []Action{act}, CurrentStep: 1, TotalSteps: 1,
	}
}

// podDeploymentOpsLocked are the ops that replace the pod's running
// deployments by d (in the transaction of the change d deploys).
func (a *Apps) podDeploymentOpsLocked(d *Deployment) ([]clientv3.Op, []*Deployment, error) {
	op, err := deploymentOp(d)
	if err != nil {
		return nil, nil, err
	}
	ops := []clientv3.Op{op}
	var old []*Deployment
	for _, x := range a.deployments {
		for _, p := range x.AffectedPods {
			if p == d.AffectedPods[0] {
				old = append(old, x)
				ops = append(ops, dropOp(x))
			}
		}
	}
	return ops, old, nil
}

// startPodDeploymentLocked tracks d once committed, dropping what it replaced.
func (a *Apps) startPodDeploymentLocked(d *Deployment, replaced []*Deployment) {
	for _, x := range replaced {
		a.dropDeploymentLocked(x)
	}
	a.addDeploymentLocked(d)
	a.log.Info("deployment started", "deployment_id", d.ID, "pod_id", d.AffectedPods[0], "action", d.CurrentActions[0].Action)
	a.publishLocked("deployment_info", map[string]any{"plan": planJSON(d), "currentStep": d.Steps[0]})
	a.revive = true
	a.poke()
}

// podsConvergedLocked: every pod d affects converged.
func (a *Apps) podsConvergedLocked(d *Deployment) bool {
	for _, id := range d.AffectedPods {
		insts := a.instancesOfLocked(id)
		ps := a.pods.pods[id]
		if ps == nil {
			if len(insts) > 0 {
				return false
			}
			continue
		}
		if st := podStatusOf(ps.def, insts); st != podStable && st != podTerminal {
			return false
		}
	}
	return true
}

// cancelPodDeploymentLocked is DELETE /v2/deployments/{id} of a pod's
// deployment: with force it stops tracking it; a rollback of a pod is
// not implemented and is refused (409) rather than done differently.
func (a *Apps) cancelPodDeploymentLocked(w http.ResponseWriter, r *http.Request, d *Deployment) {
	for _, p := range d.AffectedPods {
		if !a.permit(w, r, auth.UpdateApps, p) {
			return
		}
	}
	if !isTrue(r, "force") {
		writeMessage(w, http.StatusConflict, "rolling back a pod deployment is not yet supported by nodectl; cancel it with force=true, or PUT the pod's previous version (GET /v2/pods/{id}::versions)")
		return
	}
	if err := a.store.commit(dropOp(d)); err != nil {
		writeMessage(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	a.dropDeploymentLocked(d)
	w.WriteHeader(http.StatusAccepted)
}
