package apps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster/auth"
)

// /v2/pods (Marathon's pods.raml). Each handler checks the caller's app
// permission on the pod id, as for apps (authz.go).

func podNotFound(w http.ResponseWriter, id string) {
	writeMessage(w, http.StatusNotFound, fmt.Sprintf("Pod '%s' does not exist", id))
}

// podPath splits /v2/pods/<rest> into a pod id and what follows "::"
// (status, versions[/v], instances[/i]).
func podPath(r *http.Request) (id, sub, arg string) {
	rest := strings.Trim(r.PathValue("rest"), "/")
	rest, sub, _ = strings.Cut(rest, "::")
	sub, arg, _ = strings.Cut(sub, "/")
	return canonicalID(rest), sub, arg
}

func (a *Apps) handlePodList(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := []*Pod{}
	for _, id := range sortedKeys(a.pods.pods) {
		if a.visible(r, id) {
			out = append(out, a.pods.pods[id].def)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *Apps) handlePodGet(w http.ResponseWriter, r *http.Request) {
	id, sub, arg := podPath(r)
	if id == "/" && sub == "status" {
		a.mu.Lock()
		defer a.mu.Unlock()
		out := []map[string]any{}
		for _, pid := range sortedKeys(a.pods.pods) {
			if a.visible(r, pid) {
				out = append(out, a.podStatusJSONLocked(pid))
			}
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	if !a.permit(w, r, auth.ViewApps, id) {
		return
	}
	a.mu.Lock()
	ps := a.pods.pods[id]
	if ps == nil {
		a.mu.Unlock()
		podNotFound(w, id)
		return
	}
	switch {
	case sub == "":
		defer a.mu.Unlock()
		writeJSON(w, http.StatusOK, ps.def)
	case sub == "status" && arg == "":
		defer a.mu.Unlock()
		writeJSON(w, http.StatusOK, a.podStatusJSONLocked(id))
	case sub == "versions" && arg == "":
		defer a.mu.Unlock()
		vs := append([]string{}, ps.versions...)
		sort.Sort(sort.Reverse(sort.StringSlice(vs)))
		writeJSON(w, http.StatusOK, vs)
	case sub == "versions":
		cur := ps.def
		a.mu.Unlock()
		if arg == cur.Version {
			writeJSON(w, http.StatusOK, cur)
			return
		}
		p, err := a.podAt(r.Context(), id, arg)
		switch {
		case err != nil:
			writeMessage(w, http.StatusServiceUnavailable, err.Error())
		case p == nil:
			writeMessage(w, http.StatusNotFound, fmt.Sprintf("Pod '%s' has no version %s", id, arg))
		default:
			writeJSON(w, http.StatusOK, p)
		}
	default:
		a.mu.Unlock()
		writeMessage(w, http.StatusNotFound, "Not found: "+r.URL.Path)
	}
}

// podAt reads a stored version of a pod (nil: no such version).
func (a *Apps) podAt(ctx context.Context, id, v string) (*Pod, error) {
	kvs, err := a.store.list(ctx, podVersionKey(id, v))
	if err != nil {
		return nil, err
	}
	b, ok := kvs[podVersionKey(id, v)]
	if !ok {
		return nil, nil
	}
	var p Pod
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("decode pod version: %w", err)
	}
	return &p, nil
}

// handlePodCreate is POST /v2/pods.
func (a *Apps) handlePodCreate(w http.ResponseWriter, r *http.Request) {
	a.writePod(w, r, "", false)
}

// handlePodPut is PUT /v2/pods/{id}: create or replace.
func (a *Apps) handlePodPut(w http.ResponseWriter, r *http.Request) {
	id, sub, _ := podPath(r)
	if sub != "" {
		writeMessage(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	a.writePod(w, r, id, true)
}

func (a *Apps) writePod(w http.ResponseWriter, r *http.Request, pathID string, put bool) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	p, err := decodePod(body)
	if err != nil {
		if errors.Is(err, errStrict) && !strings.Contains(err.Error(), "invalid character") && !strings.Contains(err.Error(), "unexpected") {
			writeInvalid(w, []Detail{{Path: "/", Errors: []string{err.Error()}}})
			return
		}
		writeMessage(w, http.StatusBadRequest, "Invalid JSON: "+err.Error())
		return
	}
	if put && p.ID == "" {
		p.ID = pathID
	}
	p.normalize()
	if put && p.ID != pathID {
		writeInvalid(w, []Detail{{Path: "/id", Errors: []string{fmt.Sprintf("the pod id %s does not match the path's %s", p.ID, pathID)}}})
		return
	}
	if ds := append(p.validate(a.cfg.Role), a.podHostPathDetails(p)...); len(ds) > 0 {
		writeInvalid(w, ds)
		return
	}
	perm := auth.CreateApps
	if put {
		perm = auth.UpdateApps
	}
	if !a.permit(w, r, perm, p.ID) || !a.permitPodUsers(w, r, p) || !a.permitSecrets(w, r, &App{Secrets: p.Secrets}) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.pods.pods[p.ID]
	switch {
	case old != nil && !put:
		writeMessage(w, http.StatusConflict, fmt.Sprintf("Pod '%s' already exists", p.ID))
		return
	case a.apps[p.ID] != nil:
		writeMessage(w, http.StatusConflict, fmt.Sprintf("An app with id [%s] already exists.", p.ID))
		return
	case a.groupExistsLocked(p.ID):
		writeMessage(w, http.StatusConflict, fmt.Sprintf("A group with id [%s] already exists.", p.ID))
		return
	}
	if old != nil {
		if ds := residentPodChanges(old.def, p); len(ds) > 0 { // podresident.go
			writeInvalid(w, ds)
			return
		}
	}
	p.Version = a.nextVersionLocked()
	action := actionStartPod
	switch {
	case old != nil && onlyScalingDiffers(old.def, p):
		action = actionScalePod
	case old != nil:
		action = actionRestartPod
	}
	d := a.newPodDeploymentLocked(action, p.ID, p.Version)
	ops, err := podOps(p)
	dops, replaced, derr := a.podDeploymentOpsLocked(d)
	if err == nil {
		err = derr
	}
	// A change of scaling alone keeps the running instances: they are
	// instances of the new version too.
	var kept []*podInstance
	if old != nil && onlyScalingDiffers(old.def, p) {
		for _, i := range a.instancesOfLocked(p.ID) {
			if i.Version == old.def.Version && err == nil {
				c := *i
				c.Version = p.Version
				var op clientv3.Op
				op, err = putOp(prefixPodInstances+i.ID, &c)
				dops = append(dops, op)
				kept = append(kept, i)
			}
		}
	}
	if err == nil {
		err = a.store.commit(append(ops, dops...)...)
	}
	if err != nil {
		writeMessage(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	for _, i := range kept {
		i.Version = p.Version
	}
	a.startPodDeploymentLocked(d, replaced)
	if old == nil {
		old = &podState{}
		a.pods.pods[p.ID] = old
	}
	old.def = p
	old.versions = append(old.versions, p.Version)
	old.launchAfter, old.backoff = a.cfg.Now(), 0
	a.revive = true
	a.poke()
	a.publishLocked("pod_created_event", map[string]any{"podId": p.ID, "version": p.Version})
	w.Header().Set("Location", "/v2/pods"+p.ID)
	w.Header().Set("Marathon-Deployment-Id", d.ID)
	code := http.StatusCreated
	if put && len(old.versions) > 1 {
		code = http.StatusOK
	}
	writeJSON(w, code, p)
}

// handlePodDelete is DELETE /v2/pods/{id}, {id}::instances and
// {id}::instances/{instance}.
func (a *Apps) handlePodDelete(w http.ResponseWriter, r *http.Request) {
	id, sub, arg := podPath(r)
	switch sub {
	case "":
		if !a.permit(w, r, auth.DeleteApps, id) {
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		ps := a.pods.pods[id]
		if ps == nil {
			podNotFound(w, id)
			return
		}
		d := a.newPodDeploymentLocked(actionStopPod, id, a.nextVersionLocked())
		ops := podDeleteOps([]string{id}) // grouppods.go
		dops, replaced, err := a.podDeploymentOpsLocked(d)
		if err == nil {
			err = a.store.commit(append(ops, dops...)...)
		}
		if err != nil {
			writeMessage(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		delete(a.pods.pods, id)
		a.startPodDeploymentLocked(d, replaced)
		w.Header().Set("Marathon-Deployment-Id", d.ID)
		a.poke()
		a.publishLocked("pod_deleted_event", map[string]any{"podId": id})
		w.WriteHeader(http.StatusAccepted)
	case "instances":
		if !a.permit(w, r, auth.UpdateApps, id) {
			return
		}
		var ids []string
		if arg != "" {
			ids = []string{arg}
		} else {
			body, ok := readBody(w, r)
			if !ok {
				return
			}
			if err := json.Unmarshal(body, &ids); err != nil {
				writeMessage(w, http.StatusBadRequest, "Invalid JSON: a list of instance ids is expected: "+err.Error())
				return
			}
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.pods.pods[id] == nil {
			podNotFound(w, id)
			return
		}
		var out []map[string]any
		now := a.cfg.Now()
		for _, iid := range ids {
			i := a.pods.instances[iid]
			if i == nil || i.PodID != id {
				writeMessage(w, http.StatusNotFound, fmt.Sprintf("Instance '%s' of pod '%s' does not exist", iid, id))
				return
			}
		}
		for _, iid := range ids {
			i := a.pods.instances[iid]
			a.killInstanceLocked(i, now)
			if isTrue(r, "wipe") {
				a.wipePodInstanceLocked(i) // podresident.go
			}
			out = append(out, instanceJSON(i))
		}
		a.poke()
		if arg != "" {
			writeJSON(w, http.StatusOK, out[0])
			return
		}
		writeJSON(w, http.StatusOK, out)
	default:
		writeMessage(w, http.StatusNotFound, "Not found: "+r.URL.Path)
	}
}

// instanceJSON is Marathon's Instance, as an instance kill answers it.
func instanceJSON(i *podInstance) map[string]any {
	tasks := map[string]any{}
	for _, t := range i.Tasks {
		tasks[t.ID] = map[string]any{
			"taskId": t.ID, "runSpecVersion": i.Version,
			"status": map[string]any{
				"stagedAt": formatTime(i.StagedAt), "mesosStatus": string(t.State),
				"condition":   map[string]any{"str": condition(t.State)},
				"networkInfo": map[string]any{"hostName": i.Host, "hostPorts": instanceHostPorts(i), "ipAddresses": ipsOf(i.Host)},
			},
		}
	}
	cond := "Running"
	if i.Killing {
		cond = "Killing"
	}
	return map[string]any{
		"instanceId":     map[string]any{"idString": i.ID},
		"agentInfo":      map[string]any{"host": i.Host, "agentId": i.AgentID, "attributes": []string{}},
		"tasksMap":       tasks,
		"runSpecVersion": i.Version,
		"state":          map[string]any{"condition": map[string]any{"str": cond}, "since": formatTime(i.StagedAt), "activeSince": formatTime(i.StagedAt)},
	}
}

// podStatusJSONLocked is a pod's PodStatus (types/podStatus.raml).
func (a *Apps) podStatusJSONLocked(id string) map[string]any {
	ps := a.pods.pods[id]
	insts := a.instancesOfLocked(id)
	now := formatTime(a.cfg.Now())
	status := podStatusOf(ps.def, insts)
	since := ps.since
	if status != ps.lastStatus || since.IsZero() {
		since = a.cfg.Now()
	}
	var is []map[string]any
	for _, i := range insts {
		is = append(is, instanceStatusJSON(ps.def, i))
	}
	if is == nil {
		is = []map[string]any{}
	}
	return map[string]any{
		"id": id, "spec": ps.def, "status": status, "statusSince": formatTime(since),
		"instances": is, "terminationHistory": terminationHistoryJSON(ps), "lastUpdated": now, "lastChanged": formatTime(since),
	}
}

// instanceStatusJSON is one PodInstanceStatus.
func instanceStatusJSON(def *Pod, i *podInstance) map[string]any {
	var cs []map[string]any
	since, updated := i.StagedAt, i.StagedAt
	for _, t := range i.Tasks {
		if t.Since.After(since) {
			since = t.Since
		}
		if t.Updated.After(updated) {
			updated = t.Updated
		}
		c := map[string]any{
			"name": t.Container, "status": string(t.State), "statusSince": formatTime(t.Since),
			"containerId": t.ID, "conditions": []any{},
			"lastUpdated": formatTime(t.Updated), "lastChanged": formatTime(t.Since),
		}
		if t.Message != "" {
			c["message"] = t.Message
		}
		var spec *PodContainer
		for k, pc := range def.Containers {
			if pc.Name == t.Container {
				c["resources"] = pc.Resources
				spec = &def.Containers[k]
			}
		}
		c["endpoints"] = endpointsJSON(spec, i) // podendpoints.go
		if t.Checked {
			healthy := t.Healthy != nil && *t.Healthy
			v := "false"
			if healthy {
				v = "true"
			}
			c["conditions"] = []any{map[string]any{"name": "healthy", "value": v, "lastChanged": formatTime(t.Since), "lastUpdated": formatTime(t.Updated)}}
		}
		if t.State.Terminal() {
			term := map[string]any{}
			if t.ExitCode != nil {
				term["exitCode"] = *t.ExitCode
			}
			if t.Message != "" {
				term["message"] = t.Message
			}
			c["termination"] = term
		}
		cs = append(cs, c)
	}
	return map[string]any{
		"id": i.ID, "status": instanceStatus(i), "statusSince": formatTime(since),
		"agentHostname": i.Host, "agentId": i.AgentID, "resources": i.Resources,
		"containers": cs, "networks": []any{}, "specReference": "/v2/pods" + i.PodID + "::versions/" + i.Version,
		"lastUpdated": formatTime(updated), "lastChanged": formatTime(since),
	}
}

// onlyScalingDiffers: a and b differ in scaling (and version) only.
func onlyScalingDiffers(a, b *Pod) bool {
	x, y := *a, *b
	x.Scaling, y.Scaling, x.Version, y.Version = nil, nil, "", ""
	bx, err1 := json.Marshal(&x)
	by, err2 := json.Marshal(&y)
	return err1 == nil && err2 == nil && string(bx) == string(by)
}

// podsInGroupLocked are the definitions of the visible pods directly in
// group g (a group's "pods").
func (a *Apps) podsInGroupLocked(r *http.Request, g string) []*Pod {
	out := []*Pod{}
	for _, id := range sortedKeys(a.pods.pods) {
		if parentOf(id) == g && a.visible(r, id) {
			out = append(out, a.pods.pods[id].def)
		}
	}
	return out
}

// podsUnderLocked: a pod is in group g or below it (g itself a pod
// is no group).
func (a *Apps) podsUnderLocked(g string) bool {
	for id := range a.pods.pods {
		if id != g && under(id, g) {
			return true
		}
	}
	return false
}
