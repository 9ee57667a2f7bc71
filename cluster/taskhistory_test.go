package cluster

import (
	"encoding/json"
	"strings"
	"testing"
	"unsafe"

	"nodectl/cluster/api"
)

// TestTaskHistoryIsCompact: a task's history keeps the newest maxStatuses
// statuses, sized to what it holds, never changed in place (a record
// queued for etcd keeps what it was given), and its statuses share their
// strings with the task; a record read back from etcd shares them the same
// way.
func TestTaskHistoryIsCompact(t *testing.T) {
	tk := &task{info: api.TaskInfo{TaskID: api.ID{Value: "web.1"}}, agentID: "agent-1"}
	decoded := func(i int) api.TaskStatus {
		var st api.TaskStatus // as an agent's update arrives: every string its own copy
		js := `{"task_id":{"value":"web.1"},"state":"TASK_RUNNING","source":"SOURCE_AGENT","reason":"REASON_TASK_HEALTH_CHECK_STATUS_UPDATED","agent_id":{"value":"agent-1"},"timestamp":` + strings.Repeat("1", i+1) + `}`
		if err := json.Unmarshal([]byte(js), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	var queued []api.TaskStatus
	for i := range maxStatuses + 3 {
		tk.record(decoded(i))
		if i == 2 {
			queued = tk.statuses
		}
	}
	if len(tk.statuses) != maxStatuses || cap(tk.statuses) != maxStatuses {
		t.Fatalf("history len %d cap %d, want %d", len(tk.statuses), cap(tk.statuses), maxStatuses)
	}
	if len(queued) != 3 || queued[2].Timestamp != 111 {
		t.Fatalf("a history handed out changed: %+v", queued)
	}
	if got := tk.statuses[maxStatuses-1].Timestamp; got != 1111111111111 {
		t.Errorf("newest status has timestamp %v, want the last recorded", got)
	}
	m := &Master{cfg: Config{}}
	if got := m.lastStatus(tk); got.Timestamp != 1111111111111 {
		t.Errorf("lastStatus is %v, want the newest", got.Timestamp)
	}
	same := func(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }
	check := func(what string, sts []api.TaskStatus, taskID, agentID string) {
		t.Helper()
		for i, st := range sts {
			if !same(st.TaskID.Value, taskID) || !same(st.AgentID.Value, agentID) {
				t.Errorf("%s: status %d keeps its own copy of the task or agent id", what, i)
			}
			if !same(string(st.State), string(api.TaskRunning)) || !same(st.Source, api.SourceAgent) || !same(st.Reason, string(sts[0].Reason)) {
				t.Errorf("%s: status %d keeps its own copy of its state, source or reason", what, i)
			}
		}
	}
	check("recorded", tk.statuses, tk.info.TaskID.Value, tk.agentID)

	// Read back: trimmed to maxStatuses, the strings shared with the record.
	rec := taskRecord{FrameworkID: "fw", AgentID: "agent-1", Info: tk.info, State: api.TaskRunning, Statuses: append(queued, tk.statuses...)}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	v, err := recordKinds[taskKind].decode(b)
	if err != nil {
		t.Fatal(err)
	}
	got := v.(*taskRecord)
	if len(got.Statuses) != maxStatuses {
		t.Fatalf("read back %d statuses, want %d", len(got.Statuses), maxStatuses)
	}
	check("read back", got.Statuses, got.Info.TaskID.Value, got.AgentID)
}
