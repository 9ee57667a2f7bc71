package apps

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster"
	"nodectl/cluster/api"
)

// podOfOne is a pod of n one-container instances with extra scheduling
// fields.
func podOfOne(n int, scheduling string) string {
	return fmt.Sprintf(`{"id":"/ks","scaling":{"kind":"fixed","instances":%d},%s
	 "containers":[{"name":"c","exec":{"command":{"shell":"sleep 300"}},"resources":{"cpus":0.1,"mem":16}}]}`, n, scheduling)
}

// launchOneByOne launches n instances, one per offer, a second apart,
// and runs them; it returns their instance ids, oldest first.
func launchOneByOne(h *harness, n int) []string {
	h.t.Helper()
	var ids []string
	for range n {
		h.now = h.now.Add(time.Second)
		before := len(h.fake.accepts)
		h.offerFrom("h1", "cpus:0.2;mem:48;disk:10") // one instance with its executor
		if len(h.fake.accepts) != before+1 {
			h.t.Fatalf("no instance launched on offer %d", len(ids)+1)
		}
		tk := h.fake.accepts[before].Operations[0].LaunchGroup.TaskGroup.Tasks[0]
		h.status(tk.TaskID.Value, api.TaskRunning)
		ids = append(ids, strings.TrimSuffix(tk.TaskID.Value, ".c"))
	}
	return ids
}

// TestPodKillSelection (Marathon killSelection.raml): scaled 3 → 1, a pod
// with OLDEST_FIRST kills its two oldest instances, one with the default
// (YOUNGEST_FIRST) its two youngest; the value is read regardless of case
// and shown canonically; other values are refused.
func TestPodKillSelection(t *testing.T) {
	for _, c := range []struct {
		scheduling string
		kill       func(ids []string) []string
	}{
		{`"scheduling":{"killSelection":"OLDEST_FIRST"},`, func(ids []string) []string { return ids[:2] }},
		{``, func(ids []string) []string { return ids[1:] }},
		{`"scheduling":{"killSelection":"Youngest_First"},`, func(ids []string) []string { return ids[1:] }},
	} {
		h := newHarness(t)
		var got Pod
		if code := h.do("POST", "/v2/pods", podOfOne(3, c.scheduling), &got); code != 201 {
			t.Fatalf("%s: create %d", c.scheduling, code)
		}
		if c.scheduling != "" && got.Scheduling.KillSelection != strings.ToUpper(got.Scheduling.KillSelection) {
			t.Errorf("%s: shown as %q", c.scheduling, got.Scheduling.KillSelection)
		}
		ids := launchOneByOne(h, 3)
		if code := h.do("PUT", "/v2/pods/ks", podOfOne(1, c.scheduling), nil); code != 200 {
			t.Fatalf("%s: scale: %d", c.scheduling, code)
		}
		h.a.step()
		var killed []string
		for _, k := range h.fake.killed() {
			killed = append(killed, strings.TrimSuffix(k, ".c"))
		}
		slices.Sort(killed)
		want := c.kill(ids)
		if !slices.Equal(killed, want) {
			t.Errorf("%s: killed %v of %v (oldest first), want %v", c.scheduling, killed, ids, want)
		}
	}
	h := newHarness(t)
	var out map[string]any
	if code := h.do("POST", "/v2/pods", podOfOne(1, `"scheduling":{"killSelection":"RANDOM"},`), &out); code != 422 ||
		!strings.Contains(toJSON(t, out), "/scheduling/killSelection") {
		t.Errorf("killSelection RANDOM: %d %v, want 422 naming it", code, out)
	}
}

