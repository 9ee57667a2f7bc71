package apps

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"nodectl/cluster"
	"nodectl/cluster/api"
)

const res = "cpus:4;mem:4096;disk:1000;ports:[31000-31009]"

func TestInvalidDefinitions422(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name, body string
		paths      []string
	}{
		{"cmd and args", `{"id":"/a","cmd":"sleep 1","args":["sleep","1"]}`, []string{"/", "/cmd", "/args"}},
		{"neither cmd nor args", `{"id":"/a"}`, []string{"/"}},
		{"negative instances", `{"id":"/a","cmd":"x y","instances":-1}`, []string{"/instances"}},
		{"negative cpus and mem", `{"id":"/a","cmd":"x y","cpus":-1,"mem":-2}`, []string{"/cpus", "/mem"}},
		{"bad id", `{"id":"/Bad_Id","cmd":"x y"}`, []string{"/id"}},
		{"root id", `{"id":"/","cmd":"x y"}`, []string{"/id"}},
		{"unknown operator", `{"id":"/a","cmd":"x y","constraints":[["hostname","SOMETIMES"]]}`, []string{"/constraints/0"}},
		{"bad regex", `{"id":"/a","cmd":"x y","constraints":[["hostname","LIKE","("]]}`, []string{"/constraints/0"}},
		{"upgrade strategy", `{"id":"/a","cmd":"x y","upgradeStrategy":{"minimumHealthCapacity":2,"maximumOverCapacity":-1}}`, []string{"/upgradeStrategy/minimumHealthCapacity", "/upgradeStrategy/maximumOverCapacity"}},
		{"backoff factor", `{"id":"/a","cmd":"x y","backoffFactor":0.5}`, []string{"/backoffFactor"}},
		{"kill selection", `{"id":"/a","cmd":"x y","killSelection":"RANDOM"}`, []string{"/killSelection"}},
		{"port protocol", `{"id":"/a","cmd":"x y","portDefinitions":[{"port":0,"protocol":"sctp"}]}`, []string{"/portDefinitions/0/protocol"}},
		{"docker without image", `{"id":"/a","cmd":"x y","container":{"type":"DOCKER","docker":{"image":""}}}`, []string{"/container/docker/image"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out struct {
				Message string   `json:"message"`
				Details []Detail `json:"details"`
			}
			if code := h.do("POST", "/v2/apps", c.body, &out); code != 422 {
				t.Fatalf("code %d, want 422", code)
			}
			if out.Message != "Object is not valid" {
				t.Errorf("message %q", out.Message)
			}
			var got []string
			for _, d := range out.Details {
				got = append(got, d.Path)
				if len(d.Errors) == 0 {
					t.Errorf("%s: no errors", d.Path)
				}
			}
			if !slices.Equal(got, c.paths) {
				t.Errorf("paths %v, want %v", got, c.paths)
			}
		})
	}
	var msg map[string]any
	if code := h.do("POST", "/v2/apps", `{"id":`, &msg); code != 400 || msg["message"] == nil {
		t.Errorf("malformed JSON: %d %v", code, msg)
	}
	if code := h.do("POST", "/v2/apps", `{"id":"/a","instances":"many"}`, &msg); code != 400 {
		t.Errorf("wrong type: %d", code)
	}
	if code := h.do("GET", "/v2/apps/x", "", &msg); code != 404 || msg["message"] != "App '/x' does not exist" {
		t.Errorf("unknown app: %d %v", code, msg)
	}
}

