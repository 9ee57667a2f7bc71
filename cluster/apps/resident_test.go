package apps

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"nodectl/cluster/api"
)

const residentApp = `{"id":"/pv","cmd":"echo x >> data/foo && sleep 1000","cpus":0.5,"mem":64,
 "container":{"type":"MESOS","volumes":[{"containerPath":"data","mode":"RW","persistent":{"size":10}}]}}`

func opTypes(c api.AcceptCall) []string {
	var out []string
	for _, op := range c.Operations {
		out = append(out, op.Type)
	}
	return out
}

// offerWith sends an offer of host holding res plus, reserved, the
// resources of every instance the framework has on that host.
func (h *harness) offerWithReserved(host, res string) {
	h.t.Helper()
	rs, err := api.ParseResources(res)
	if err != nil {
		h.t.Fatal(err)
	}
	h.a.mu.Lock()
	for _, r := range h.a.reservations {
		if r.Host == host {
			rs = rs.Add(r.Resources)
		}
	}
	h.a.mu.Unlock()
	h.offer++
	o := api.Offer{ID: api.ID{Value: fmt.Sprint("r", h.offer)}, AgentID: api.ID{Value: "agent-" + host}, Hostname: host, Resources: rs}
	if err := h.a.handle(api.Event{Type: api.EventOffers, Offers: &api.OffersEvent{Offers: []api.Offer{o}}}); err != nil {
		h.t.Fatal(err)
	}
	h.a.step()
}

func (h *harness) lastAccept() api.AcceptCall {
	h.t.Helper()
	h.fake.mu.Lock()
	defer h.fake.mu.Unlock()
	if len(h.fake.accepts) == 0 {
		h.t.Fatal("no ACCEPT")
	}
	return h.fake.accepts[len(h.fake.accepts)-1]
}

func (h *harness) acceptCount() int {
	h.fake.mu.Lock()
	defer h.fake.mu.Unlock()
	return len(h.fake.accepts)
}

