package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPodsTwoContainers posts the two-container pod of the Marathon
// acceptance (14-marathon) to a real node: it reaches STABLE, its
// containers share the IPC namespace and an ephemeral volume (one writes
// a file there, the other reads it), and after DELETE no container is
// left.
func TestPodsTwoContainers(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := appStartNode(t, "")
	mark := appMark(7001)
	pod := `{"id":"/acc/pod","scaling":{"kind":"fixed","instances":1},
	  "volumes":[{"name":"shared"}],
	  "containers":[
	    {"name":"one","exec":{"command":{"shell":"readlink /proc/self/ns/ipc; echo hello-from-one > data/f; sleep ` + mark + `"}},
	     "resources":{"cpus":0.05,"mem":32},"volumeMounts":[{"name":"shared","mountPath":"data"}]},
	    {"name":"two","exec":{"command":{"shell":"readlink /proc/self/ns/ipc; while ! test -f data/f; do sleep 0.1; done; cat data/f; sleep ` + mark + `"}},
	     "resources":{"cpus":0.05,"mem":32},"volumeMounts":[{"name":"shared","mountPath":"data","readOnly":true}]}]}`
	appMust(t, n, "POST", "/v2/pods", pod, 201)

	var st struct {
		Status    string `json:"status"`
		Instances []struct {
			ID         string `json:"id"`
			Status     string `json:"status"`
			Containers []struct {
				Name   string `json:"name"`
				Status string `json:"status"`
			} `json:"containers"`
		} `json:"instances"`
	}
	waitFor(t, 60*time.Second, "pod STABLE", func() bool {
		code, b := appDo(t, n, "GET", "/v2/pods/acc/pod::status", "")
		return code == 200 && json.Unmarshal(b, &st) == nil && st.Status == "STABLE"
	})
	if len(st.Instances) != 1 || len(st.Instances[0].Containers) != 2 {
		t.Fatalf("status: %+v", st)
	}

	// Each task's stdout is in its sandbox under the instance's executor sandbox.
	out := func(name string) string {
		m := realGlob(filepath.Join(n.dir, "slaves", "*", "frameworks", "*", "executors", "instance-"+st.Instances[0].ID,
			"runs", "*", "tasks", st.Instances[0].ID+"."+name, "stdout"))
		if len(m) != 1 {
			return ""
		}
		b, _ := os.ReadFile(m[0])
		return string(b)
	}
	var one, two []string
	waitFor(t, 30*time.Second, "both containers wrote their IPC namespace, two read one's file", func() bool {
		one = strings.Fields(out("one"))
		two = strings.Fields(out("two"))
		return len(one) >= 1 && len(two) >= 2
	})
	self, err := os.Readlink("/proc/self/ns/ipc")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(one[0], "ipc:[") || one[0] != two[0] || one[0] == self {
		t.Fatalf("IPC namespaces: one %q, two %q, host %q: want one shared namespace of their own", one[0], two[0], self)
	}
	if two[1] != "hello-from-one" {
		t.Fatalf("two read %q from the shared volume", two[1])
	}
	// The volume is one directory of the executor's sandbox.
	if m := realGlob(filepath.Join(n.dir, "slaves", "*", "frameworks", "*", "executors", "instance-*", "runs", "*", "volumes", "shared", "f")); len(m) != 1 {
		t.Fatalf("shared volume file: %v", m)
	}

	appMust(t, n, "DELETE", "/v2/pods/acc/pod", "", 202)
	waitFor(t, 60*time.Second, "no container left", func() bool {
		return appMonitors(n.dir) == 0
	})
	waitFor(t, 30*time.Second, "pod gone", func() bool {
		code, _ := appDo(t, n, "GET", "/v2/pods/acc/pod::status", "")
		return code == 404
	})
}

// realGlob is filepath.Glob without the matches through the sandboxes'
// "latest" links.
func realGlob(pattern string) []string {
	m, _ := filepath.Glob(pattern)
	var out []string
	for _, p := range m {
		if !strings.Contains(p, "/latest/") {
			out = append(out, p)
		}
	}
	return out
}

// TestPodsKillPolicy: when one container of an instance fails, the agent
// kills the others (Mesos' default executor kill policy) and the instance
// is replaced by a new one.
func TestPodsKillPolicy(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := appStartNode(t, "")
	pod := `{"id":"/acc/kp","scaling":{"kind":"fixed","instances":1},
	  "scheduling":{"backoff":{"backoff":1,"backoffFactor":1}},
	  "containers":[
	    {"name":"good","exec":{"command":{"shell":"sleep ` + appMark(7011) + `"}},"resources":{"cpus":0.05,"mem":16}},
	    {"name":"bad","exec":{"command":{"shell":"sleep 2; exit 3"}},"resources":{"cpus":0.05,"mem":16}}]}`
	appMust(t, n, "POST", "/v2/pods", pod, 201)
	type status struct {
		Instances []struct {
			ID         string `json:"id"`
			Containers []struct {
				Name   string `json:"name"`
				Status string `json:"status"`
			} `json:"containers"`
		} `json:"instances"`
	}
	get := func() status {
		var st status
		_, b := appDo(t, n, "GET", "/v2/pods/acc/kp::status", "")
		_ = json.Unmarshal(b, &st)
		return st
	}
	var first string
	waitFor(t, 30*time.Second, "an instance", func() bool {
		st := get()
		if len(st.Instances) == 0 {
			return false
		}
		first = st.Instances[0].ID
		return true
	})
	waitFor(t, 60*time.Second, "the first instance replaced, its good container killed", func() bool {
		st := get()
		for _, i := range st.Instances {
			if i.ID == first {
				return false
			}
		}
		return len(st.Instances) >= 1
	})
	// The good container of the first instance ended TASK_KILLED.
	m := realGlob(filepath.Join(n.dir, "slaves", "*", "frameworks", "*", "executors", "instance-"+first, "runs", "*", "tasks", first+".good"))
	if len(m) != 1 {
		t.Fatalf("first instance's good sandbox: %v", m)
	}
	code, b := appDo(t, n, "GET", "/master/tasks", "")
	if code != 200 || !strings.Contains(string(b), first+".good") {
		t.Fatalf("/master/tasks: %d", code)
	}
	var tasks struct {
		Tasks []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"tasks"`
	}
	_ = json.Unmarshal(b, &tasks)
	found := 0
	for _, tk := range tasks.Tasks {
		if tk.ID == first+".good" || tk.ID == first+".bad" {
			found++
		}
		if tk.ID == first+".good" && tk.State != "TASK_KILLED" {
			t.Fatalf("good container of the failed instance: %s", tk.State)
		}
		if tk.ID == first+".bad" && tk.State != "TASK_FAILED" {
			t.Fatalf("bad container: %s", tk.State)
		}
	}
	if found != 2 {
		t.Fatalf("/master/tasks lists %d of the first instance's tasks, want 2", found)
	}
	appMust(t, n, "DELETE", "/v2/pods/acc/kp", "", 202)
	waitFor(t, 60*time.Second, "no container left", func() bool { return appMonitors(n.dir) == 0 })
}
