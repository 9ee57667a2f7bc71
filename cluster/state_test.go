package cluster

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestStateGolden pins the Mesos shapes of the read-only endpoints. The
// master id (random) is replaced by MASTER; regenerate with
// go test ./cluster -run TestStateGolden -update and read the diff.
func TestStateGolden(t *testing.T) {
	h, srv := newHTTPHarness(t)
	ag := h.agent("a1", "cpus:4;mem:1024;ports:[31000-31010]")
	fw := h.subscribe(api.FrameworkInfo{Name: "golden", User: "root", FailoverTimeout: 60, Checkpoint: true,
		Capabilities: []api.Capability{{Type: api.CapabilityTaskKillingState}}, Labels: &api.Labels{Labels: []api.Label{{Key: "k", Value: "v"}}}})
	fw.running(ag, "web", "done")
	h.now = h.now.Add(time.Second)
	h.report(ag, fw.id(), "done", api.TaskFinished)
	fw.ack(fw.update())
	h.now = h.now.Add(5 * time.Second)
	h.m.allocate() // one outstanding offer
	for _, tc := range []struct{ name, path string }{
		{"state", "/state"},
		{"state-summary", "/master/state-summary"},
		{"tasks", "/tasks?order=asc"},
		{"frameworks", "/frameworks"},
		{"slaves", "/slaves"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %s", resp.Status, body)
			}
			var v map[string]any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"git_sha", "build_date", "version"} {
				delete(v, k) // build-dependent
			}
			got, _ := json.MarshalIndent(v, "", "  ")
			got = bytes.ReplaceAll(got, []byte(h.m.info.ID), []byte("MASTER"))
			got = append(got, '\n')
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				must(t, os.MkdirAll("testdata", 0o755))
				must(t, os.WriteFile(golden, got, 0o644))
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (run with -update and read the diff):\n%s", tc.path, golden, firstDiff(string(want), string(got)))
			}
		})
	}
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + itoa(i+1) + ":\n- " + a + "\n+ " + b
		}
	}
	return ""
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestTasksEndpointQuery(t *testing.T) {
	h, srv := newHTTPHarness(t)
	ag := h.agent("a1", "cpus:4;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{Name: "f"})
	for i, id := range []string{"a", "b", "c"} {
		h.now = h.now.Add(time.Duration(i+1) * time.Second)
		h.advance(5 * time.Second)
		fw.running(ag, id)
	}
	get := func(q string) ([]string, int) {
		resp, err := http.Get(srv.URL + "/tasks" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct {
			Tasks []struct {
				ID string `json:"id"`
			} `json:"tasks"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&v)
		var ids []string
		for _, x := range v.Tasks {
			ids = append(ids, x.ID)
		}
		return ids, resp.StatusCode
	}
	for _, tc := range []struct {
		q    string
		want []string
		code int
	}{
		{"", []string{"c", "b", "a"}, 200},
		{"?order=asc", []string{"a", "b", "c"}, 200},
		{"?limit=1&offset=1", []string{"b"}, 200},
		{"?offset=9", nil, 200},
		{"?task_id=b", []string{"b"}, 200},
		{"?framework_id=nope", nil, 200},
		{"?limit=-1", nil, 400},
		{"?offset=x", nil, 400},
		{"?order=up", nil, 400},
	} {
		got, code := get(tc.q)
		if code != tc.code || strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("/tasks%s = %v %d, want %v %d", tc.q, got, code, tc.want, tc.code)
		}
	}
	// /master/teardown takes a form.
	resp, err := http.PostForm(srv.URL+"/master/teardown", map[string][]string{"frameworkId": {"nope"}})
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("teardown of an unknown framework: %s", resp.Status)
	}
	resp, err = http.PostForm(srv.URL+"/master/teardown", map[string][]string{"frameworkId": {fw.id()}})
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("teardown: %s", resp.Status)
	}
	resp, err = http.Get(srv.URL + "/tasks?task_id=a")
	must(t, err)
	defer resp.Body.Close()
	var v struct {
		Tasks []struct {
			State api.TaskState `json:"state"`
		} `json:"tasks"`
	}
	must(t, json.NewDecoder(resp.Body).Decode(&v))
	if len(v.Tasks) != 1 || v.Tasks[0].State != api.TaskKilled {
		t.Errorf("task of a torn-down framework: %+v, want KILLED", v.Tasks)
	}
}
