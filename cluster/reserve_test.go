package cluster

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"nodectl/cluster/api"
)

func volumeOf(t testing.TB, rs api.Resources, id string) api.Resources {
	t.Helper()
	d := rs.Filter(func(r api.Resource) bool { return r.Name == "disk" })
	if len(d) != 1 {
		t.Fatalf("want one disk in %v", rs)
	}
	v := d[0]
	v.Disk = &api.DiskInfo{Persistence: &api.Persistence{ID: id}, Volume: &api.DiskVolume{ContainerPath: "data", Mode: "RW"}}
	return api.Resources{v}
}

// A framework reserves, creates a volume and launches on it in one ACCEPT;
// the reservation survives the task and a leader change, and is offered
// to its role only.
func TestReserveCreateLaunchInOneAccept(t *testing.T) {
	h := newHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024;disk:1000")
	db := h.subscribe(api.FrameworkInfo{Name: "db", Role: "db", Principal: "dbp"})
	o := db.offer()
	res := mustRes(t, "cpus:1;mem:128;disk:10").Reserve("db", "dbp", &api.Labels{Labels: []api.Label{{Key: "owner", Value: "t1"}}})
	vol := volumeOf(t, res, "vol1")
	taskRes := res.Filter(func(r api.Resource) bool { return r.Name != "disk" }).Add(vol)
	ti := mkTask("t1", "cpus:1")
	ti.Resources = taskRes
	err := h.m.Accept(db.sub, api.AcceptCall{OfferIDs: []api.ID{o.ID}, Operations: []api.Operation{
		{Type: api.OperationReserve, Reserve: &api.ResourcesOperation{Resources: res}},
		{Type: api.OperationCreate, Create: &api.VolumesOperation{Volumes: vol}},
		{Type: api.OperationLaunch, Launch: &api.LaunchOperation{TaskInfos: []api.TaskInfo{ti}}},
	}})
	must(t, err)
	msgs := h.messages(ag)
	// One checkpoint per operation, then the launch.
	wantStrings(t, "agent messages", msgTypes(msgs), []string{api.MsgCheckpointResources, api.MsgCheckpointResources, "LAUNCH t1"})
	if got := msgs[1].CheckpointResources.Resources; len(got.Volumes()) != 1 || got.Scalar("cpus") != 1 {
		t.Fatalf("checkpointed %v", got)
	}
	h.report(ag, db.id(), "t1", api.TaskRunning)
	h.report(ag, db.id(), "t1", api.TaskFinished)
	for _, st := range db.updates() {
		db.ack(st)
	}
	checkpointed := msgs[1].CheckpointResources.Resources
	// A leader change that lost the registry write: the new leader adopts
	// what the re-registering agent reports, as Mesos does.
	h.flush()
	var rec agent
	must(t, json.Unmarshal(h.st.data[keyAgentsPrefix+ag], &rec))
	rec.Checkpointed = nil
	h.st.data[keyAgentsPrefix+ag], _ = json.Marshal(&rec)
	h.restart()
	_, err = h.m.register(api.RegisterRequest{
		Agent:                 api.AgentInfo{ID: ag, Hostname: "a1", IP: "10.0.0.1", Port: 5051, Resources: mustRes(t, "cpus:2;mem:1024;disk:1000")},
		CheckpointedResources: checkpointed,
	})
	must(t, err)
	if msgs := h.messages(ag); len(msgs) != 0 {
		t.Fatalf("agent with the adopted set got %v", msgTypes(msgs))
	}
	// The same leader: its set wins over a stale agent's.
	ag = h.reregister(ag, "a1", "cpus:2;mem:1024;disk:1000")
	if msgs := h.messages(ag); len(msgs) != 1 || len(msgs[0].CheckpointResources.Resources.Volumes()) != 1 {
		t.Fatalf("stale agent got %v", msgTypes(msgs))
	}
	web := h.subscribe(api.FrameworkInfo{Name: "web", Role: "web"})
	wo := web.offer()
	if len(wo.Resources.Reserved()) != 0 || wo.Resources.Scalar("cpus") != 1 {
		t.Fatalf("web was offered %v", wo.Resources)
	}
	db = h.subscribe(api.FrameworkInfo{Name: "db2", Role: "db"})
	do := db.offer()
	if !do.Resources.Reserved().Equal(taskRes) {
		t.Fatalf("db offered %v, want the reservation %v", do.Resources, taskRes)
	}
}

