package apps

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"testing"

	"nodectl/cluster/api"
)

// TestListAppsEncoding: GET /v2/apps writes each definition from its
// cache, and the body is byte for byte what encoding/json makes of the
// same AppInfos, for every embed, after a definition changed and for an
// empty list.
func TestListAppsEncoding(t *testing.T) {
	h := newHarness(t)
	reference := func(path string) []byte {
		t.Helper()
		req := httptest.NewRequest("GET", path, nil)
		embed := embedsOf(req, false)
		h.a.mu.Lock()
		infos := []appInfo{}
		byApp := h.a.tasksByAppLocked()
		for _, id := range h.a.appIDsLocked() {
			if h.a.apps[id].def != nil {
				infos = append(infos, h.a.appInfoOfLocked(id, embed, byApp[id]))
			}
		}
		h.a.mu.Unlock()
		var b bytes.Buffer
		if err := json.NewEncoder(&b).Encode(map[string]any{"apps": infos}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	get := func(path string) []byte {
		t.Helper()
		rec := httptest.NewRecorder()
		h.srv.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s: %d %q", path, rec.Code, rec.Header().Get("Content-Type"))
		}
		return rec.Body.Bytes()
	}
	paths := []string{"/v2/apps", "/v2/apps?embed=apps.tasks&embed=apps.lastTaskFailure", "/v2/apps?embed=apps.taskStats&embed=apps.readiness&embed=apps.counts"}
	check := func(stage string) {
		t.Helper()
		for _, p := range paths {
			if got, want := get(p), reference(p); !bytes.Equal(got, want) {
				t.Fatalf("%s: GET %s:\n got %s\nwant %s", stage, p, got, want)
			}
		}
	}
	check("no apps")
	for _, body := range []string{
		`{"id":"/web","cmd":"serve <it> & more","instances":2,"cpus":0.1,"mem":16,"labels":{"tier":"web"},"env":{"A":"b"},"healthChecks":[{"protocol":"COMMAND","command":{"value":"true"}}]}`,
		`{"id":"/db/main","cmd":"db","instances":1,"cpus":0.1,"mem":16,"portDefinitions":[],"constraints":[["hostname","UNIQUE"]]}`,
	} {
		if code := h.do("POST", "/v2/apps", body, nil); code != 201 {
			t.Fatalf("create: %d", code)
		}
	}
	h.offerFrom("h1", "cpus:4;mem:1024;ports:[31000-32000]")
	h.runAll()
	check("running")
	// A changed definition is encoded anew, not served from the cache.
	if code := h.do("PUT", "/v2/apps/db/main", `{"cmd":"db --v2","instances":1,"cpus":0.1,"mem":16,"portDefinitions":[]}`, nil); code != 200 {
		t.Fatalf("update: %d", code)
	}
	check("updated")
	var out struct {
		Apps []struct {
			ID           string `json:"id"`
			Cmd          string `json:"cmd"`
			TasksRunning int    `json:"tasksRunning"`
		} `json:"apps"`
	}
	if code := h.do("GET", "/v2/apps", "", &out); code != 200 || len(out.Apps) != 2 || out.Apps[0].Cmd != "db --v2" || out.Apps[1].TasksRunning != 2 {
		t.Fatalf("GET /v2/apps: %d %+v", code, out.Apps)
	}
	h.status(firstTaskOf(t, h, "/web"), api.TaskFailed)
	check("a task failed")
}

// firstTaskOf is the id of one of app's tasks.
func firstTaskOf(t *testing.T, h *harness, app string) string {
	t.Helper()
	h.a.mu.Lock()
	defer h.a.mu.Unlock()
	for _, tk := range h.a.tasksOfLocked(app) {
		return tk.ID
	}
	t.Fatalf("app %s has no task", app)
	return ""
}

// The ordered ids follow every change of the apps, and a slice handed out
// is never changed under its holder.
func TestAppIDsFollowApps(t *testing.T) {
	a := &Apps{apps: map[string]*appState{"/b": {}}}
	check := func(want ...string) []string {
		t.Helper()
		got := a.appIDsLocked()
		if !slices.Equal(got, want) {
			t.Fatalf("app ids %v, want %v", got, want)
		}
		return got
	}
	held := check("/b")
	a.setAppStateLocked("/a", &appState{})
	check("/a", "/b")
	a.setAppStateLocked("/a", &appState{}) // a new version of an app
	a.setAppStateLocked("/c", &appState{})
	check("/a", "/b", "/c")
	a.dropAppStateLocked("/b")
	a.dropAppStateLocked("/nope")
	check("/a", "/c")
	if !slices.Equal(held, []string{"/b"}) {
		t.Fatalf("a slice handed out changed to %v", held)
	}
}
