package apps

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
)

const twoContainerPod = `{"id":"/acc/pod","scaling":{"kind":"fixed","instances":1},
 "volumes":[{"name":"shared"}],
 "containers":[
  {"name":"one","exec":{"command":{"shell":"sleep 300"}},"resources":{"cpus":0.05,"mem":32},"volumeMounts":[{"name":"shared","mountPath":"data"}]},
  {"name":"two","exec":{"command":{"argv":["sleep","300"]}},"resources":{"cpus":0.05,"mem":32},"volumeMounts":[{"name":"shared","mountPath":"data","readOnly":true}],
   "healthCheck":{"exec":{"command":{"shell":"true"}}}}]}`

// TestPodValidation: every unknown or unsupported field is a 422 that
// names it; nothing is silently dropped.
func TestPodValidation(t *testing.T) {
	h := newHarness(t)
	base := func(container string) string {
		return `{"id":"/p","containers":[{"name":"c","exec":{"command":{"shell":"sleep 1"}},"resources":{"cpus":0.1,"mem":16}` + container + `}]`
	}
	cases := []struct{ body, want string }{
		{base(``) + `,"bogus":1}`, `unknown field \"bogus\"`},
		{base(`,"bogus":1`) + `}`, `unknown field \"bogus\"`},
		{base(`,"endpoints":[{"name":"http","containerPort":80}]`) + `,"networks":[{"mode":"container","name":"dcos"}]}`, "/containers/0/endpoints/0/containerPort"},
		{base(`,"endpoints":[{"name":"http"}]`) + `}`, "/containers/0/endpoints/0/hostPort"},
		{base(`,"artifacts":[{"uri":"http://x/y","bogus":1}]`) + `}`, `unknown field \"bogus\"`},
		{base(`,"artifacts":[{"uri":"http://x/y","destPath":"../y"}]`) + `}`, "/containers/0/artifacts/0/destPath"},
		{base(``) + `,"secrets":{"s":{"source":"../x"}}}`, "/secrets/s/source"},
		{base(``) + `,"environment":{"A":{"secret":"s"}}}`, "/environment/A"},
		{base(``) + `,"networks":[{"mode":"container","name":"dcos"}]}`, "/networks/0"},
		{base(``) + `,"volumes":[{"name":"v","host":"etc"}]}`, "/volumes/0/host"},
		{base(``) + `,"scheduling":{"placement":{"constraints":[{"fieldName":"hostname","operator":"NOPE"}]}}}`, "/scheduling/placement/constraints/0"},
		{base(`,"healthCheck":{"http":{"endpoint":"web"}}`) + `}`, "/containers/0/healthCheck/http"},
		{base(`,"image":{"kind":"APPC","id":"x"}`) + `}`, "/containers/0/image"},
		{base(`,"volumeMounts":[{"name":"nope","mountPath":"d"}]`) + `}`, "/containers/0/volumeMounts/0/name"},
		{base(`,"volumeMounts":[{"name":"v","mountPath":"/abs"}]`) + `,"volumes":[{"name":"v"}]}`, "/containers/0/volumeMounts/0/mountPath"},
		{`{"id":"/p","containers":[]}`, "/containers"},
		{base(``) + `,"scaling":{"kind":"elastic","instances":1}}`, "/scaling/kind"},
	}
	for _, c := range cases {
		var out map[string]any
		code := h.do("POST", "/v2/pods", c.body, &out)
		if code != 422 {
			t.Errorf("%s: code %d (%v), want 422", c.body, code, out)
			continue
		}
		if s := toJSON(t, out); !strings.Contains(s, c.want) {
			t.Errorf("%s: answer %s does not name %s", c.body, s, c.want)
		}
	}
	if code := h.do("GET", "/v2/pods", "", nil); code != 200 {
		t.Fatalf("list: %d", code)
	}
	var list []any
	h.do("GET", "/v2/pods", "", &list)
	if len(list) != 0 {
		t.Fatalf("refused pods were stored: %v", list)
	}
}