// A resident instance reserves and creates its volume with its first
// launch, relaunches on the same reservation after a failure and after a
// scale-down/up, is listed while suspended, and is released when the app
// is deleted.
func TestResidentLifecycle(t *testing.T) {
	h := newHarness(t)
	if code := h.do("POST", "/v2/apps", residentApp, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	app := h.app("/pv")
	if us := app["upgradeStrategy"].(map[string]any); us["minimumHealthCapacity"] != 0.5 || us["maximumOverCapacity"] != 0.0 || app["unreachableStrategy"] != "disabled" {
		t.Fatalf("resident defaults: %v %v", us, app["unreachableStrategy"])
	}
	h.offerFrom("a", "cpus:4;mem:1024;disk:1000;ports:[31000-31010]")
	acc := h.lastAccept()
	if got := opTypes(acc); !slices.Equal(got, []string{api.OperationReserve, api.OperationCreate, api.OperationLaunch}) {
		t.Fatalf("first launch ops %v", got)
	}
	res := acc.Operations[0].Reserve.Resources
	if res[0].Label(labelFrameworkID) != "fw-1" || res[0].Label(labelTaskID) == "" || res[0].Dynamic().Role != DefaultRole {
		t.Fatalf("reservation %+v", res[0])
	}
	ti := acc.Operations[2].Launch.TaskInfos[0]
	vols := ti.Resources.Volumes()
	if len(vols) != 1 || vols[0].Disk.Volume.ContainerPath != "data" || vols[0].Scalar.Value != 10 {
		t.Fatalf("task volume %+v", ti.Resources)
	}
	pid := vols[0].PersistenceID()
	h.status(ti.TaskID.Value, api.TaskRunning)
	h.status(ti.TaskID.Value, api.TaskFailed)
	h.now = h.now.Add(time.Minute) // past the backoff

	// Unreserved resources elsewhere do not get a new instance.
	n := h.acceptCount()
	h.offerFrom("b", "cpus:4;mem:1024;disk:1000;ports:[31000-31010]")
	if h.acceptCount() != n {
		t.Fatalf("launched elsewhere: %v", opTypes(h.lastAccept()))
	}
	h.offerWithReserved("a", "cpus:1;mem:128;ports:[31000-31010]")
	acc = h.lastAccept()
	if got := opTypes(acc); !slices.Equal(got, []string{api.OperationLaunch}) {
		t.Fatalf("relaunch ops %v", got)
	}
	ti2 := acc.Operations[0].Launch.TaskInfos[0]
	if ti2.TaskID == ti.TaskID || ti2.Resources.Volumes()[0].PersistenceID() != pid {
		t.Fatalf("relaunch %v on %v", ti2.TaskID, ti2.Resources)
	}
	h.status(ti2.TaskID.Value, api.TaskRunning)

	// Scale to 0: the instance stays, suspended.
	if code := h.do("PUT", "/v2/apps/pv", `{"instances":0}`, nil); code != 200 {
		t.Fatalf("scale: %d", code)
	}
	h.status(ti2.TaskID.Value, api.TaskKilled)
	var tasks struct{ Tasks []map[string]any }
	h.do("GET", "/v2/apps/pv/tasks", "", &tasks)
	if len(tasks.Tasks) != 1 || tasks.Tasks[0]["state"] != "TASK_RESERVED" || tasks.Tasks[0]["startedAt"] != nil {
		t.Fatalf("suspended instance: %v", tasks.Tasks)
	}

	// Resources and volumes cannot change.
	var inv struct{ Details []Detail }
	if code := h.do("PUT", "/v2/apps/pv", `{"cpus":1,"container":{"type":"MESOS","volumes":[{"containerPath":"data","mode":"RW","persistent":{"size":20}}]}}`, &inv); code != 422 || len(inv.Details) != 2 {
		t.Fatalf("resource change: %d %+v", code, inv.Details)
	}

	// Delete: the next offer of the reservation destroys and unreserves it.
	h.a.mu.Lock()
	var reserved api.Resources
	for _, r := range h.a.reservations {
		reserved = reserved.Add(r.Resources)
	}
	h.a.mu.Unlock()
	if code := h.do("DELETE", "/v2/apps/pv", "", nil); code != 200 {
		t.Fatalf("delete: %d", code)
	}
	h.offer++
	o := api.Offer{ID: api.ID{Value: "last"}, AgentID: api.ID{Value: "agent-a"}, Hostname: "a", Resources: reserved.Add(api.Resources{api.ScalarResource("cpus", 1)})}
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
	if u := acc.Operations[1].Unreserve.Resources; u.Scalar("disk") != 10 || u.Scalar("cpus") != 0.5 || len(u.Volumes()) != 0 {
		t.Fatalf("unreserve %v", u)
	}
}

// Old tasks of a resident app are killed before new ones start.
func TestResidentRestartKillsFirst(t *testing.T) {
	def := &App{}
	if err := json.Unmarshal([]byte(residentApp), def); err != nil {
		t.Fatal(err)
	}
	def.normalize()
	def.Instances = ptr(2)
	def.VersionInfo = &VersionInfo{LastConfigChangeAt: "v2"}
	old := []*task{{ID: "a", State: api.TaskRunning, ConfigVersion: "v1"}, {ID: "b", State: api.TaskRunning, ConfigVersion: "v1"}}
	p := planFor(def, old)
	if p.launch != 0 || len(p.kill) != 1 {
		t.Fatalf("2 old: launch %d kill %d, want 0/1", p.launch, len(p.kill))
	}
	old[0].Killing = true
	if p := planFor(def, old); p.launch != 1 {
		t.Fatalf("after one kill: launch %d, want 1", p.launch)
	}
	def.Instances = ptr(1)
	if p := planFor(def, old[1:]); p.launch != 0 || len(p.kill) != 1 {
		t.Fatalf("1 instance: launch %d kill %d, want 0/1", p.launch, len(p.kill))
	}
}

func TestResidentValidation(t *testing.T) {
	h := newHarness(t)
	for name, c := range map[string]struct{ body, path string }{
		"over capacity": {`{"id":"/a","cmd":"x","upgradeStrategy":{"minimumHealthCapacity":0.5,"maximumOverCapacity":1},"container":{"volumes":[{"containerPath":"d","mode":"RW","persistent":{"size":1}}]}}`, "/upgradeStrategy/maximumOverCapacity"},
		"health":        {`{"id":"/a","cmd":"x","upgradeStrategy":{"minimumHealthCapacity":1,"maximumOverCapacity":0},"container":{"volumes":[{"containerPath":"d","mode":"RW","persistent":{"size":1}}]}}`, "/upgradeStrategy/minimumHealthCapacity"},
		"absolute path": {`{"id":"/a","cmd":"x","container":{"volumes":[{"containerPath":"/d","mode":"RW","persistent":{"size":1}}]}}`, "/container/volumes/0/containerPath"},
		"no size":       {`{"id":"/a","cmd":"x","container":{"volumes":[{"containerPath":"d","mode":"RW","persistent":{}}]}}`, "/container/volumes/0/persistent/size"},
		"unreachable":   {`{"id":"/a","cmd":"x","unreachableStrategy":{"inactiveAfterSeconds":1},"container":{"volumes":[{"containerPath":"d","mode":"RW","persistent":{"size":1}}]}}`, "/unreachableStrategy"},
		"read-only":     {`{"id":"/a","cmd":"x","container":{"volumes":[{"containerPath":"d","mode":"RO","persistent":{"size":1}}]}}`, "/container/volumes/0/mode"},
		"maxSize":       {`{"id":"/a","cmd":"x","container":{"volumes":[{"containerPath":"d","mode":"RW","persistent":{"size":1,"maxSize":2}}]}}`, "/container/volumes/0/persistent/maxSize"},
	} {
		var out struct{ Details []Detail }
		if code := h.do("POST", "/v2/apps", c.body, &out); code != 422 || !slices.ContainsFunc(out.Details, func(d Detail) bool { return d.Path == c.path }) {
			t.Errorf("%s: %d %+v, want 422 at %s", name, code, out.Details, c.path)
		}
	}
}

// A reservation whose task is never heard of from the agent is dropped
// after the reservation timeout (and reserved anew); a lost task's
// instance waits for its agent instead of moving.
func TestResidentTimeoutAndLostAgent(t *testing.T) {
	h := newHarness(t)
	if code := h.do("POST", "/v2/apps", residentApp, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	h.offerFrom("a", "cpus:4;mem:1024;disk:1000;ports:[31000-31010]")
	first := h.lastAccept().Operations[2].Launch.TaskInfos[0]
	// The master dropped the launch: TASK_ERROR from the master, nothing from the agent.
	st := api.TaskStatus{TaskID: first.TaskID, State: api.TaskError, Source: api.SourceMaster}
	if err := h.a.handle(api.Event{Type: api.EventUpdate, Update: &api.UpdateEvent{Status: st}}); err != nil {
		t.Fatal(err)
	}
	h.now = h.now.Add(DefaultTaskReservationTimeout + time.Second)
	h.a.step()
	h.a.mu.Lock()
	n := len(h.a.reservations)
	h.a.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d reservations after the timeout, want 0", n)
	}
	h.offerFrom("b", "cpus:4;mem:1024;disk:1000;ports:[31000-31010]")
	acc := h.lastAccept()
	if got := opTypes(acc); !slices.Equal(got, []string{api.OperationReserve, api.OperationCreate, api.OperationLaunch}) {
		t.Fatalf("after timeout: %v", got)
	}
	ti := acc.Operations[2].Launch.TaskInfos[0]
	h.status(ti.TaskID.Value, api.TaskRunning)
	h.status(ti.TaskID.Value, api.TaskLost) // agent b is gone
	h.now = h.now.Add(time.Hour)
	n0 := h.acceptCount()
	h.offerFrom("c", "cpus:4;mem:1024;disk:1000;ports:[31000-31010]")
	if h.acceptCount() != n0 {
		t.Fatalf("lost instance moved: %v", opTypes(h.lastAccept()))
	}
	var tasks struct{ Tasks []map[string]any }
	h.do("GET", "/v2/apps/pv/tasks", "", &tasks)
	if len(tasks.Tasks) != 1 || tasks.Tasks[0]["state"] != "TASK_RESERVED" || tasks.Tasks[0]["host"] != "b" {
		t.Fatalf("waiting instance: %v", tasks.Tasks)
	}
}
