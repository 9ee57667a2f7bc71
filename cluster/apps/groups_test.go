package apps

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// launchedApps are the app ids of the tasks launched so far, in order.
func launchedApps(h *harness) []string {
	var out []string
	h.a.mu.Lock()
	defer h.a.mu.Unlock()
	for _, ti := range h.fake.launched() {
		if t := h.a.tasks[ti.TaskID.Value]; t != nil {
			out = append(out, t.AppID)
		}
	}
	return out
}

func TestGroupCreateDependenciesAndTree(t *testing.T) {
	h := newHarness(t)
	body := `{"id":"/acc","apps":[{"id":"db","cmd":"sleep 300","cpus":0.05,"mem":32},
		{"id":"/acc/web","cmd":"sleep 300","cpus":0.05,"mem":32,"instances":2,"dependencies":["db"]}],
		"groups":[{"id":"inner","dependencies":["/acc/db"],"apps":[{"id":"job","cmd":"sleep 300","cpus":0.05,"mem":32}]}]}`
	var d map[string]any
	if code := h.do("POST", "/v2/groups", body, &d); code != 201 || d["deploymentId"] == nil || d["version"] == nil {
		t.Fatalf("POST /v2/groups: %d %v", code, d)
	}
	if code := h.do("POST", "/v2/groups", body, nil); code != 409 {
		t.Errorf("second POST: %d, want 409", code)
	}
	var dep Deployment
	if code := h.do("GET", "/v2/deployments/"+d["deploymentId"].(string), "", &dep); code != 200 || len(dep.AffectedApps) != 3 || dep.TotalSteps != 2 {
		t.Fatalf("deployment: %d %+v", code, dep)
	}
	if dep.Steps[0].Actions[0].App != "/acc/db" || dep.CurrentStep != 1 {
		t.Errorf("first step %+v (current %d), want /acc/db first", dep.Steps[0], dep.CurrentStep)
	}
	// Only db may start: web and inner/job wait for it.
	h.offerFrom("h1", res)
	if got := launchedApps(h); !slices.Equal(got, []string{"/acc/db"}) {
		t.Fatalf("first launches %v, want only /acc/db", got)
	}
	h.runAll()
	h.do("GET", "/v2/deployments/"+d["deploymentId"].(string), "", &dep)
	if dep.CurrentStep != 2 || len(dep.CurrentActions) != 2 {
		t.Errorf("once db runs: current step %d %+v, want 2", dep.CurrentStep, dep.CurrentActions)
	}
	h.offerFrom("h1", res)
	h.runAll()
	got := launchedApps(h)
	slices.Sort(got)
	if !slices.Equal(got, []string{"/acc/db", "/acc/inner/job", "/acc/web", "/acc/web"}) {
		t.Fatalf("launches %v", got)
	}
	h.a.step()
	if code := h.do("GET", "/v2/deployments/"+d["deploymentId"].(string), "", nil); code != 404 {
		t.Errorf("deployment still there: %d", code)
	}

	var g map[string]any
	if code := h.do("GET", "/v2/groups/acc", "", &g); code != 200 || len(g["apps"].([]any)) != 2 || len(g["groups"].([]any)) != 1 {
		t.Fatalf("GET group: %d %v", code, g)
	}
	inner := g["groups"].([]any)[0].(map[string]any)
	if inner["id"] != "/acc/inner" || len(inner["dependencies"].([]any)) != 1 {
		t.Errorf("inner %v", inner)
	}
	var root map[string]any
	if code := h.do("GET", "/v2/groups?embed=group.groups", "", &root); code != 200 || root["id"] != "/" || root["apps"] != nil || len(root["groups"].([]any)) != 1 {
		t.Errorf("root: %d %v", code, root)
	}
	var emb map[string]any
	h.do("GET", "/v2/groups/acc?embed=group.apps&embed=group.apps.tasks", "", &emb)
	for _, x := range emb["apps"].([]any) {
		if app := x.(map[string]any); app["tasks"] == nil {
			t.Errorf("app %v without tasks", app["id"])
		}
	}
	var vs []string
	if code := h.do("GET", "/v2/groups/acc/versions", "", &vs); code != 200 || len(vs) != 1 || vs[0] != d["version"] {
		t.Errorf("versions %d %v", code, vs)
	}
	var at map[string]any
	if code := h.do("GET", "/v2/groups/acc/versions/"+vs[0], "", &at); code != 200 || len(at["apps"].([]any)) != 2 {
		t.Errorf("version: %d %v", code, at)
	}

	// scaleBy doubles every app.
	if code := h.do("PUT", "/v2/groups/acc", `{"scaleBy":2}`, &d); code != 200 {
		t.Fatalf("scaleBy: %d %v", code, d)
	}
	if a := h.app("/acc/web"); a["instances"] != 4.0 {
		t.Errorf("web instances %v after scaleBy 2", a["instances"])
	}
	if a := h.app("/acc/inner/job"); a["instances"] != 2.0 {
		t.Errorf("job instances %v after scaleBy 2", a["instances"])
	}
	// Locked by that deployment.
	if code := h.do("DELETE", "/v2/groups/acc", "", nil); code != 409 {
		t.Errorf("delete while deploying: %d, want 409", code)
	}
	if code := h.do("DELETE", "/v2/groups/acc?force=true", "", &d); code != 200 {
		t.Fatalf("delete: %d %v", code, d)
	}
	if code := h.do("GET", "/v2/groups/acc", "", nil); code != 404 {
		t.Errorf("deleted group: %d", code)
	}
	// web (which depends on db) stops before db.
	h.a.step()
	killed := map[string]bool{}
	for _, id := range h.fake.killed() {
		killed[strings.SplitN(id, ".", 2)[0]] = true
	}
	if killed["acc_db"] || !killed["acc_web"] {
		t.Errorf("killed %v: web first, db after", killed)
	}
}