// TestPodContainerUserAndEntrypoint: a container's user, else the pod's,
// is its CommandInfo.user; argv with an image is appended to the image's
// entrypoint unless overrideEntrypoint; shell with overrideEntrypoint
// false and tty are refused.
func TestPodContainerUserAndEntrypoint(t *testing.T) {
	h := newHarness(t)
	pod := `{"id":"/ue","user":"alice","containers":[
	  {"name":"own","user":"bob","image":{"kind":"DOCKER","id":"busybox"},"exec":{"command":{"argv":["-c","echo hi"]}},"resources":{"cpus":0.1,"mem":16}},
	  {"name":"over","image":{"kind":"DOCKER","id":"busybox"},"exec":{"command":{"argv":["sleep","300"]},"overrideEntrypoint":true},"resources":{"cpus":0.1,"mem":16}},
	  {"name":"plain","exec":{"command":{"argv":["sleep","300"]}},"resources":{"cpus":0.1,"mem":16}},
	  {"name":"sh","exec":{"command":{"shell":"sleep 300"},"overrideEntrypoint":true},"resources":{"cpus":0.1,"mem":16}}]}`
	var got Pod
	if code := h.do("POST", "/v2/pods", pod, &got); code != 201 {
		t.Fatalf("create: %d %+v", code, got)
	}
	if got.Containers[0].User != "bob" || got.Containers[1].Exec.OverrideEntrypoint == nil || !*got.Containers[1].Exec.OverrideEntrypoint {
		t.Errorf("shown back: %+v", got.Containers)
	}
	h.offerFrom("h1", "cpus:1;mem:512;disk:100")
	if len(h.fake.accepts) != 1 {
		t.Fatalf("accepts: %d", len(h.fake.accepts))
	}
	tasks := map[string]api.TaskInfo{}
	for _, ti := range h.fake.accepts[0].Operations[0].LaunchGroup.TaskGroup.Tasks {
		tasks[ti.Name] = ti
	}
	for name, want := range map[string]struct {
		user, value string
		shell       bool
		args        []string
	}{
		"own":   {"bob", "", false, []string{"-c", "echo hi"}},
		"over":  {"alice", "sleep", false, []string{"sleep", "300"}},
		"plain": {"alice", "sleep", false, []string{"sleep", "300"}},
		"sh":    {"alice", "sleep 300", true, nil},
	} {
		c := tasks[name].Command
		if c == nil || c.User != want.user || c.Value != want.value || c.IsShell() != want.shell || !slices.Equal(c.Arguments, want.args) {
			t.Errorf("%s: command %+v, want %+v", name, c, want)
		}
	}
	for body, path := range map[string]string{
		`{"id":"/bad","containers":[{"name":"c","exec":{"command":{"shell":"true"},"overrideEntrypoint":false},"resources":{"cpus":0.1,"mem":16}}]}`: "/containers/0/exec/overrideEntrypoint",
		`{"id":"/bad","containers":[{"name":"c","exec":{"command":{"shell":"true"}},"tty":true,"resources":{"cpus":0.1,"mem":16}}]}`:                 "/containers/0/tty",
	} {
		var out struct {
			Details []Detail `json:"details"`
		}
		if code := h.do("POST", "/v2/pods", body, &out); code != 422 || len(out.Details) != 1 || out.Details[0].Path != path {
			t.Errorf("%s: %d %+v, want 422 at %s", body, code, out, path)
		}
		if path == "/containers/0/tty" && len(out.Details) == 1 && !strings.Contains(out.Details[0].Errors[0], "attach") {
			t.Errorf("tty refusal %q does not say why", out.Details[0].Errors[0])
		}
	}
}