func TestCreateDefaultsAndEnv(t *testing.T) {
	h := newHarness(t)
	var app map[string]any
	if code := h.do("POST", "/v2/apps", `{"id":"bar/simple","cmd":"sleep 1000","env":{"A":"b"},"labels":{"tier":"web"}}`, &app); code != 201 {
		t.Fatalf("create: %d %v", code, app)
	}
	for k, want := range map[string]any{"id": "/bar/simple", "instances": 1.0, "cpus": 1.0, "mem": 128.0, "disk": 0.0, "backoffSeconds": 1.0, "backoffFactor": 1.15, "maxLaunchDelaySeconds": 300.0, "killSelection": "YOUNGEST_FIRST"} {
		if app[k] != want {
			t.Errorf("%s = %v, want %v", k, app[k], want)
		}
	}
	if deps := app["deployments"].([]any); len(deps) != 1 {
		t.Errorf("deployments %v", deps)
	}
	if code := h.do("POST", "/v2/apps", `{"id":"/bar/simple","cmd":"sleep 1000"}`, nil); code != 409 {
		t.Errorf("duplicate create: %d, want 409", code)
	}
	h.offerFrom("h1", res)
	ls := h.fake.launched()
	if len(ls) != 1 {
		t.Fatalf("launched %d tasks, want 1", len(ls))
	}
	ti := ls[0]
	if !strings.HasPrefix(ti.TaskID.Value, "bar_simple.") {
		t.Errorf("task id %s", ti.TaskID.Value)
	}
	env := map[string]string{}
	for _, v := range ti.Command.Environment.Variables {
		env[v.Name] = v.Value
	}
	for k, want := range map[string]string{"A": "b", "MARATHON_APP_ID": "/bar/simple", "MESOS_TASK_ID": ti.TaskID.Value, "PORT0": "31000", "PORTS": "31000", "PORT_DEFAULT": "31000", "HOST": "h1", "MARATHON_APP_LABEL_TIER": "web"} {
		if env[k] != want {
			t.Errorf("env %s = %q, want %q", k, env[k], want)
		}
	}
	if env["MARATHON_APP_VERSION"] != app["version"] {
		t.Errorf("MARATHON_APP_VERSION %q, version %v", env["MARATHON_APP_VERSION"], app["version"])
	}
	if got := ti.Resources.RangesOf("ports"); len(got) != 1 || got[0].Begin != 31000 {
		t.Errorf("ports %v", got)
	}
	h.runAll()
	a := h.app("/bar/simple")
	if a["tasksRunning"] != 1.0 || len(a["deployments"].([]any)) != 0 {
		t.Errorf("after running: tasksRunning %v deployments %v", a["tasksRunning"], a["deployments"])
	}
	var tasks struct {
		Tasks []map[string]any `json:"tasks"`
	}
	h.do("GET", "/v2/apps/bar/simple/tasks", "", &tasks)
	if len(tasks.Tasks) != 1 || tasks.Tasks[0]["state"] != "TASK_RUNNING" || tasks.Tasks[0]["slaveId"] != "agent-h1" || tasks.Tasks[0]["appId"] != "/bar/simple" {
		t.Errorf("tasks %v", tasks.Tasks)
	}
}

func TestScaleUniqueAndKillSelection(t *testing.T) {
	h := newHarness(t)
	h.do("POST", "/v2/apps", `{"id":"/web","cmd":"serve it","instances":3,"cpus":0.1,"mem":16,"constraints":[["hostname","UNIQUE"]]}`, nil)
	h.offerFrom("h1", res)
	h.offerFrom("h1", res) // UNIQUE: nothing more on h1
	h.offerFrom("h2", res)
	if n := len(h.fake.launched()); n != 2 {
		t.Fatalf("launched %d, want 2 (one per host)", n)
	}
	var q struct {
		Queue []struct {
			Count int `json:"count"`
		} `json:"queue"`
	}
	h.do("GET", "/v2/queue", "", &q)
	if len(q.Queue) != 1 || q.Queue[0].Count != 1 {
		t.Errorf("queue %+v, want one app with count 1", q)
	}
	h.offerFrom("h3", res)
	h.runAll()
	if n := len(h.fake.launched()); n != 3 {
		t.Fatalf("launched %d, want 3", n)
	}
	// Scaling to 1 kills the two youngest (launched last).
	h.now = h.now.Add(time.Second)
	var d map[string]string
	if code := h.do("PUT", "/v2/apps/web", `{"instances":1}`, &d); code != 200 || d["deploymentId"] == "" {
		t.Fatalf("scale: %d %v", code, d)
	}
	h.a.step()
	ls := h.fake.launched()
	killed := h.fake.killed()
	slices.Sort(killed)
	want := []string{ls[1].TaskID.Value, ls[2].TaskID.Value}
	slices.Sort(want)
	if !slices.Equal(killed, want) {
		t.Errorf("killed %v, want the youngest %v", killed, want)
	}
	if a := h.app("/web"); a["instances"] != 1.0 || len(a["deployments"].([]any)) != 1 {
		t.Errorf("app %v", a)
	}
	for _, id := range killed {
		h.status(id, api.TaskKilled)
	}
	var ds []any
	h.do("GET", "/v2/deployments", "", &ds)
	if len(ds) != 0 {
		t.Errorf("deployments after scale-down: %v", ds)
	}
	if h.fake.suppresses == 0 {
		t.Error("never suppressed offers with nothing queued")
	}
}

