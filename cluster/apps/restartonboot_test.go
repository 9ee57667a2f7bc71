package apps

import (
	"slices"
	"testing"
	"time"

	"nodectl/cluster/api"
)

// The restart-on-boot label reaches the task's TaskInfo (the agent reads
// it there); a value other than true/false, or true on an app with
// secrets, is a 422 at the label.
func TestRestartOnBootLabel(t *testing.T) {
	h := newHarness(t)
	if code := h.do("POST", "/v2/apps", `{"id":"/b","cmd":"x","cpus":0.1,"mem":16,"labels":{"nodectl.restart-on-boot":"true"}}`, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	h.offerFrom("h1", res)
	ls := h.fake.launched()
	if len(ls) != 1 {
		t.Fatalf("launched %d", len(ls))
	}
	if on, err := api.RestartOnBoot(ls[0].Labels); !on || err != nil {
		t.Errorf("task labels %+v: restart on boot %v %v, want true", ls[0].Labels, on, err)
	}
	for name, body := range map[string]string{
		"bad value": `{"id":"/c","cmd":"x","labels":{"nodectl.restart-on-boot":"yes"}}`,
		"secrets":   `{"id":"/c","cmd":"x","labels":{"nodectl.restart-on-boot":"true"},"env":{"P":{"secret":"s"}},"secrets":{"s":{"source":"a/b"}}}`,
	} {
		var out struct {
			Details []Detail `json:"details"`
		}
		if code := h.do("POST", "/v2/apps", body, &out); code != 422 {
			t.Errorf("%s: %d, want 422", name, code)
			continue
		}
		var paths []string
		for _, d := range out.Details {
			paths = append(paths, d.Path)
		}
		if !slices.Contains(paths, "/labels/nodectl.restart-on-boot") {
			t.Errorf("%s: details at %v, want /labels/nodectl.restart-on-boot", name, paths)
		}
	}
	if code := h.do("POST", "/v2/apps", `{"id":"/d","cmd":"x","labels":{"nodectl.restart-on-boot":"FALSE"}}`, nil); code != 201 {
		t.Errorf("label false: %d, want 201", code)
	}
}

// A task relaunched by its agent after a reboot comes back (TASK_RUNNING)
// after the app already replaced it while it was unreachable (inactive,
// not yet expunged): the app has one task too many, and exactly one goes,
// chosen by killSelection as any scale-down (Marathon's
// unreachableStrategy: https://mesosphere.github.io/marathon/docs/configure-task-handling.html).
// YOUNGEST_FIRST (the default) keeps the returning task, which holds the
// older state; OLDEST_FIRST keeps the replacement.
func TestRelaunchedTaskReturnsAfterReplacement(t *testing.T) {
	for _, tc := range []struct {
		sel      string
		keepOrig bool
	}{{"YOUNGEST_FIRST", true}, {"OLDEST_FIRST", false}} {
		t.Run(tc.sel, func(t *testing.T) {
			h := newHarness(t)
			h.do("POST", "/v2/apps", `{"id":"/r","cmd":"x","cpus":0.1,"mem":16,"killSelection":"`+tc.sel+`",
				"labels":{"nodectl.restart-on-boot":"true"},"unreachableStrategy":{"inactiveAfterSeconds":0,"expungeAfterSeconds":3600}}`, nil)
			h.offerFrom("h1", res)
			h.runAll()
			orig := h.fake.launched()[0].TaskID.Value
			h.now = h.now.Add(time.Second)
			h.status(orig, api.TaskUnreachable)
			h.now = h.now.Add(time.Second)
			h.a.step()
			h.offerFrom("h2", res)
			ls := h.fake.launched()
			if len(ls) != 2 {
				t.Fatalf("%d launches, want the replacement", len(ls))
			}
			repl := ls[1].TaskID.Value
			h.status(repl, api.TaskRunning)
			h.now = h.now.Add(time.Second)
			h.status(orig, api.TaskRunning) // the agent is back with the relaunched task
			h.a.step()
			want := orig
			if tc.keepOrig {
				want = repl
			}
			if k := h.fake.killed(); len(k) != 1 || k[0] != want {
				t.Fatalf("killed %v, want exactly [%s]", k, want)
			}
		})
	}
}

// Pods cannot have the label yet (their tasks are a task group): 422 at
// the pod's and the container's label.
func TestRestartOnBootPodRefused(t *testing.T) {
	h := newHarness(t)
	body := `{"id":"/p","labels":{"nodectl.restart-on-boot":"true"},"scaling":{"kind":"fixed","instances":1},
 "containers":[{"name":"one","exec":{"command":{"shell":"sleep 300"}},"resources":{"cpus":0.05,"mem":32},"labels":{"nodectl.restart-on-boot":"true"}}]}`
	var out struct {
		Details []Detail `json:"details"`
	}
	if code := h.do("POST", "/v2/pods", body, &out); code != 422 {
		t.Fatalf("pod with the label: %d, want 422", code)
	}
	var paths []string
	for _, d := range out.Details {
		paths = append(paths, d.Path)
	}
	want := []string{"/labels/nodectl.restart-on-boot", "/containers/0/labels/nodectl.restart-on-boot"}
	if !slices.Equal(paths, want) {
		t.Errorf("details at %v, want %v", paths, want)
	}
}
