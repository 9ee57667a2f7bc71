package apps

import (
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
)

// stratPod is a one-container pod with scheduling fields merged in.
func stratPod(id string, instances int, cmd, scheduling string) string {
	return `{"id":"` + id + `","scaling":{"kind":"fixed","instances":` + string(rune('0'+instances)) + `},"scheduling":` + scheduling + `,
	 "containers":[{"name":"c","exec":{"command":{"shell":"` + cmd + `"}},"resources":{"cpus":0.1,"mem":16}}]}`
}

// launchedPodTasks are the tasks of every LAUNCH_GROUP accepted from
// index from on.
func launchedPodTasks(h *harness, from int) []api.TaskInfo {
	var out []api.TaskInfo
	for _, a := range h.fake.accepts[from:] {
		for _, op := range a.Operations {
			if op.LaunchGroup != nil {
				out = append(out, op.LaunchGroup.TaskGroup.Tasks...)
			}
		}
	}
	return out
}

// TestPodUpgradeStrategy: a changed pod replaces its instances as
// scheduling.upgrade allows: with minimumHealthCapacity 0.5 and
// maximumOverCapacity 0, one of two old instances goes before one new
// instance is launched, never more alive than two.
func TestPodUpgradeStrategy(t *testing.T) {
	h := newHarness(t)
	for _, bad := range []struct{ sched, want string }{
		{`{"upgrade":{"minimumHealthCapacity":1.5}}`, "/scheduling/upgrade/minimumHealthCapacity"},
		{`{"upgrade":{"maximumOverCapacity":-1}}`, "/scheduling/upgrade/maximumOverCapacity"},
		{`{"upgrade":{"bogus":1}}`, "/scheduling/upgrade"},
		{`{"unreachableStrategy":{"inactiveAfterSeconds":10,"expungeAfterSeconds":5}}`, "/scheduling/unreachableStrategy/expungeAfterSeconds"},
		{`{"unreachableStrategy":"sometimes"}`, "/scheduling/unreachableStrategy"},
		{`{"unreachableStrategy":{"inactiveAfter":10}}`, "/scheduling/unreachableStrategy"},
	} {
		var out map[string]any
		if code := h.do("POST", "/v2/pods", stratPod("/bad", 1, "sleep 1", bad.sched), &out); code != 422 || !strings.Contains(toJSON(t, out), bad.want) {
			t.Errorf("%s: %d %v, want 422 naming %s", bad.sched, code, out, bad.want)
		}
	}
	sched := `{"upgrade":{"minimumHealthCapacity":0.5,"maximumOverCapacity":0},"unreachableStrategy":{"inactiveAfterSeconds":0,"expungeAfterSeconds":0}}`
	if code := h.do("POST", "/v2/pods", stratPod("/up/pod", 2, "sleep 100", sched), nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	h.a.step()
	h.offerFrom("h1", "cpus:4;mem:1024;disk:100")
	first := launchedPodTasks(h, 0)
	if len(first) != 2 {
		t.Fatalf("first launch: %d tasks", len(first))
	}
	for _, ti := range first {
		h.status(ti.TaskID.Value, api.TaskRunning)
	}
	if code := h.do("PUT", "/v2/pods/up/pod", stratPod("/up/pod", 2, "sleep 200", sched), nil); code != 200 {
		t.Fatalf("PUT: %d", code)
	}
	h.a.step()
	if k := h.fake.killed(); len(k) != 1 {
		t.Fatalf("killed at the start of the upgrade: %v, want one old instance", k)
	}
	accepts := len(h.fake.accepts)
	h.offerFrom("h1", "cpus:4;mem:1024;disk:100")
	second := launchedPodTasks(h, accepts)
	if len(second) != 1 || second[0].Command.Value != "sleep 200" {
		t.Fatalf("launched while one old instance is going: %+v, want one new instance", second)
	}
	// The old instance ends; the new one runs: the other old one goes and
	// the last new one is launched.
	h.status(h.fake.killed()[0], api.TaskKilled)
	accepts = len(h.fake.accepts)
	h.offerFrom("h1", "cpus:4;mem:1024;disk:100")
	if n := len(launchedPodTasks(h, accepts)); n != 0 {
		t.Fatalf("launched %d before a new instance was stable", n)
	}
	h.status(second[0].TaskID.Value, api.TaskRunning)
	if k := h.fake.killed(); len(k) != 2 {
		t.Fatalf("killed once a new instance is stable: %v, want both old ones", k)
	}
	h.status(h.fake.killed()[1], api.TaskKilled)
	accepts = len(h.fake.accepts)
	h.offerFrom("h1", "cpus:4;mem:1024;disk:100")
	if third := launchedPodTasks(h, accepts); len(third) != 1 || third[0].Command.Value != "sleep 200" {
		t.Fatalf("last new instance: %+v", third)
	}
	var got map[string]any
	h.do("GET", "/v2/pods/up/pod", "", &got)
	if s := toJSON(t, got["scheduling"]); !strings.Contains(s, `"minimumHealthCapacity":0.5`) || !strings.Contains(s, `"inactiveAfterSeconds":0`) {
		t.Fatalf("scheduling shown: %s", s)
	}
}

// TestPodUnreachableStrategy: an instance whose task is unreachable is
// replaced after inactiveAfterSeconds and forgotten after
// expungeAfterSeconds; "disabled" waits for it.
func TestPodUnreachableStrategy(t *testing.T) {
	h := newHarness(t)
	if code := h.do("POST", "/v2/pods", stratPod("/ur/pod", 1, "sleep 100", `{"unreachableStrategy":{"inactiveAfterSeconds":60,"expungeAfterSeconds":120}}`), nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if code := h.do("POST", "/v2/pods", stratPod("/ur/off", 1, "sleep 100", `{"unreachableStrategy":"disabled"}`), nil); code != 201 {
		t.Fatalf("create disabled: %d", code)
	}
	h.a.step()
	h.offerFrom("h1", "cpus:4;mem:1024;disk:100")
	tasks := launchedPodTasks(h, 0)
	if len(tasks) != 2 {
		t.Fatalf("launched %d", len(tasks))
	}
	for _, ti := range tasks {
		h.status(ti.TaskID.Value, api.TaskRunning)
		h.status(ti.TaskID.Value, api.TaskUnreachable)
	}
	replacements := func() map[string]int {
		out := map[string]int{}
		for _, ti := range launchedPodTasks(h, 1) {
			out[strings.SplitN(ti.TaskID.Value, ".", 2)[0]]++
		}
		return out
	}
	h.now = h.now.Add(30 * time.Second)
	h.a.step()
	h.offerFrom("h1", "cpus:4;mem:1024;disk:100")
	if r := replacements(); len(r) != 0 {
		t.Fatalf("replaced before inactiveAfterSeconds: %v", r)
	}
	h.now = h.now.Add(31 * time.Second)
	h.a.step()
	h.offerFrom("h1", "cpus:4;mem:1024;disk:100")
	if r := replacements(); len(r) != 1 || r["ur_pod"] != 1 {
		t.Fatalf("replacements after inactiveAfterSeconds: %v, want one of /ur/pod only", r)
	}
	countOf := func(pod string) int {
		h.a.mu.Lock()
		defer h.a.mu.Unlock()
		return len(h.a.instancesOfLocked(pod))
	}
	if n := countOf("/ur/pod"); n != 2 {
		t.Fatalf("/ur/pod has %d instances, want the inactive one and its replacement", n)
	}
	h.now = h.now.Add(60 * time.Second)
	h.a.step()
	if n := countOf("/ur/pod"); n != 1 {
		t.Fatalf("/ur/pod has %d instances after expungeAfterSeconds, want 1", n)
	}
	if n := countOf("/ur/off"); n != 1 {
		t.Fatalf("disabled: %d instances", n)
	}
	// The disabled pod's instance comes back: still one instance, no
	// kill; the expunged one comes back: its task is killed.
	byPod := map[string]api.TaskInfo{}
	for _, ti := range tasks {
		byPod[strings.SplitN(ti.TaskID.Value, ".", 2)[0]] = ti
	}
	kills := len(h.fake.killed())
	h.status(byPod["ur_off"].TaskID.Value, api.TaskRunning)
	if n := countOf("/ur/off"); n != 1 || len(h.fake.killed()) != kills {
		t.Fatalf("disabled instance back: %d instances, %d kills", n, len(h.fake.killed())-kills)
	}
	h.status(byPod["ur_pod"].TaskID.Value, api.TaskRunning)
	if k := h.fake.killed(); len(k) != kills+1 || k[kills] != byPod["ur_pod"].TaskID.Value {
		t.Fatalf("expunged instance back: kills %v, want its task killed", k[kills:])
	}
}
