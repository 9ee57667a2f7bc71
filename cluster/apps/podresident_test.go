package apps

import (
	"slices"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
)

// residentPod is Marathon's pod example of its "Persistent Volumes" page
// (https://mesosphere.github.io/marathon/docs/persistent-volumes.html),
// with an http health check on the first endpoint.
const residentPod = `{"id":"/persistent-volume-pod",
 "volumes":[{"name":"pst","persistent":{"type":"root","size":10,"constraints":[]}}],
 "scaling":{"kind":"fixed","instances":1},
 "scheduling":{"unreachableStrategy":"disabled","upgrade":{"minimumHealthCapacity":0,"maximumOverCapacity":0}},
 "containers":[
  {"name":"container1","exec":{"command":{"shell":"cd $MESOS_SANDBOX && echo hello >> pst1/foo && httpd -f -p $EP_HOST_HTTPCT1"}},
   "resources":{"cpus":0.1,"mem":128},"endpoints":[{"name":"httpct1","hostPort":0,"protocol":["tcp"]}],
   "volumeMounts":[{"name":"pst","mountPath":"pst1","readOnly":false}],"lifecycle":{"killGracePeriodSeconds":60},
   "healthCheck":{"http":{"endpoint":"httpct1","path":"/"}}},
  {"name":"container2","exec":{"command":{"shell":"cd $MESOS_SANDBOX && httpd -f -p $EP_HOST_HTTPCT2"}},
   "resources":{"cpus":0.1,"mem":128},"endpoints":[{"name":"httpct2","hostPort":31005,"protocol":["tcp"]}],
   "volumeMounts":[{"name":"pst","mountPath":"pst2","readOnly":false}]}],
 "networks":[{"mode":"host"}]}`

func envOf(ti api.TaskInfo, name string) string {
	for _, v := range ti.Command.Environment.Variables {
		if v.Name == name {
			return v.Value
		}
	}
	return ""
}

