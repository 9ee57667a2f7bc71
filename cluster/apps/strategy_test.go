package apps

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"nodectl/cluster/api"
)

// Without constraints, instances spread evenly over the hosts that offer.
func TestSpreadByHostname(t *testing.T) {
	h := newHarness(t)
	h.offerFrom("h2", "cpus:0.01;mem:1") // h2 is known, but too small for now
	h.do("POST", "/v2/apps", `{"id":"/spread","cmd":"x","instances":4,"cpus":0.1,"mem":16}`, nil)
	h.offerFrom("h1", res)
	if n := len(h.fake.launched()); n != 2 {
		t.Fatalf("h1 got %d tasks, want its even share 2", n)
	}
	h.offerFrom("h2", res)
	perHost := map[string]int{}
	for _, ti := range h.fake.launched() {
		perHost[ti.AgentID.Value]++
	}
	if perHost["agent-h1"] != 2 || perHost["agent-h2"] != 2 {
		t.Errorf("placement %v, want 2 and 2", perHost)
	}

	// Past spreadPatience a host takes more than its share: one full host
	// does not stall the app.
	h.do("POST", "/v2/apps", `{"id":"/patient","cmd":"x","instances":2,"cpus":0.1,"mem":16}`, nil)
	h.offerFrom("h1", res)
	before := len(h.fake.launched())
	h.now = h.now.Add(spreadPatience + time.Second)
	h.a.step()
	h.offerFrom("h1", res)
	if got := len(h.fake.launched()) - before; got != 1 {
		t.Errorf("after spreadPatience h1 got %d more, want the 1 left", got)
	}
}

// An app starts only once the apps it depends on run healthy with their
// deployments done.
func TestDependenciesOrderStarts(t *testing.T) {
	h := newHarness(t)
	h.do("POST", "/v2/apps", `{"id":"/db","cmd":"x","cpus":0.1,"mem":16}`, nil)
	h.offerFrom("h1", "cpus:0.1;mem:32;ports:[31000-31000]") // room for one task only: the db's (mem at the 32 MB minimum)
	if n := len(h.fake.launched()); n != 1 {
		t.Fatalf("launched %d, want the db", n)
	}
	if code := h.do("POST", "/v2/apps", `{"id":"/web","cmd":"x","cpus":0.1,"mem":16,"dependencies":["/db"]}`, nil); code != 201 {
		t.Fatalf("create web: %d", code)
	}
	h.offerFrom("h1", res)
	if n := len(h.fake.launched()); n != 1 {
		t.Fatalf("web launched before its dependency runs (%d launches)", n)
	}
	h.runAll()
	h.offerFrom("h1", res)
	ls := h.fake.launched()
	if len(ls) != 2 || ls[1].Name != "web" {
		t.Fatalf("launches %d, want web second", len(ls))
	}
	var bad struct{ Details []Detail }
	if code := h.do("POST", "/v2/apps", `{"id":"/self","cmd":"x","dependencies":["/self"]}`, &bad); code != 422 || len(bad.Details) != 1 || bad.Details[0].Path != "/dependencies/0" {
		t.Errorf("self dependency: %d %+v", code, bad.Details)
	}
}

// unreachableStrategy: replaced after inactiveAfterSeconds, forgotten (and
// killed if it returns) after expungeAfterSeconds; "disabled" waits.
func TestUnreachableStrategy(t *testing.T) {
	h := newHarness(t)
	h.do("POST", "/v2/apps", `{"id":"/u","cmd":"x","cpus":0.1,"mem":16,"unreachableStrategy":{"inactiveAfterSeconds":10,"expungeAfterSeconds":60}}`, nil)
	h.do("POST", "/v2/apps", `{"id":"/d","cmd":"x","cpus":0.1,"mem":16,"unreachableStrategy":"disabled"}`, nil)
	h.offerFrom("h1", res)
	h.runAll()
	ls := h.fake.launched()
	if len(ls) != 2 {
		t.Fatalf("launched %d", len(ls))
	}
	byName := map[string]string{}
	for _, ti := range ls {
		byName[ti.Name] = ti.TaskID.Value
	}
	uID, dID := byName["u"], byName["d"]
	for _, ti := range ls {
		h.status(ti.TaskID.Value, api.TaskUnreachable)
	}
	h.now = h.now.Add(5 * time.Second)
	h.a.step()
	h.offerFrom("h2", res)
	if n := len(h.fake.launched()); n != 2 {
		t.Fatalf("replaced before inactiveAfterSeconds: %d launches", n)
	}
	h.now = h.now.Add(6 * time.Second)
	h.a.step()
	h.offerFrom("h2", res)
	ls = h.fake.launched()
	if len(ls) != 3 || ls[2].Name != "u" {
		t.Fatalf("after inactiveAfterSeconds: %d launches, want a replacement of /u only", len(ls))
	}
	var app struct {
		App struct {
			UnreachableStrategy any `json:"unreachableStrategy"`
		} `json:"app"`
	}
	h.do("GET", "/v2/apps/d", "", &app)
	if app.App.UnreachableStrategy != "disabled" {
		t.Errorf("unreachableStrategy shown as %v", app.App.UnreachableStrategy)
	}
	h.now = h.now.Add(time.Minute)
	h.a.step()
	h.a.mu.Lock()
	_, kept := h.a.tasks[uID]
	_, keptDisabled := h.a.tasks[dID]
	h.a.mu.Unlock()
	if kept || !keptDisabled {
		t.Errorf("after expungeAfterSeconds: /u task kept %v (want expunged), /d task kept %v (want kept)", kept, keptDisabled)
	}
	// The expunged task comes back: nobody knows it, so it is killed.
	h.status(uID, api.TaskRunning)
	if k := h.fake.killed(); len(k) != 1 || k[0] != uID {
		t.Errorf("killed %v, want the returned expunged task", k)
	}
	// The disabled one comes back and counts again.
	h.status(dID, api.TaskRunning)
	if a := h.app("/d"); a["tasksRunning"] != 1.0 {
		t.Errorf("/d tasksRunning %v", a["tasksRunning"])
	}

	for body, path := range map[string]string{
		`{"id":"/x","cmd":"x","unreachableStrategy":"sometimes"}`:                                         "/unreachableStrategy",
		`{"id":"/x","cmd":"x","unreachableStrategy":{"inactiveAfterSeconds":10,"expungeAfterSeconds":5}}`: "/unreachableStrategy/expungeAfterSeconds",
	} {
		var bad struct{ Details []Detail }
		if code := h.do("POST", "/v2/apps", body, &bad); code != 422 || len(bad.Details) != 1 || bad.Details[0].Path != path {
			t.Errorf("%s: %d %+v, want 422 at %s", body, code, bad.Details, path)
		}
	}
}

