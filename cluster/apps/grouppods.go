package apps

import (
	"net/http"
	"sort"

	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster/auth"
)

// Pods in groups: a pod's id puts it in a group (GET /v2/groups shows it
// under "pods"), so deleting the group (DELETE /v2/groups/{id}, or a PUT
// that leaves a subgroup out) deletes its pods in the same transaction
// and deployment as its apps, as Marathon's RootGroup removal does.
// Pods in a group's body are refused (parseGroup): they are created
// through /v2/pods.

// removeGroupPodsLocked plans the deletion of the pods under group g;
// false after a 4xx (no right to delete one).
func (a *Apps) removeGroupPodsLocked(w http.ResponseWriter, r *http.Request, g string, p *groupPlan) bool {
	var ids []string
	for id := range a.pods.pods {
		if id != g && under(id, g) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		if !a.permit(w, r, auth.DeleteApps, id) {
			return false
		}
		p.pods = append(p.pods, id)
	}
	return true
}

// podDeleteOps delete pods' definitions and versions.
func podDeleteOps(pods []string) []clientv3.Op {
	var ops []clientv3.Op
	for _, id := range pods {
		ops = append(ops, clientv3.OpDelete(podKey(id)), clientv3.OpDelete(prefixPodVersions+escapeID(id)+"/", clientv3.WithPrefix()),
			clientv3.OpDelete(podTerminationsKey(id)))
	}
	return ops
}

// deletePodsLocked forgets pods once their deletion is committed: the
// scheduler kills their instances.
func (a *Apps) deletePodsLocked(pods []string) {
	for _, id := range pods {
		delete(a.pods.pods, id)
		a.log.Info("pod deleted", "pod_id", id)
		a.publishLocked("pod_deleted_event", map[string]any{"podId": id})
	}
}