// A resident pod reserves its instance and creates its volume with the
// first LAUNCH_GROUP, gives the volume to the executor and mounts it in
// both containers, allocates its endpoints' host ports, relaunches on the
// same reservation after a failure, and releases it when deleted.
func TestResidentPodLifecycle(t *testing.T) {
	h := newHarness(t)
	var out map[string]any
	if code := h.do("POST", "/v2/pods", residentPod, &out); code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}
	h.offerFrom("a", "cpus:4;mem:1024;disk:1000;ports:[31000-31010]")
	acc := h.lastAccept()
	if got := opTypes(acc); !slices.Equal(got, []string{api.OperationReserve, api.OperationCreate, api.OperationLaunchGroup}) {
		t.Fatalf("first launch ops %v", got)
	}
	reserved := acc.Operations[0].Reserve.Resources
	// executor 0.1 cpus + 2×0.1; 32 + 2×128 MiB; the executor's 10 MiB disk and the volume's 10.
	if reserved.Scalar("cpus") != 0.3 || reserved.Scalar("mem") != 288 || reserved.Scalar("disk") != 20 || reserved[0].Dynamic().Role != DefaultRole {
		t.Fatalf("reserved %v", reserved)
	}
	lg := acc.Operations[2].LaunchGroup
	vols := lg.Executor.Resources.Volumes()
	if len(vols) != 1 || vols[0].Disk.Volume.ContainerPath != "pst" || vols[0].Scalar.Value != 10 {
		t.Fatalf("executor resources %v", lg.Executor.Resources)
	}
	pid := vols[0].PersistenceID()
	if len(lg.TaskGroup.Tasks) != 2 {
		t.Fatalf("tasks %d", len(lg.TaskGroup.Tasks))
	}
	for i, ti := range lg.TaskGroup.Tasks {
		v := ti.Container.Volumes
		if len(v) != 1 || v[0].Source.SandboxPath.Path != "pst" || v[0].ContainerPath != []string{"pst1", "pst2"}[i] {
			t.Fatalf("task %d volumes %+v", i, v)
		}
		if envOf(ti, "EP_HOST_HTTPCT1") != "31000" || envOf(ti, "EP_HOST_HTTPCT2") != "31005" {
			t.Fatalf("task %d endpoint env %v", i, ti.Command.Environment.Variables)
		}
		if len(ti.Resources.Volumes()) != 0 {
			t.Fatalf("task %d has the volume itself: %v", i, ti.Resources)
		}
	}
	if p := lg.TaskGroup.Tasks[0].Resources.RangesOf("ports"); len(p) != 1 || p[0].Begin != 31000 {
		t.Fatalf("container1 ports %v", p)
	}
	if hc := lg.TaskGroup.Tasks[0].HealthCheck; hc == nil || hc.Type != "HTTP" || hc.HTTP.Port != 31000 {
		t.Fatalf("health check %+v", hc)
	}

	var st map[string]any
	h.do("GET", "/v2/pods/persistent-volume-pod::status", "", &st)
	insts := st["instances"].([]any)
	c0 := insts[0].(map[string]any)["containers"].([]any)[0].(map[string]any)
	if eps := c0["endpoints"].([]any); len(eps) != 1 || eps[0].(map[string]any)["allocatedHostPort"] != 31000.0 {
		t.Fatalf("status endpoints %v", c0["endpoints"])
	}

	// A failed container: the instance ends and comes back on the same reservation.
	t1, t2 := lg.TaskGroup.Tasks[0].TaskID.Value, lg.TaskGroup.Tasks[1].TaskID.Value
	h.status(t1, api.TaskRunning)
	h.status(t2, api.TaskRunning)
	h.status(t1, api.TaskFailed)
	h.status(t2, api.TaskKilled)
	h.now = h.now.Add(time.Minute)
	n := h.acceptCount()
	h.offerFrom("b", "cpus:4;mem:1024;disk:1000;ports:[31000-31010]")
	if h.acceptCount() != n {
		t.Fatalf("launched elsewhere: %v", opTypes(h.lastAccept()))
	}
	h.offerWithReserved("a", "cpus:1;mem:128;ports:[31000-31010]")
	acc = h.lastAccept()
	if got := opTypes(acc); !slices.Equal(got, []string{api.OperationLaunchGroup}) {
		t.Fatalf("relaunch ops %v", got)
	}
	lg2 := acc.Operations[0].LaunchGroup
	if v := lg2.Executor.Resources.Volumes(); len(v) != 1 || v[0].PersistenceID() != pid || lg2.TaskGroup.Tasks[0].TaskID.Value == t1 {
		t.Fatalf("relaunch %v", lg2.Executor.Resources)
	}

	// Reserved resources cannot change.
	var inv struct{ Details []Detail }
	changed := strings.Replace(residentPod, `"cpus":0.1,"mem":128},"endpoints":[{"name":"httpct1"`, `"cpus":0.2,"mem":128},"endpoints":[{"name":"httpct1"`, 1)
	if code := h.do("PUT", "/v2/pods/persistent-volume-pod", changed, &inv); code != 422 {
		t.Fatalf("resource change: %d %+v", code, inv.Details)
	}

	// Delete: the instance is killed, the reservation dropped, and the
	// next offer of it destroys and unreserves it.
	h.a.mu.Lock()
	var all api.Resources
	for _, r := range h.a.reservations {
		all = all.Add(r.Resources)
	}
	h.a.mu.Unlock()
	if code := h.do("DELETE", "/v2/pods/persistent-volume-pod", "", nil); code != 202 {
		t.Fatalf("delete: %d", code)
	}
	h.a.step()
	h.a.mu.Lock()
	left := len(h.a.reservations)
	h.a.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d reservations after delete", left)
	}
	o := api.Offer{ID: api.ID{Value: "last"}, AgentID: api.ID{Value: "agent-a"}, Hostname: "a", Resources: all.Add(api.Resources{api.ScalarResource("cpus", 1)})}
	if err := h.a.handle(api.Event{Type: api.EventOffers, Offers: &api.OffersEvent{Offers: []api.Offer{o}}}); err != nil {
		t.Fatal(err)
	}
	acc = h.lastAccept()
	if got := opTypes(acc); !slices.Equal(got, []string{api.OperationDestroy, api.OperationUnreserve}) {
		t.Fatalf("release ops %v", got)
	}
	if d := acc.Operations[0].Destroy.Volumes; len(d) != 1 || d[0].PersistenceID() != pid {
		t.Fatalf("destroy %v", d)
	}
}