// A deployment of an app with a readiness check finishes only once the
// leader's probe of the new task answers a ready status.
func TestReadinessCheckGatesDeployment(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ready" || !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	h := newHarness(t)
	var bad struct{ Details []Detail }
	if code := h.do("POST", "/v2/apps", `{"id":"/r","cmd":"x","readinessChecks":[{"portName":"nope"}]}`, &bad); code != 422 || len(bad.Details) != 1 || bad.Details[0].Path != "/readinessChecks/0/portName" {
		t.Errorf("unknown portName: %d %+v", code, bad.Details)
	}
	h.do("POST", "/v2/apps", `{"id":"/r","cmd":"x","cpus":0.1,"mem":16,"portDefinitions":[{"port":0,"name":"http-api"}],
		"readinessChecks":[{"path":"/ready","intervalSeconds":2,"timeoutSeconds":1}]}`, nil)
	h.offerFrom("h1", res)
	h.runAll()
	id := h.fake.launched()[0].TaskID.Value
	h.a.mu.Lock()
	h.a.tasks[id].Host, h.a.tasks[id].Ports = "127.0.0.1", []int{port}
	h.a.mu.Unlock()
	deployments := func() int {
		var ds []any
		h.do("GET", "/v2/deployments", "", &ds)
		return len(ds)
	}
	h.a.readinessRound(t.Context())
	h.a.step()
	if n := deployments(); n != 1 {
		t.Fatalf("%d deployments while the task is not ready, want 1", n)
	}
	var ds []struct {
		CurrentActions []struct {
			ReadinessCheckResults []readinessResult `json:"readinessCheckResults"`
		} `json:"currentActions"`
	}
	h.do("GET", "/v2/deployments", "", &ds)
	if rs := ds[0].CurrentActions[0].ReadinessCheckResults; len(rs) != 1 || rs[0].TaskID != id || rs[0].Ready || rs[0].Name != "readinessCheck" {
		t.Errorf("readinessCheckResults %+v, want task %s not ready", rs, id)
	}
	ready.Store(true)
	h.a.readinessRound(t.Context()) // within intervalSeconds: not probed again
	h.a.step()
	if n := deployments(); n != 1 {
		t.Fatalf("probed again before intervalSeconds: %d deployments", n)
	}
	h.now = h.now.Add(3 * time.Second)
	h.a.readinessRound(t.Context())
	h.a.step()
	if n := deployments(); n != 0 {
		t.Errorf("%d deployments once the task is ready, want 0", n)
	}
	if a := h.app("/r"); len(a["readinessChecks"].([]any)) != 1 {
		t.Errorf("readinessChecks not shown: %v", a["readinessChecks"])
	}
}

// GROUP_BY keeps an app's tasks even over the attribute's values: at most
// ⌈instances / groups⌉ per value, groups being the constraint's count or
// the values seen, whichever is more.
func TestGroupByBalances(t *testing.T) {
	rack := func(v string) api.Attribute {
		return api.Attribute{Name: "rack", Type: "TEXT", Text: &api.TextVal{Value: v}}
	}
	h := newHarness(t)
	h.do("POST", "/v2/apps", `{"id":"/g","cmd":"x","instances":4,"cpus":0.1,"mem":16,"constraints":[["rack","GROUP_BY","2"]]}`, nil)
	h.offerFrom("h1", res, rack("a"))
	h.offerFrom("h2", res, rack("a"))
	if n := len(h.fake.launched()); n != 2 {
		t.Fatalf("rack a got %d tasks, want 2 of 4 over 2 racks", n)
	}
	h.offerFrom("h3", res, rack("b"))
	if n := len(h.fake.launched()); n != 4 {
		t.Fatalf("launched %d, want 4", n)
	}
	// Three racks seen: 3 instances go one per rack.
	h.do("POST", "/v2/apps", `{"id":"/g3","cmd":"x","instances":3,"cpus":0.1,"mem":16,"constraints":[["rack","GROUP_BY"]]}`, nil)
	h.offerFrom("h4", "cpus:0.01;mem:1", rack("c")) // rack c is known, too small now
	h.offerFrom("h1", res, rack("a"))
	h.offerFrom("h3", res, rack("b"))
	h.offerFrom("h4", res, rack("c"))
	per := map[string]int{}
	for _, ti := range h.fake.launched()[4:] {
		per[ti.AgentID.Value]++
	}
	if len(per) != 3 || per["agent-h1"] != 1 || per["agent-h3"] != 1 || per["agent-h4"] != 1 {
		t.Errorf("GROUP_BY without a count placed %v, want one per rack", per)
	}
}