// TestPodLifecycle: a two-container pod launches as one LAUNCH_GROUP,
// its status aggregates its tasks', a failed container replaces the
// instance, and delete kills it.
func TestPodLifecycle(t *testing.T) {
	h := newHarness(t)
	var pod map[string]any
	if code := h.do("POST", "/v2/pods", twoContainerPod, &pod); code != 201 {
		t.Fatalf("create: %d %v", code, pod)
	}
	if code := h.do("POST", "/v2/pods", twoContainerPod, nil); code != 409 {
		t.Fatalf("second create: %d, want 409", code)
	}
	deployments := func() int {
		var ds []map[string]any
		if code := h.do("GET", "/v2/deployments", "", &ds); code != 200 {
			t.Fatalf("deployments: %d", code)
		}
		return len(ds)
	}
	h.a.step()
	if n := deployments(); n != 1 {
		t.Fatalf("%d deployments after create, want 1", n)
	}
	h.offerFrom("h1", "cpus:0.1;mem:64") // too small with the executor's resources
	if n := len(h.fake.accepts); n != 0 {
		t.Fatalf("%d accepts on a too small offer", n)
	}
	h.offerFrom("h1", "cpus:1;mem:512;disk:100")
	if n := len(h.fake.accepts); n != 1 {
		t.Fatalf("accepts: %d", n)
	}
	ops := h.fake.accepts[0].Operations
	if len(ops) != 1 || ops[0].Type != api.OperationLaunchGroup {
		t.Fatalf("operations: %+v", ops)
	}
	lg := ops[0].LaunchGroup
	if len(lg.TaskGroup.Tasks) != 2 || lg.Executor.Type != api.ExecutorTypeDefault || lg.Executor.Resources.Scalar("mem") != 32 {
		t.Fatalf("launch group: %+v", lg)
	}
	one, two := lg.TaskGroup.Tasks[0], lg.TaskGroup.Tasks[1]
	if !strings.HasSuffix(one.TaskID.Value, ".one") || one.Command.Value != "sleep 300" || two.Command.IsShell() || len(two.Command.Arguments) != 2 {
		t.Fatalf("tasks: %+v %+v", one, two)
	}
	v := two.Container.Volumes
	if len(v) != 1 || v[0].Mode != "RO" || v[0].Source.SandboxPath.Path != "volumes/shared" || two.HealthCheck == nil || two.HealthCheck.Type != "COMMAND" {
		t.Fatalf("second task: %+v", two)
	}
	status := func() map[string]any {
		var st map[string]any
		if code := h.do("GET", "/v2/pods/acc/pod::status", "", &st); code != 200 {
			t.Fatalf("status: %d", code)
		}
		return st
	}
	instStatus := func(st map[string]any) string {
		is := st["instances"].([]any)
		if len(is) != 1 {
			t.Fatalf("instances: %v", is)
		}
		return is[0].(map[string]any)["status"].(string)
	}
	if st := status(); st["status"] != podDegraded || instStatus(st) != instStaging {
		t.Fatalf("staging: %s %s", st["status"], instStatus(st))
	}
	h.status(one.TaskID.Value, api.TaskRunning)
	h.status(two.TaskID.Value, api.TaskRunning)
	if st := status(); st["status"] != podDegraded || instStatus(st) != instDegraded {
		t.Fatalf("running, not yet healthy: %s %s", st["status"], instStatus(st))
	}
	healthy := true
	st := api.TaskStatus{TaskID: two.TaskID, State: api.TaskRunning, Healthy: &healthy, AgentID: &api.ID{Value: "a"}, UUID: []byte("u")}
	if err := h.a.handle(api.Event{Type: api.EventUpdate, Update: &api.UpdateEvent{Status: st}}); err != nil {
		t.Fatal(err)
	}
	if st := status(); st["status"] != podStable || instStatus(st) != instStable {
		t.Fatalf("healthy: %s %s", st["status"], instStatus(st))
	}
	h.a.step()
	if n := deployments(); n != 0 {
		t.Fatalf("%d deployments once stable, want 0", n)
	}
	var grp map[string]any
	if code := h.do("GET", "/v2/groups/acc", "", &grp); code != 200 || len(grp["pods"].([]any)) != 1 {
		t.Fatalf("group /acc: %d %v", code, grp)
	}
	if code := h.do("POST", "/v2/apps", `{"id":"/acc/pod","cmd":"sleep 1"}`, nil); code != 409 {
		t.Fatalf("an app with the pod's id: %d, want 409", code)
	}
	// A PUT of scaling alone keeps the instance (no launch, no kill).
	accepts, kills := len(h.fake.accepts), len(h.fake.killed())
	scaled := strings.Replace(twoContainerPod, `"instances":1`, `"instances":1,"maxInstances":3`, 1)
	if code := h.do("PUT", "/v2/pods/acc/pod", scaled, nil); code != 200 {
		t.Fatalf("PUT: %d", code)
	}
	h.a.step()
	h.offerFrom("h1", "cpus:1;mem:512;disk:100")
	if st := status(); st["status"] != podStable || len(h.fake.accepts) != accepts || len(h.fake.killed()) != kills {
		t.Fatalf("after a scaling change: %s, %d accepts, %d kills", st["status"], len(h.fake.accepts)-accepts, len(h.fake.killed())-kills)
	}
	var all []map[string]any
	if code := h.do("GET", "/v2/pods/::status", "", &all); code != 200 || len(all) != 1 {
		t.Fatalf("all statuses: %d %v", code, all)
	}
	var vs []string
	if code := h.do("GET", "/v2/pods/acc/pod::versions", "", &vs); code != 200 || len(vs) != 2 {
		t.Fatalf("versions: %d %v", code, vs)
	}
	if code := h.do("GET", "/v2/pods/acc/pod::versions/"+vs[0], "", nil); code != 200 {
		t.Fatalf("version: %d", code)
	}

	// One container fails: the rest of the instance is killed, and a new
	// instance replaces it once the old one ended.
	h.status(one.TaskID.Value, api.TaskFailed)
	if k := h.fake.killed(); len(k) != 1 || k[0] != two.TaskID.Value {
		t.Fatalf("killed after a failure: %v", k)
	}
	h.status(two.TaskID.Value, api.TaskKilled)
	h.now = h.now.Add(time30s)
	h.a.step()
	h.offerFrom("h1", "cpus:1;mem:512;disk:100")
	if n := len(h.fake.accepts); n != 2 {
		t.Fatalf("no replacement: %d accepts", n)
	}
	repl := h.fake.accepts[1].Operations[0].LaunchGroup.TaskGroup.Tasks

	// Kill one instance by id, then delete the pod.
	inst := strings.TrimSuffix(repl[0].TaskID.Value, ".one")
	var killed map[string]any
	if code := h.do("DELETE", "/v2/pods/acc/pod::instances/"+inst, "", &killed); code != 200 {
		t.Fatalf("kill instance: %d", code)
	}
	if killed["instanceId"].(map[string]any)["idString"] != inst {
		t.Fatalf("killed instance: %v", killed)
	}
	if code := h.do("DELETE", "/v2/pods/acc/pod", "", nil); code != 202 {
		t.Fatalf("delete: %d", code)
	}
	if code := h.do("GET", "/v2/pods/acc/pod", "", nil); code != 404 {
		t.Fatalf("get after delete: %d", code)
	}
	h.status(repl[0].TaskID.Value, api.TaskKilled)
	h.status(repl[1].TaskID.Value, api.TaskKilled)
	h.a.mu.Lock()
	left := len(h.a.pods.instances)
	h.a.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d instances left after delete", left)
	}
}

