package apps

import (
	"strings"
	"testing"

	"nodectl/cluster/api"
)

// TestGroupDeleteRemovesPods: DELETE of a group deletes the pods in it
// (and in its subgroups) with its apps, in one deployment that ends once
// their instances are gone; a rollback of it is refused (force cancels).
// A PUT leaving a subgroup out deletes that subgroup's pods too.
func TestGroupDeleteRemovesPods(t *testing.T) {
	h := newHarness(t)
	if code := h.do("POST", "/v2/groups", `{"id":"/acc","apps":[{"id":"web","cmd":"sleep 300","cpus":0.05,"mem":32,"instances":0}]}`, nil); code != 201 {
		t.Fatalf("group: %d", code)
	}
	if code := h.do("POST", "/v2/pods", twoContainerPod, nil); code != 201 {
		t.Fatalf("pod: %d", code)
	}
	inner := strings.Replace(twoContainerPod, `"/acc/pod"`, `"/acc/inner/pod"`, 1)
	if code := h.do("POST", "/v2/pods", inner, nil); code != 201 {
		t.Fatalf("inner pod: %d", code)
	}
	h.a.step()
	h.offerFrom("h1", "cpus:4;mem:2048;disk:1000")
	h.runAll()
	var tasks []string
	for _, acc := range h.fake.accepts {
		for _, op := range acc.Operations {
			if op.LaunchGroup != nil {
				for _, tk := range op.LaunchGroup.TaskGroup.Tasks {
					tasks = append(tasks, tk.TaskID.Value)
				}
			}
		}
	}
	if len(tasks) != 4 {
		t.Fatalf("pod tasks launched: %v", tasks)
	}
	for _, id := range tasks {
		h.status(id, api.TaskRunning)
	}

	// A PUT of /acc leaving /acc/inner out deletes the inner pod.
	var d map[string]any
	if code := h.do("PUT", "/v2/groups/acc", `{"id":"/acc","groups":[]}`, &d); code != 200 {
		t.Fatalf("PUT without inner: %d %v", code, d)
	}
	if code := h.do("GET", "/v2/pods/acc/inner/pod", "", nil); code != 404 {
		t.Fatalf("inner pod after the PUT: %d, want 404", code)
	}
	var dep Deployment
	if code := h.do("GET", "/v2/deployments/"+d["deploymentId"].(string), "", &dep); code != 200 || len(dep.AffectedPods) != 1 || dep.Steps[0].Actions[0].Action != actionStopPod {
		t.Fatalf("PUT's deployment: %d %+v", code, dep)
	}
	if code := h.do("DELETE", "/v2/deployments/"+dep.ID, "", nil); code != 409 {
		t.Fatalf("rollback of a deployment that deleted a pod: %d, want 409", code)
	}
	h.a.step()
	killed := h.fake.killed()
	for _, id := range killed {
		h.status(id, api.TaskKilled)
	}
	if len(killed) != 2 {
		t.Fatalf("killed after the PUT: %v, want the inner pod's 2 tasks", killed)
	}
	h.a.step()
	if code := h.do("GET", "/v2/deployments/"+dep.ID, "", nil); code != 404 {
		t.Fatalf("the PUT's deployment still runs once the pod's instance ended: %d", code)
	}

	// DELETE /acc: the app and the pod.
	d = nil
	if code := h.do("DELETE", "/v2/groups/acc", "", &d); code != 200 {
		t.Fatalf("DELETE /acc: %d %v", code, d)
	}
	if code := h.do("GET", "/v2/pods/acc/pod", "", nil); code != 404 {
		t.Fatalf("pod after the group's DELETE: %d, want 404", code)
	}
	if code := h.do("GET", "/v2/deployments/"+d["deploymentId"].(string), "", &dep); code != 200 || len(dep.AffectedPods) != 1 || len(dep.AffectedApps) != 1 {
		t.Fatalf("DELETE's deployment: %d %+v", code, dep)
	}
	h.a.step()
	for _, id := range h.fake.killed()[len(killed):] {
		h.status(id, api.TaskKilled)
	}
	h.a.step()
	if code := h.do("GET", "/v2/deployments/"+dep.ID, "", nil); code != 404 {
		t.Fatalf("the DELETE's deployment still runs: %d", code)
	}
	if code := h.do("GET", "/v2/groups/acc", "", nil); code != 404 {
		t.Fatalf("GET /v2/groups/acc after DELETE: %d, want 404", code)
	}
}