func TestConstraintsPlacement(t *testing.T) {
	text := func(n, v string) api.Attribute {
		return api.Attribute{Name: n, Type: "TEXT", Text: &api.TextVal{Value: v}}
	}
	def := func(cs ...[]string) *App {
		a := &App{ID: "/x", Cmd: "x", Constraints: cs}
		a.normalize()
		return a
	}
	onRack := func(r string) *task {
		return &task{State: api.TaskRunning, Attrs: map[string]string{"hostname": "h", "rack": r}}
	}
	attrs := offerAttrs(api.Offer{Hostname: "srv2", Attributes: []api.Attribute{text("rack", "a")}})
	cases := []struct {
		name string
		app  *App
		have []*task
		ok   bool
	}{
		{"like hostname", def([]string{"hostname", "LIKE", "srv[0-9]"}), nil, true},
		{"like miss", def([]string{"hostname", "LIKE", "db.*"}), nil, false},
		{"unlike", def([]string{"hostname", "UNLIKE", "srv2"}), nil, false},
		{"is", def([]string{"rack", "IS", "a"}), nil, true},
		{"is other", def([]string{"rack", "IS", "b"}), nil, false},
		{"cluster value", def([]string{"rack", "CLUSTER", "a"}), nil, true},
		{"cluster follows first", def([]string{"rack", "CLUSTER"}), []*task{onRack("b")}, false},
		{"max per", def([]string{"rack", "MAX_PER", "2"}), []*task{onRack("a")}, true},
		{"max per full", def([]string{"rack", "MAX_PER", "2"}), []*task{onRack("a"), onRack("a")}, false},
		{"unique attr", def([]string{"rack", "UNIQUE"}), []*task{onRack("a")}, false},
		{"missing attribute", def([]string{"zone", "IS", "z"}), nil, false},
	}
	for _, c := range cases {
		if got := meetsConstraints(c.app, attrs, c.have); got != c.ok {
			t.Errorf("%s: %v, want %v", c.name, got, c.ok)
		}
	}
}

func TestRollingRestartPlan(t *testing.T) {
	mk := func(n int, minH, maxO float64) *App {
		a := &App{ID: "/x", Cmd: "x", Instances: ptr(n), UpgradeStrategy: &UpgradeStrategy{minH, maxO}}
		a.normalize()
		a.VersionInfo = &VersionInfo{LastConfigChangeAt: "new"}
		return a
	}
	tasks := func(cfg string, n int, s api.TaskState) []*task {
		var out []*task
		for i := range n {
			out = append(out, &task{ID: cfg + string(rune('a'+i)), ConfigVersion: cfg, State: s, StagedAt: time.Unix(int64(i), 0)})
		}
		return out
	}
	cases := []struct {
		name          string
		app           *App
		ts            []*task
		launch, killN int
	}{
		{"default: start all new side by side", mk(4, 1, 1), tasks("old", 4, api.TaskRunning), 4, 0},
		{"new running: old go", mk(4, 1, 1), append(tasks("old", 4, api.TaskRunning), tasks("new", 4, api.TaskRunning)...), 0, 4},
		{"new staging: old stay", mk(4, 1, 1), append(tasks("old", 4, api.TaskRunning), tasks("new", 4, api.TaskStaging)...), 0, 0},
		{"min 0 over 0: kill all first", mk(4, 0, 0), tasks("old", 4, api.TaskRunning), 0, 4},
		{"min 0.5 over 0: half at a time", mk(4, 0.5, 0), tasks("old", 4, api.TaskRunning), 0, 2},
		{"min 1 over 0: one extra", mk(2, 1, 0), tasks("old", 2, api.TaskRunning), 1, 0},
		{"scale up", mk(3, 1, 1), tasks("new", 1, api.TaskRunning), 2, 0},
		{"scale down", mk(1, 1, 1), tasks("new", 3, api.TaskRunning), 0, 2},
		{"deleted", nil, tasks("new", 2, api.TaskRunning), 0, 2},
	}
	for _, c := range cases {
		p := planFor(c.app, c.ts)
		if p.launch != c.launch || len(p.kill) != c.killN {
			t.Errorf("%s: launch %d kill %d, want %d %d", c.name, p.launch, len(p.kill), c.launch, c.killN)
		}
	}
}