// TestPodStatusAggregation: instance and pod statuses from task states.
func TestPodStatusAggregation(t *testing.T) {
	yes, no := true, false
	inst := func(states ...api.TaskState) *podInstance {
		i := &podInstance{Version: "v1"}
		for _, s := range states {
			i.Tasks = append(i.Tasks, &podTask{State: s})
		}
		return i
	}
	for _, c := range []struct {
		i    *podInstance
		want string
	}{
		{inst(api.TaskStaging, api.TaskStarting), instStaging},
		{inst(api.TaskRunning, api.TaskStaging), instStaging},
		{inst(api.TaskRunning, api.TaskRunning), instStable},
		{inst(api.TaskRunning, api.TaskFailed), instDegraded},
		{inst(api.TaskFinished, api.TaskKilled), instTerminal},
		{&podInstance{Tasks: []*podTask{{State: api.TaskRunning, Checked: true, Healthy: &no}}}, instDegraded},
		{&podInstance{Tasks: []*podTask{{State: api.TaskRunning, Checked: true, Healthy: &yes}}}, instStable},
		{&podInstance{}, instPending},
	} {
		if got := instanceStatus(c.i); got != c.want {
			t.Errorf("%+v: %s, want %s", c.i.Tasks, got, c.want)
		}
	}
	def := &Pod{Version: "v1", Scaling: &PodScaling{Kind: "fixed", Instances: 2}}
	stable := inst(api.TaskRunning)
	old := inst(api.TaskRunning)
	old.Version = "v0"
	for _, c := range []struct {
		insts []*podInstance
		want  string
	}{
		{[]*podInstance{stable, stable}, podStable},
		{[]*podInstance{stable}, podDegraded},
		{[]*podInstance{stable, stable, old}, podDegraded},
		{[]*podInstance{stable, inst(api.TaskStaging)}, podDegraded},
	} {
		if got := podStatusOf(def, c.insts); got != c.want {
			t.Errorf("%d instances: %s, want %s", len(c.insts), got, c.want)
		}
	}
	if got := podStatusOf(&Pod{Scaling: &PodScaling{Instances: 0}}, nil); got != podTerminal {
		t.Errorf("scaled to 0: %s", got)
	}
}

const time30s = 30 * time.Second

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