func TestGroupValidationAndUpdate(t *testing.T) {
	h := newHarness(t)
	for name, c := range map[string]struct{ body, path string }{
		"not a child":  {`{"id":"/g","apps":[{"id":"/other/a","cmd":"x"}]}`, "/apps(0)/id"},
		"unknown":      {`{"id":"/g","colour":"red"}`, "/colour"},
		"pods":         {`{"id":"/g","pods":[{"id":"p"}]}`, "/pods"},
		"enforceRole":  {`{"id":"/g","groups":[{"id":"s","enforceRole":true}]}`, "/groups(0)/enforceRole"}, // top-level groups only
		"cycle":        {`{"id":"/g","apps":[{"id":"a","cmd":"x","dependencies":["b"]},{"id":"b","cmd":"x","dependencies":["a"]}]}`, "/dependencies"},
		"bad app":      {`{"id":"/g","apps":[{"id":"a","cmd":"x","cpus":-1}]}`, "/cpus"},
		"nested bad":   {`{"id":"/g","groups":[{"id":"s","colour":1}]}`, "/groups(0)/colour"},
		"scaleBy <0":   {`{"id":"/g","scaleBy":-1}`, "/scaleBy"},
		"nested scale": {`{"id":"/g","groups":[{"id":"s","scaleBy":2}]}`, "/groups(0)/scaleBy"},
	} {
		var out struct {
			Details []Detail `json:"details"`
		}
		if code := h.do("POST", "/v2/groups", c.body, &out); code != 422 {
			t.Errorf("%s: %d, want 422", name, code)
			continue
		}
		if !slices.ContainsFunc(out.Details, func(d Detail) bool { return d.Path == c.path }) {
			t.Errorf("%s: details %v, want path %s", name, out.Details, c.path)
		}
	}
	// An empty group exists on its own.
	if code := h.do("POST", "/v2/groups", `{"id":"/empty"}`, nil); code != 201 {
		t.Fatalf("empty group: %d", code)
	}
	var g map[string]any
	if code := h.do("GET", "/v2/groups/empty", "", &g); code != 200 || len(g["apps"].([]any)) != 0 {
		t.Errorf("empty group: %d %v", code, g)
	}
	// PUT replaces the group's app list: a is removed, b added.
	h.do("PUT", "/v2/groups/p", `{"apps":[{"id":"a","cmd":"sleep 1"}]}`, nil)
	if code := h.do("PUT", "/v2/groups/p?force=true", `{"apps":[{"id":"b","cmd":"sleep 1"}]}`, nil); code != 200 {
		t.Fatalf("PUT: %d", code)
	}
	if code := h.do("GET", "/v2/apps/p/a", "", nil); code != 404 {
		t.Errorf("a kept: %d", code)
	}
	if code := h.do("GET", "/v2/apps/p/b", "", nil); code != 200 {
		t.Errorf("b missing: %d", code)
	}
	var vs []string
	h.do("GET", "/v2/groups/p/versions", "", &vs)
	if len(vs) != 2 {
		t.Fatalf("versions %v", vs)
	}
	// Roll back to the first version: a again, b gone.
	if code := h.do("PUT", "/v2/groups/p?force=true", `{"version":"`+vs[1]+`"}`, nil); code != 200 {
		t.Fatalf("rollback: %d", code)
	}
	if code := h.do("GET", "/v2/apps/p/b", "", nil); code != 404 {
		t.Errorf("b after rollback: %d", code)
	}
	// The root group lists everything; DELETE /v2/groups/empty drops the record.
	if code := h.do("DELETE", "/v2/groups/empty", "", nil); code != 200 {
		t.Errorf("delete empty: %d", code)
	}
	if code := h.do("GET", "/v2/groups/empty", "", nil); code != 404 {
		t.Errorf("empty after delete: %d", code)
	}
	if code := h.do("PATCH", "/v2/groups/p", `{"enforceRole":"yes"}`, nil); code != 422 {
		t.Errorf("PATCH enforceRole \"yes\": %d", code)
	}
}