func TestRestartReplacesTasks(t *testing.T) {
	h := newHarness(t)
	h.do("POST", "/v2/apps", `{"id":"/r","cmd":"serve","instances":2,"cpus":0.1,"mem":16,"portDefinitions":[]}`, nil)
	h.offerFrom("h1", res)
	h.runAll()
	old := h.fake.launched()
	h.now = h.now.Add(time.Second)
	var d map[string]string
	if code := h.do("POST", "/v2/apps/r/restart", "", &d); code != 200 || d["deploymentId"] == "" {
		t.Fatalf("restart: %d %v", code, d)
	}
	if code := h.do("PUT", "/v2/apps/r", `{"instances":5}`, nil); code != 409 {
		t.Errorf("change during deployment: %d, want 409", code)
	}
	h.offerFrom("h1", res)
	if n := len(h.fake.launched()); n != 4 {
		t.Fatalf("launched %d, want 2 old + 2 new", n)
	}
	if k := h.fake.killed(); len(k) != 0 {
		t.Fatalf("killed %v before the new tasks run", k)
	}
	h.runAll()
	killed := h.fake.killed()
	slices.Sort(killed)
	want := []string{old[0].TaskID.Value, old[1].TaskID.Value}
	slices.Sort(want)
	if !slices.Equal(killed, want) {
		t.Fatalf("killed %v, want the old %v", killed, want)
	}
	for _, id := range killed {
		h.status(id, api.TaskKilled)
	}
	if a := h.app("/r"); len(a["deployments"].([]any)) != 0 || a["tasksRunning"] != 2.0 {
		t.Errorf("after restart: %v", a)
	}
	var vs struct {
		Versions []string `json:"versions"`
	}
	h.do("GET", "/v2/apps/r/versions", "", &vs)
	if len(vs.Versions) != 2 {
		t.Errorf("versions %v", vs.Versions)
	}
	if code := h.do("GET", "/v2/apps/r/versions/"+vs.Versions[0], "", nil); code != 200 {
		t.Errorf("get version: %d", code)
	}
	if code := h.do("PUT", "/v2/apps/r?force=true", `{"instances":5}`, nil); code != 200 {
		t.Errorf("forced change: %d", code)
	}
}

func TestBackoffOnFailures(t *testing.T) {
	h := newHarness(t)
	h.do("POST", "/v2/apps", `{"id":"/crash","cmd":"exit 1","cpus":0.1,"mem":16,"portDefinitions":[],"backoffSeconds":2,"backoffFactor":2,"maxLaunchDelaySeconds":5}`, nil)
	wantDelays := []time.Duration{2 * time.Second, 4 * time.Second, 5 * time.Second}
	for i, delay := range wantDelays {
		h.offerFrom("h1", res)
		ls := h.fake.launched()
		if len(ls) != i+1 {
			t.Fatalf("round %d: launched %d", i, len(ls))
		}
		h.status(ls[i].TaskID.Value, api.TaskFailed)
		h.now = h.now.Add(delay - time.Millisecond)
		h.offerFrom("h1", res) // still backing off
		if n := len(h.fake.launched()); n != i+1 {
			t.Fatalf("round %d: launched during backoff of %v", i, delay)
		}
		h.now = h.now.Add(time.Millisecond)
	}
	a := h.app("/crash")
	lf, _ := a["lastTaskFailure"].(map[string]any)
	if lf == nil || lf["state"] != "TASK_FAILED" || lf["appId"] != "/crash" {
		t.Errorf("lastTaskFailure %v", a["lastTaskFailure"])
	}
	// A new config resets the delay.
	h.do("PUT", "/v2/apps/crash?force=true", `{"cmd":"sleep 100"}`, nil)
	h.offerFrom("h1", res)
	if n := len(h.fake.launched()); n != 4 {
		t.Errorf("launched %d after a new version, want 4", n)
	}
}