func postForm(t *testing.T, h http.Handler, path string, form url.Values) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

// The operator endpoints, with Mesos' status codes, and /state.
func TestOperatorReserveEndpoints(t *testing.T) {
	h := newHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024;disk:1000")
	static := h.agent("a2", "cpus(ops):1;mem:64")
	srv := h.m.routes()
	js := func(rs api.Resources) string { b, _ := json.Marshal(rs); return string(b) }
	res := mustRes(t, "cpus:1;disk:100").Reserve("ops", "alice", nil)
	pre := `[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"role":"ops","reservation":{"principal":"alice"}},` +
		`{"name":"disk","type":"SCALAR","scalar":{"value":100},"role":"ops","reservation":{"principal":"alice"}}]`
	vol := volumeOf(t, res, "v1")
	for _, c := range []struct {
		path string
		form url.Values
		code int
	}{
		{"/master/reserve", url.Values{"resources": {js(res)}}, 400},
		{"/master/reserve", url.Values{"slaveId": {ag}}, 400},
		{"/master/reserve", url.Values{"slaveId": {"nope"}, "resources": {js(res)}}, 400},
		{"/master/reserve", url.Values{"slaveId": {ag}, "resources": {`[{"name":"cpus"`}}, 400},
		{"/master/reserve", url.Values{"slaveId": {ag}, "resources": {js(mustRes(t, "cpus:1"))}}, 400}, // not reserved
		{"/master/reserve", url.Values{"slaveId": {ag}, "resources": {js(mustRes(t, "cpus:9").Reserve("ops", "", nil))}}, 409},
		{"/master/reserve", url.Values{"slaveId": {ag}, "resources": {pre}}, 202}, // pre-refinement shape
		{"/master/create-volumes", url.Values{"slaveId": {ag}, "volumes": {js(vol)}}, 202},
		{"/master/create-volumes", url.Values{"slaveId": {ag}, "volumes": {js(vol)}}, 409}, // id taken
		{"/master/unreserve", url.Values{"slaveId": {ag}, "resources": {js(res)}}, 409},    // volume on the disk
		{"/master/destroy-volumes", url.Values{"slaveId": {ag}, "volumes": {js(volumeOf(t, res, "other"))}}, 409},
		{"/master/unreserve", url.Values{"slaveId": {static}, "resources": {js(mustRes(t, "cpus(ops):1"))}}, 400}, // static
	} {
		if code, body := postForm(t, srv, c.path, c.form); code != c.code {
			t.Errorf("%s %v: %d %s, want %d", c.path, c.form, code, body, c.code)
		}
	}
	state := func() map[string]any {
		req := httptest.NewRequest(http.MethodGet, "/master/state", nil)
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		var s struct{ Slaves []map[string]any }
		must(t, json.Unmarshal(w.Body.Bytes(), &s))
		for _, sl := range s.Slaves {
			if sl["id"] == ag {
				return sl
			}
		}
		t.Fatal("agent not in /state")
		return nil
	}
	full, _ := json.Marshal(state()["reserved_resources_full"])
	var byRole map[string]api.Resources
	must(t, json.Unmarshal(full, &byRole))
	if got := byRole["ops"]; len(got.Volumes()) != 1 || got.Scalar("cpus") != 1 {
		t.Fatalf("reserved_resources_full %s", full)
	}
	// DESTROY takes the volume exactly as /state shows it.
	shown, _ := json.Marshal(byRole["ops"].Volumes())
	for _, c := range []struct {
		path, param, val string
	}{{"/master/destroy-volumes", "volumes", string(shown)}, {"/master/unreserve", "resources", js(res)}} {
		if code, body := postForm(t, srv, c.path, url.Values{"slaveId": {ag}, c.param: {c.val}}); code != 202 {
			t.Fatalf("%s: %d %s", c.path, code, body)
		}
	}
	if s := state(); len(s["reserved_resources_full"].(map[string]any)) != 0 {
		t.Fatalf("reservations left: %v", s["reserved_resources_full"])
	}
	msgs := h.messages(ag)
	last := msgs[len(msgs)-1]
	if last.Type != api.MsgCheckpointResources || len(last.CheckpointResources.Resources) != 0 ||
		!slices.ContainsFunc(msgs, func(m api.AgentMessage) bool {
			return m.CheckpointResources != nil && len(m.CheckpointResources.Resources.Volumes()) == 1
		}) {
		t.Fatalf("agent messages %v", msgTypes(msgs))
	}
}