// Scaling a resident pod down drops the reservation of the instance
// killed for it; a killed instance (no scale change) keeps its own.
func TestResidentPodScaleDown(t *testing.T) {
	h := newHarness(t)
	two := strings.Replace(residentPod, `"instances":1`, `"instances":2`, 1)
	two = strings.Replace(two, `"hostPort":31005`, `"hostPort":0`, 1)
	if code := h.do("POST", "/v2/pods", two, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	h.offerFrom("a", "cpus:4;mem:1024;disk:1000;ports:[31000-31010]")
	if got := opTypes(h.lastAccept()); !slices.Equal(got, []string{api.OperationReserve, api.OperationCreate, api.OperationLaunchGroup,
		api.OperationReserve, api.OperationCreate, api.OperationLaunchGroup}) {
		t.Fatalf("two instances: %v", got)
	}
	ops := h.lastAccept().Operations
	running := func(lg *api.LaunchGroupOperation) {
		for _, ti := range lg.TaskGroup.Tasks {
			h.status(ti.TaskID.Value, api.TaskRunning)
		}
	}
	running(ops[2].LaunchGroup)
	running(ops[5].LaunchGroup)
	if p1, p2 := envOf(ops[2].LaunchGroup.TaskGroup.Tasks[0], "EP_HOST_HTTPCT1"), envOf(ops[5].LaunchGroup.TaskGroup.Tasks[0], "EP_HOST_HTTPCT1"); p1 == p2 {
		t.Fatalf("both instances on port %s", p1)
	}
	count := func() int {
		h.a.mu.Lock()
		defer h.a.mu.Unlock()
		return len(h.a.reservations)
	}
	// Kill one instance by id: its reservation stays.
	iid := strings.TrimSuffix(ops[2].LaunchGroup.TaskGroup.Tasks[0].TaskID.Value, ".container1")
	if code := h.do("DELETE", "/v2/pods/persistent-volume-pod::instances/"+iid, "", nil); code != 200 {
		t.Fatalf("kill instance: %d", code)
	}
	h.a.step()
	if count() != 2 {
		t.Fatalf("%d reservations after an instance kill, want 2", count())
	}
	for _, ti := range ops[2].LaunchGroup.TaskGroup.Tasks {
		h.status(ti.TaskID.Value, api.TaskKilled)
	}
	if count() != 2 {
		t.Fatalf("%d reservations after the instance ended, want 2", count())
	}
	// Wipe drops the instance's reservation; a new one is made for the
	// next instance.
	iid2 := strings.TrimSuffix(ops[5].LaunchGroup.TaskGroup.Tasks[0].TaskID.Value, ".container1")
	if code := h.do("DELETE", "/v2/pods/persistent-volume-pod::instances/"+iid2+"?wipe=true", "", nil); code != 200 {
		t.Fatalf("wipe instance: %d", code)
	}
	if count() != 1 {
		t.Fatalf("%d reservations after a wipe, want 1", count())
	}
	one := strings.Replace(two, `"instances":2`, `"instances":1`, 1)
	if code := h.do("PUT", "/v2/pods/persistent-volume-pod", one, nil); code != 200 {
		t.Fatalf("scale down: %d", code)
	}
	h.a.step()
	h.a.step()
	if count() != 1 {
		t.Fatalf("%d reservations after scaling to 1, want 1", count())
	}
}

func TestResidentPodValidation(t *testing.T) {
	h := newHarness(t)
	for name, c := range map[string]struct{ from, to, path string }{
		"over capacity": {`"maximumOverCapacity":0`, `"maximumOverCapacity":1`, "/scheduling/upgrade/maximumOverCapacity"},
		"unreachable":   {`"unreachableStrategy":"disabled"`, `"unreachableStrategy":{"inactiveAfterSeconds":1}`, "/scheduling/unreachableStrategy"},
		"no size":       {`"size":10,`, ``, "/volumes/0/persistent/size"},
		"bad type":      {`"type":"root"`, `"type":"disk"`, "/volumes/0/persistent/type"},
		"unknown field": {`"size":10,`, `"size":10,"bogus":1,`, "/volumes/0/persistent"},
		"containerPort": {`"networks":[{"mode":"host"}]`, `"networks":[{"mode":"container","name":"dcos"}]`, "/networks/0"},
		"no hostPort":   {`"hostPort":0,`, ``, "/containers/0/endpoints/0/hostPort"},
		"check target":  {`"endpoint":"httpct1"`, `"endpoint":"nope"`, "/containers/0/healthCheck/http/endpoint"},
		"same name":     {`"name":"httpct2"`, `"name":"httpct1"`, "/containers/1/endpoints/0/name"},
	} {
		body := strings.Replace(residentPod, c.from, c.to, 1)
		var out struct{ Details []Detail }
		if code := h.do("POST", "/v2/pods", body, &out); code != 422 || !slices.ContainsFunc(out.Details, func(d Detail) bool { return d.Path == c.path }) {
			t.Errorf("%s: %d %+v, want 422 at %s", name, code, out.Details, c.path)
		}
	}
}