// TestPodTerminationHistory: each instance whose tasks all ended shows in
// the pod status's terminationHistory, newest first, with when it started
// and ended, why, and each container's last state and exit; at most
// podTerminationsKept are kept. An end that cannot be committed (the
// fenced store outside a term) records nothing.
func TestPodTerminationHistory(t *testing.T) {
	h := newHarness(t)
	pod := `{"id":"/th","scheduling":{"backoff":{"backoff":1,"backoffFactor":1}},"containers":[
	  {"name":"a","exec":{"command":{"shell":"sleep 300"}},"resources":{"cpus":0.1,"mem":16}},
	  {"name":"b","exec":{"command":{"shell":"exit 3"}},"resources":{"cpus":0.1,"mem":16}}]}`
	if code := h.do("POST", "/v2/pods", pod, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	type history []struct {
		InstanceID   string `json:"instanceID"`
		StartedAt    string `json:"startedAt"`
		TerminatedAt string `json:"terminatedAt"`
		Message      string `json:"message"`
		Containers   []struct {
			ContainerID    string `json:"containerId"`
			LastKnownState string `json:"lastKnownState"`
			Termination    *struct {
				ExitCode *int   `json:"exitCode"`
				Message  string `json:"message"`
			} `json:"termination"`
		} `json:"containers"`
	}
	get := func() history {
		var st struct {
			TerminationHistory history `json:"terminationHistory"`
		}
		if code := h.do("GET", "/v2/pods/th::status", "", &st); code != 200 {
			t.Fatalf("status: %d", code)
		}
		return st.TerminationHistory
	}
	if hs := get(); hs == nil || len(hs) != 0 {
		t.Fatalf("history before any termination: %v", hs)
	}
	// fail launches an instance, runs it, fails container b with exit 3
	// and reports a killed; it returns the instance id.
	fail := func() string {
		t.Helper()
		h.now = h.now.Add(time.Minute)
		h.a.step()
		before := len(h.fake.accepts)
		h.offerFrom("h1", "cpus:1;mem:512;disk:100")
		if len(h.fake.accepts) != before+1 {
			t.Fatal("no instance launched")
		}
		ts := h.fake.accepts[before].Operations[0].LaunchGroup.TaskGroup.Tasks
		h.status(ts[0].TaskID.Value, api.TaskRunning)
		h.status(ts[1].TaskID.Value, api.TaskRunning)
		h.now = h.now.Add(time.Second)
		code := 3
		st := api.TaskStatus{TaskID: ts[1].TaskID, State: api.TaskFailed, Message: "Command exited with status 3", ExitCode: &code,
			AgentID: &api.ID{Value: "a"}, UUID: []byte("u")}
		if err := h.a.handle(api.Event{Type: api.EventUpdate, Update: &api.UpdateEvent{Status: st}}); err != nil {
			t.Fatal(err)
		}
		h.now = h.now.Add(time.Second)
		h.status(ts[0].TaskID.Value, api.TaskKilled)
		return strings.TrimSuffix(ts[0].TaskID.Value, ".a")
	}
	started := h.now.Add(time.Minute)
	first := fail()
	hs := get()
	if len(hs) != 1 {
		t.Fatalf("history after one failure: %+v", hs)
	}
	r := hs[0]
	if r.InstanceID != first || r.StartedAt != formatTime(started) || r.TerminatedAt != formatTime(h.now) ||
		r.Message != "Command exited with status 3" || len(r.Containers) != 2 {
		t.Fatalf("record %+v (instance %s, started %s, ended %s)", r, first, formatTime(started), formatTime(h.now))
	}
	a, b := r.Containers[0], r.Containers[1]
	if a.ContainerID != first+".a" || a.LastKnownState != "TASK_KILLED" || b.ContainerID != first+".b" || b.LastKnownState != "TASK_FAILED" ||
		b.Termination == nil || b.Termination.ExitCode == nil || *b.Termination.ExitCode != 3 {
		t.Fatalf("containers %+v", r.Containers)
	}
	var ids []string
	for range podTerminationsKept + 1 {
		ids = append(ids, fail())
	}
	hs = get()
	if len(hs) != podTerminationsKept || hs[0].InstanceID != ids[len(ids)-1] || hs[podTerminationsKept-1].InstanceID != ids[1] {
		t.Fatalf("history of %d, newest %s; want %d, newest %s", len(hs), hs[0].InstanceID, podTerminationsKept, ids[len(ids)-1])
	}

	// Deposed: the end of an instance is not committed, so not recorded.
	h.now = h.now.Add(time.Minute)
	h.a.step()
	before := len(h.fake.accepts)
	h.offerFrom("h1", "cpus:1;mem:512;disk:100")
	ts := h.fake.accepts[before].Operations[0].LaunchGroup.TaskGroup.Tasks
	h.status(ts[0].TaskID.Value, api.TaskFailed)
	h.a.mu.Lock()
	h.a.store = deposedStore(t)
	h.a.mu.Unlock()
	st := api.TaskStatus{TaskID: ts[1].TaskID, State: api.TaskKilled, AgentID: &api.ID{Value: "a"}, UUID: []byte("u")}
	if err := h.a.handle(api.Event{Type: api.EventUpdate, Update: &api.UpdateEvent{Status: st}}); !errors.Is(err, cluster.ErrLostLeadership) {
		t.Fatalf("end while deposed: %v", err)
	}
	if hs := get(); hs[0].InstanceID != ids[len(ids)-1] {
		t.Fatalf("an uncommitted end was recorded: %s", hs[0].InstanceID)
	}
	h.a.mu.Lock()
	h.a.store = &store{}
	h.a.mu.Unlock()
	if err := h.a.handle(api.Event{Type: api.EventUpdate, Update: &api.UpdateEvent{Status: st}}); err != nil {
		t.Fatal(err)
	}
	if hs := get(); hs[0].InstanceID != strings.TrimSuffix(ts[0].TaskID.Value, ".a") {
		t.Fatalf("the retried end is not recorded: %s", hs[0].InstanceID)
	}
	// Deleted with the pod.
	if ops := podDeleteOps([]string{"/th"}); !slices.ContainsFunc(ops, func(o clientv3.Op) bool {
		return string(o.KeyBytes()) == podTerminationsKey("/th")
	}) {
		t.Error("deleting a pod leaves its termination history")
	}
}

// TestHealthEventsPerCheck (Marathon docs: event-bus.html): with two
// checks, each check's failure and change of health is its own event,
// carrying that check's definition; one check's events carry it too.
func TestHealthEventsPerCheck(t *testing.T) {
	h := newHarness(t)
	if code := h.do("POST", "/v2/apps", `{"id":"/hc2","cmd":"serve","instances":1,"cpus":0.1,"mem":16,
		"healthChecks":[{"protocol":"HTTP","path":"/health"},{"protocol":"TCP","portIndex":0}]}`, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	h.offerFrom("h1", res)
	id := h.fake.launched()[0].TaskID.Value
	h.status(id, api.TaskRunning)
	sub := h.a.bus.subscribe([]string{"health_status_changed_event", "failed_health_check_event"})
	defer h.a.bus.unsubscribe(sub)
	send := func(a, b bool) {
		t.Helper()
		all := a && b
		res := []api.CheckResult{{Healthy: &a}, {Healthy: &b}}
		for i, ok := range []bool{a, b} {
			if !ok {
				res[i].Message = fmt.Sprint("check ", i, " down")
			}
		}
		st := api.TaskStatus{TaskID: api.ID{Value: id}, State: api.TaskRunning, AgentID: &api.ID{Value: "a"}, UUID: []byte("u"), Healthy: &all, HealthChecks: res}
		if err := h.a.handle(api.Event{Type: api.EventUpdate, Update: &api.UpdateEvent{Status: st}}); err != nil {
			t.Fatal(err)
		}
	}
	type ev struct {
		typ, protocol, cause string
		alive                any
	}
	drain := func() []ev {
		var out []ev
		for {
			select {
			case e := <-sub.ch:
				var m map[string]any
				if err := json.Unmarshal(e.data, &m); err != nil {
					t.Fatal(err)
				}
				hc, _ := m["healthCheck"].(map[string]any)
				if m["appId"] != "/hc2" || m["taskId"] != id || hc == nil {
					t.Errorf("event %s: %v", e.typ, m)
				}
				cause, _ := m["cause"].(string)
				out = append(out, ev{e.typ, fmt.Sprint(hc["protocol"]), cause, m["alive"]})
			default:
				return out
			}
		}
	}
	send(true, true)
	if got, want := drain(), []ev{{"health_status_changed_event", "HTTP", "", true}, {"health_status_changed_event", "TCP", "", true}}; !slices.Equal(got, want) {
		t.Errorf("both pass: %v, want %v", got, want)
	}
	send(true, false)
	if got, want := drain(), []ev{{"failed_health_check_event", "TCP", "check 1 down", nil}, {"health_status_changed_event", "TCP", "", false}}; !slices.Equal(got, want) {
		t.Errorf("the TCP check fails: %v, want %v", got, want)
	}
	send(false, false)
	if got, want := drain(), []ev{{"failed_health_check_event", "HTTP", "check 0 down", nil}, {"health_status_changed_event", "HTTP", "", false}}; !slices.Equal(got, want) {
		t.Errorf("the HTTP check fails too: %v, want %v", got, want)
	}
	send(true, false)
	if got, want := drain(), []ev{{"health_status_changed_event", "HTTP", "", true}}; !slices.Equal(got, want) {
		t.Errorf("the HTTP check passes again: %v, want %v", got, want)
	}

	// One check: one event per report, with the check.
	if code := h.do("POST", "/v2/apps", `{"id":"/hc1","cmd":"serve","instances":1,"cpus":0.1,"mem":16,
		"healthChecks":[{"protocol":"COMMAND","command":{"value":"true"}}]}`, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	h.offerFrom("h1", res)
	var one string
	for _, ti := range h.fake.launched() {
		if strings.HasPrefix(ti.TaskID.Value, "hc1.") {
			one = ti.TaskID.Value
		}
	}
	h.status(one, api.TaskRunning)
	no := false
	st := api.TaskStatus{TaskID: api.ID{Value: one}, State: api.TaskRunning, AgentID: &api.ID{Value: "a"}, UUID: []byte("u"), Healthy: &no, Message: "exit 1"}
	if err := h.a.handle(api.Event{Type: api.EventUpdate, Update: &api.UpdateEvent{Status: st}}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		select {
		case e := <-sub.ch:
			got = append(got, e.typ+" "+string(e.data))
			continue
		default:
		}
		break
	}
	if len(got) != 2 || !strings.Contains(got[0], `"protocol":"COMMAND"`) || !strings.Contains(got[1], `"alive":false`) {
		t.Errorf("one check's events: %v", got)
	}
}