func TestDeleteKillsAndForgets(t *testing.T) {
	h := newHarness(t)
	h.do("POST", "/v2/apps", `{"id":"/gone","cmd":"sleep 1000","instances":2,"cpus":0.1,"mem":16,"portDefinitions":[]}`, nil)
	h.offerFrom("h1", res)
	h.runAll()
	var d map[string]string
	if code := h.do("DELETE", "/v2/apps/gone", "", &d); code != 200 || d["deploymentId"] == "" {
		t.Fatalf("delete: %d %v", code, d)
	}
	if code := h.do("GET", "/v2/apps/gone", "", nil); code != 404 {
		t.Errorf("GET after delete: %d", code)
	}
	h.a.step()
	killed := h.fake.killed()
	if len(killed) != 2 {
		t.Fatalf("killed %v", killed)
	}
	var ds []map[string]any
	h.do("GET", "/v2/deployments", "", &ds)
	if len(ds) != 1 || ds[0]["steps"].([]any)[0].(map[string]any)["actions"].([]any)[0].(map[string]any)["action"] != ActionStop {
		t.Errorf("deployments %v", ds)
	}
	for _, id := range killed {
		h.status(id, api.TaskKilled)
	}
	h.do("GET", "/v2/deployments", "", &ds)
	if len(ds) != 0 {
		t.Errorf("deployments after kill: %v", ds)
	}
	if code := h.do("DELETE", "/v2/apps/gone", "", nil); code != 404 {
		t.Errorf("second delete: %d", code)
	}
}

func TestKillTaskWithScale(t *testing.T) {
	h := newHarness(t)
	h.do("POST", "/v2/apps", `{"id":"/k","cmd":"sleep 1000","instances":2,"cpus":0.1,"mem":16,"portDefinitions":[]}`, nil)
	h.offerFrom("h1", res)
	h.runAll()
	id := h.fake.launched()[0].TaskID.Value
	var d map[string]string
	if code := h.do("DELETE", "/v2/apps/k/tasks/"+id+"?scale=true", "", &d); code != 200 || d["deploymentId"] == "" {
		t.Fatalf("kill with scale: %d %v", code, d)
	}
	if a := h.app("/k"); a["instances"] != 1.0 {
		t.Errorf("instances %v", a["instances"])
	}
	h.status(id, api.TaskKilled)
	h.offerFrom("h1", res)
	if n := len(h.fake.launched()); n != 2 {
		t.Errorf("launched %d, want no replacement", n)
	}
	if code := h.do("DELETE", "/v2/apps/k/tasks/nope", "", nil); code != 404 {
		t.Errorf("unknown task: %d", code)
	}
	// Without scale the task is replaced.
	other := h.fake.launched()[1].TaskID.Value
	var kt map[string]any
	if code := h.do("DELETE", "/v2/apps/k/tasks/"+other, "", &kt); code != 200 || kt["task"] == nil {
		t.Fatalf("kill: %d %v", code, kt)
	}
	h.status(other, api.TaskKilled)
	h.offerFrom("h1", res)
	if n := len(h.fake.launched()); n != 3 {
		t.Errorf("launched %d, want a replacement", n)
	}
}

