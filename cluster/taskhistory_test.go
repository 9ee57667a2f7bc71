package cluster

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"nodectl/cluster/api"
)

// TestTaskHistoryIsCompact: a task's history keeps the newest maxStatuses
// statuses, sized to what it holds; what it hands out (history) does not
// change with later records; an agent's status (its task's id and agent
// id, a 16-byte UUID) is kept without any allocation beside it, its
// strings shared; a record read back from etcd gives the same history.
func TestTaskHistoryIsCompact(t *testing.T) {
	tk := &task{info: api.TaskInfo{TaskID: api.ID{Value: "web.1"}}, agentID: "agent-1"}
	decoded := func(i int) api.TaskStatus {
		var st api.TaskStatus // as an agent's update arrives: every string its own copy
		js := `{"task_id":{"value":"web.1"},"state":"TASK_RUNNING","source":"SOURCE_AGENT","reason":"REASON_TASK_HEALTH_CHECK_STATUS_UPDATED","agent_id":{"value":"agent-1"},"uuid":"AAECAwQFBgcICQoLDA0ODw==","timestamp":` + strings.Repeat("1", i+1) + `}`
		if err := json.Unmarshal([]byte(js), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	var handedOut []api.TaskStatus
	for i := range maxStatuses + 3 {
		tk.record(decoded(i))
		if i == 2 {
			handedOut = tk.history()
		}
	}
	if len(tk.statuses) != maxStatuses || cap(tk.statuses) != maxStatuses {
		t.Fatalf("history len %d cap %d, want %d", len(tk.statuses), cap(tk.statuses), maxStatuses)
	}
	if len(handedOut) != 3 || handedOut[2].Timestamp != 111 {
		t.Fatalf("a history handed out changed: %+v", handedOut)
	}
	h := tk.history()
	if got := h[maxStatuses-1].Timestamp; got != 1111111111111 {
		t.Errorf("newest status has timestamp %v, want the last recorded", got)
	}
	if want := decoded(maxStatuses + 2); !reflect.DeepEqual(h[maxStatuses-1], want) {
		t.Errorf("newest status\n%+v, want\n%+v", h[maxStatuses-1], want)
	}
	m := &Master{cfg: Config{}}
	if got := m.lastStatus(tk); got.Timestamp != 1111111111111 {
		t.Errorf("lastStatus is %v, want the newest", got.Timestamp)
	}
	for i, hs := range tk.statuses {
		if hs.extra != nil {
			t.Errorf("status %d keeps an extra: %+v", i, *hs.extra)
		}
		if hs.kind != tk.statuses[0].kind {
			t.Errorf("status %d keeps its own copy of its state, source, reason and message", i)
		}
	}
	other := &task{info: api.TaskInfo{TaskID: api.ID{Value: "web.2"}}, agentID: "agent-2"}
	other.record(decoded(0))
	if other.statuses[0].kind != tk.statuses[0].kind {
		t.Error("two tasks' equal statuses do not share their state, source, reason and message")
	}
	if size := unsafe.Sizeof(histStatus{}); size > 48 {
		t.Errorf("a histStatus is %d bytes", size)
	}

	// Read back: trimmed to maxStatuses, the same history.
	rec := taskRecord{FrameworkID: "fw", AgentID: "agent-1", Info: tk.info, State: api.TaskRunning, Statuses: append(handedOut, h...)}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	v, err := recordKinds[taskKind].decode(b)
	if err != nil {
		t.Fatal(err)
	}
	back, ok := v.(*task)
	if !ok {
		t.Fatalf("a record read back is a %T, want the task built", v)
	}
	if !reflect.DeepEqual(back.history(), h) {
		t.Errorf("read back:\n%+v\nwant\n%+v", back.history(), h)
	}
}

// TestTaskHistoryKeepsEveryField: a status recorded in a task's history
// comes back equal, whichever of api.TaskStatus' fields it has: every
// field set at once (a field added to api.TaskStatus fails this until the
// history keeps it), ids that are not the task's, no agent id, UUIDs of
// other lengths.
func TestTaskHistoryKeepsEveryField(t *testing.T) {
	full := api.TaskStatus{}
	fill(t, reflect.ValueOf(&full).Elem(), "TaskStatus")
	healthy := true
	code := 3
	for _, tc := range []struct {
		name    string
		agentID string
		st      api.TaskStatus
	}{
		{"every field", "agent-1", full},
		{"every field, the task's ids", "agent-1", func() api.TaskStatus {
			st := full
			st.TaskID, st.AgentID, st.UUID = api.ID{Value: "web.1"}, &api.ID{Value: "agent-1"}, make([]byte, 16)
			return st
		}()},
		{"master status, no agent", "", api.TaskStatus{TaskID: api.ID{Value: "web.1"}, State: api.TaskLost, Source: api.SourceMaster, Reason: "REASON_RECONCILIATION", Message: "gone", Timestamp: 2}},
		{"another agent's id", "agent-1", api.TaskStatus{TaskID: api.ID{Value: "web.1"}, State: api.TaskRunning, AgentID: &api.ID{Value: "agent-2"}}},
		{"no agent id on an agent's task", "agent-1", api.TaskStatus{TaskID: api.ID{Value: "web.1"}, State: api.TaskRunning}},
		{"empty UUID", "agent-1", api.TaskStatus{TaskID: api.ID{Value: "web.1"}, State: api.TaskRunning, UUID: []byte{}}},
		{"short UUID", "agent-1", api.TaskStatus{TaskID: api.ID{Value: "web.1"}, State: api.TaskRunning, UUID: []byte{1, 2, 3}}},
		{"health and exit", "agent-1", api.TaskStatus{TaskID: api.ID{Value: "web.1"}, State: api.TaskFailed, Healthy: &healthy, ExitCode: &code,
			HealthChecks: []api.CheckResult{{Healthy: &healthy, Message: "ok"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tk := &task{info: api.TaskInfo{TaskID: api.ID{Value: "web.1"}}, agentID: tc.agentID}
			tk.record(tc.st)
			if got := tk.history(); len(got) != 1 || !reflect.DeepEqual(got[0], tc.st) {
				t.Errorf("recorded\n%+v\ngot back\n%+v", tc.st, got)
			}
		})
	}
}

// fill sets every field of v, recursively, to a value that is not its
// zero value.
func fill(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		v.SetString(path + "-value")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint8:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), path)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(t, v.Index(i), path)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			fill(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	case reflect.Interface:
		v.Set(reflect.ValueOf(path + "-any"))
	default:
		t.Fatalf("%s: fill has no value for a %s", path, v.Kind())
	}
}

// A task refers to its framework's id and its agent's, launched or read
// back from etcd by a new leader, rather than holding copies of its own
// (~140 bytes a task at 300,000 tasks).
func TestTasksShareTheirIDs(t *testing.T) {
	h := newHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{Name: "f", FailoverTimeout: 3600})
	fw.running(ag, "t1")
	same := func(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }
	check := func(when string) {
		t.Helper()
		h.m.mu.Lock()
		defer h.m.mu.Unlock()
		f, a := h.m.frameworks[fw.id()], h.m.agents[ag]
		tk := f.tasks["t1"]
		if tk == nil || a == nil {
			t.Fatalf("%s: task %v, agent %v", when, tk, a)
		}
		if !same(tk.frameworkID, f.id) || !same(tk.agentID, a.Info.ID) || !same(tk.info.AgentID.Value, a.Info.ID) {
			t.Errorf("%s: the task keeps copies of its framework's or agent's id", when)
		}
		if got := tk.launchedAt(); !got.Equal(t0) {
			t.Errorf("%s: launched at %v, want %v", when, got, t0)
		}
	}
	if size := unsafe.Sizeof(task{}); size > 288 {
		t.Errorf("a task is %d bytes, more than the 288-byte size class", size)
	}
	if (&task{}).launchedAt() != (time.Time{}) || unixNano(time.Time{}) != 0 {
		t.Error("an unknown launch time does not stay unknown")
	}
	check("launched")
	h.flush()
	h.restart()
	check("read back")
}