func TestAppsAPIExtras(t *testing.T) {
	h := newHarness(t)
	h.do("POST", "/v2/apps", `{"id":"/l/a","cmd":"sleep 1","labels":{"tier":"web","env":"prod"}}`, nil)
	h.do("POST", "/v2/apps", `{"id":"/l/b","cmd":"sleep 1","labels":{"tier":"db"}}`, nil)
	h.do("POST", "/v2/apps", `{"id":"/m/c","cmd":"sleep 1"}`, nil)
	for sel, want := range map[string][]string{
		"tier==web":              {"/l/a"},
		"tier!=web":              {"/l/b", "/m/c"},
		"tier in (web, db)":      {"/l/a", "/l/b"},
		"tier notin (web)":       {"/l/b", "/m/c"},
		"env":                    {"/l/a"},
		"tier in (web,db),env":   {"/l/a"},
		"tier==db,env==prod":     nil,
		"tier in (web,db), !bad": nil,
	} {
		var out struct {
			Apps []map[string]any `json:"apps"`
		}
		code := h.do("GET", "/v2/apps?label="+urlEscape(sel), "", &out)
		if sel == "tier in (web,db), !bad" {
			if code != 400 {
				t.Errorf("%q: %d, want 400", sel, code)
			}
			continue
		}
		var got []string
		for _, a := range out.Apps {
			got = append(got, a["id"].(string))
		}
		if code != 200 || !slices.Equal(got, want) {
			t.Errorf("label %q: %d %v, want %v", sel, code, got, want)
		}
	}
	var out struct {
		Apps []map[string]any `json:"apps"`
	}
	if h.do("GET", "/v2/apps/l/*", "", &out); len(out.Apps) != 2 {
		t.Errorf("/v2/apps/l/*: %v", out.Apps)
	}
	h.offerFrom("h1", res)
	h.runAll()
	h.a.step()
	// GET /v2/apps/{id} always has tasks; embeds on lists.
	if a := h.app("/l/a"); a["tasks"] == nil || len(a["tasks"].([]any)) != 1 {
		t.Errorf("app without tasks: %v", a["tasks"])
	}
	h.do("GET", "/v2/apps?embed=apps.taskStats&embed=apps.readiness&embed=apps.failures", "", &out)
	for _, a := range out.Apps {
		if a["taskStats"] == nil || a["readinessCheckResults"] == nil {
			t.Errorf("embeds missing: %v", a)
		}
	}
	// text/plain tasks.
	req := httptest.NewRequest("GET", "/v2/tasks", nil)
	req.Header.Set("Accept", "text/plain")
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), "l_a\t0\th1:") || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Errorf("text tasks: %q", rec.Body.String())
	}
	req = httptest.NewRequest("GET", "/v2/apps/l/b/tasks", nil)
	req.Header.Set("Accept", "text/plain")
	rec = httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	if got := rec.Body.String(); !strings.HasPrefix(got, "l_b\t0\th1:") || strings.Count(got, "\n") != 1 {
		t.Errorf("text tasks of /l/b: %q", got)
	}
	// POST /v2/tasks/delete with scale.
	var ts struct {
		Tasks []map[string]any `json:"tasks"`
	}
	h.do("GET", "/v2/apps/l/a/tasks", "", &ts)
	id := ts.Tasks[0]["id"].(string)
	if code := h.do("POST", "/v2/tasks/delete?wipe=true", `{"ids":["`+id+`"]}`, nil); code != 422 {
		t.Errorf("wipe: %d", code)
	}
	var d map[string]any
	if code := h.do("POST", "/v2/tasks/delete?scale=true", `{"ids":["`+id+`"]}`, &d); code != 200 || d["deploymentId"] == nil {
		t.Errorf("tasks/delete: %d %v", code, d)
	}
	if a := h.app("/l/a"); a["instances"] != 0.0 {
		t.Errorf("instances %v after kill and scale", a["instances"])
	}
	// Bulk PATCH: one deployment for two apps.
	if code := h.do("PATCH", "/v2/apps?force=true", `[{"id":"/l/a","instances":2},{"id":"/l/b","cmd":"sleep 2"}]`, &d); code != 200 {
		t.Fatalf("bulk PATCH: %d %v", code, d)
	}
	var dep Deployment
	h.do("GET", "/v2/deployments/"+d["deploymentId"].(string), "", &dep)
	if len(dep.AffectedApps) != 2 {
		t.Errorf("bulk deployment %+v", dep)
	}
	if a := h.app("/l/b"); a["cmd"] != "sleep 2" || a["labels"].(map[string]any)["tier"] != "db" {
		t.Errorf("partial update: %v", a)
	}
	var p map[string]any
	if code := h.do("GET", "/v2/plugins", "", &p); code != 200 || len(p["plugins"].([]any)) != 0 {
		t.Errorf("plugins %d %v", code, p)
	}
	if code := h.do("DELETE", "/v2/queue/m/c/delay", "", nil); code != 404 {
		t.Errorf("delay of an app not queued: %d", code)
	}
	// Cancelling the bulk deployment rolls both apps back.
	if code := h.do("DELETE", "/v2/deployments/"+dep.ID, "", &d); code != 200 {
		t.Fatalf("cancel bulk: %d", code)
	}
	if a := h.app("/l/b"); a["cmd"] != "sleep 1" {
		t.Errorf("rollback: %v", a["cmd"])
	}
}

func urlEscape(s string) string {
	r := strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29", ",", "%2C", "!", "%21", "=", "%3D")
	return r.Replace(s)
}

func TestAbdicate(t *testing.T) {
	h := newHarness(t)
	if code := h.do("DELETE", "/v2/leader", "", nil); code != 503 {
		t.Errorf("abdicate without a master hook: %d, want 503", code)
	}
	called := 0
	h.a.cfg.Abdicate = func() error { called++; return nil }
	var m map[string]string
	if code := h.do("DELETE", "/v2/leader", "", &m); code != 200 || m["message"] != "Leadership abdicated" || called != 1 {
		t.Errorf("abdicate: %d %v (called %d)", code, m, called)
	}
}