func TestNoRestartsAfterFailover(t *testing.T) {
	h := newHarness(t)
	h.do("POST", "/v2/apps", `{"id":"/s","cmd":"sleep 1000","instances":2,"cpus":0.1,"mem":16,"portDefinitions":[]}`, nil)
	h.offerFrom("h1", res)
	h.runAll()
	// What a new leader would load: the same tasks, not yet reconciled.
	h.a.mu.Lock()
	snap := snapshot{frameworkID: "fw-1", versions: map[string][]string{}}
	for _, st := range h.a.apps {
		snap.apps = append(snap.apps, st.def)
	}
	for _, tk := range h.a.tasks {
		c := *tk
		snap.tasks = append(snap.tasks, &c)
	}
	h.a.resetLocked()
	h.a.restoreLocked(snap)
	h.a.subscribed, h.a.ready = true, true
	h.a.mu.Unlock()
	h.offerFrom("h1", res) // unreconciled: nothing launches
	if n := len(h.fake.launched()); n != 2 {
		t.Fatalf("launched %d before reconciliation", n)
	}
	for _, ti := range h.fake.launched() {
		h.status(ti.TaskID.Value, api.TaskRunning)
	}
	h.offerFrom("h1", res)
	if n, k := len(h.fake.launched()), len(h.fake.killed()); n != 2 || k != 0 {
		t.Fatalf("after reconciliation: launched %d killed %d", n, k)
	}
	if a := h.app("/s"); a["tasksRunning"] != 2.0 {
		t.Errorf("tasksRunning %v", a["tasksRunning"])
	}
}

func TestRunResubscribesWithSameID(t *testing.T) {
	fake := &fakeScheduler{}
	a, err := New(Config{
		Scheduler: fake, IsLeader: func() bool { return true }, Logger: testLogger(t),
		Leader: func() (api.MasterInfo, bool) { return api.MasterInfo{}, false },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	subs := func() []cluster.SubscribeRequest {
		fake.mu.Lock()
		defer fake.mu.Unlock()
		return append([]cluster.SubscribeRequest(nil), fake.subs...)
	}
	waitFor(t, func() bool { return len(subs()) == 1 })
	s := subs()[0]
	if !s.Info.Checkpoint || s.Info.Name != FrameworkName || s.Info.FailoverTimeout < 86400 || strings.Join(s.Info.AllRoles(), ",") != DefaultRole || !s.Info.HasCapability(api.CapabilityMultiRole) {
		t.Errorf("framework info %+v", s.Info)
	}
	waitFor(t, func() bool { a.mu.Lock(); defer a.mu.Unlock(); return a.frameworkID == "fw-1" })
	s.Sink.Close() // the master ended the stream
	waitFor(t, func() bool { return len(subs()) == 2 })
	if id := subs()[1].Info.ID; id == nil || id.Value != "fw-1" {
		t.Errorf("resubscribed with %v, want fw-1", id)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNonLeaderRedirectsAndInfo(t *testing.T) {
	leading := false
	leader, known := api.MasterInfo{IP: "10.0.0.7", Port: 5050}, true
	a, err := New(Config{
		Scheduler: &fakeScheduler{}, IsLeader: func() bool { return leading },
		Leader: func() (api.MasterInfo, bool) { return leader, known }, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, a: a, srv: a.Handler()}
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, httptest.NewRequest("GET", "/v2/apps?embed=apps.tasks", nil))
	if rec.Code != 307 || rec.Header().Get("Location") != "//10.0.0.7:5050/v2/apps?embed=apps.tasks" {
		t.Errorf("non-leader: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	var l map[string]string
	if code := h.do("GET", "/v2/leader", "", &l); code != 200 || l["leader"] != "10.0.0.7:5050" {
		t.Errorf("leader: %d %v", code, l)
	}
	known = false
	if code := h.do("GET", "/v2/apps", "", nil); code != 503 {
		t.Errorf("no leader: %d, want 503", code)
	}
	if code := h.do("GET", "/v2/leader", "", nil); code != 404 {
		t.Errorf("no leader /v2/leader: %d, want 404", code)
	}
	rec = httptest.NewRecorder()
	h.srv.ServeHTTP(rec, httptest.NewRequest("GET", "/ping", nil))
	if rec.Code != 200 || rec.Body.String() != "pong" {
		t.Errorf("ping: %d %q", rec.Code, rec.Body.String())
	}
	leading, known = true, true
	a.mu.Lock()
	a.ready, a.frameworkID = true, "fw-9"
	a.mu.Unlock()
	var info map[string]any
	if code := h.do("GET", "/v2/info", "", &info); code != 200 || info["name"] != "marathon" || info["frameworkId"] != "fw-9" || info["elected"] != true {
		t.Errorf("info: %d %v", code, info)
	}
}
