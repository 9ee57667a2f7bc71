package api

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestStateTaskShape: the /state task JSON has Mesos' keys, statuses
// oldest first, labels flattened, and no executor_id omitted.
func TestStateTaskShape(t *testing.T) {
	rs, err := ParseResources("cpus:0.5;mem:64")
	if err != nil {
		t.Fatal(err)
	}
	info := TaskInfo{Name: "web", TaskID: ID{Value: "t1"}, Resources: rs, Labels: &Labels{Labels: []Label{{Key: "k", Value: "v"}}}}
	st := NewStateTask(info, "fw", "", "ag", "web-role", TaskRunning, []TaskStatus{{State: TaskStaging, Timestamp: 1}, {State: TaskRunning, Timestamp: 2}})
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"id", "name", "framework_id", "executor_id", "slave_id", "state", "resources", "role", "statuses", "labels"} {
		if _, ok := m[k]; !ok {
			t.Errorf("missing %q in %s", k, b)
		}
	}
	if m["state"] != "TASK_RUNNING" || m["id"] != "t1" || m["resources"].(map[string]any)["cpus"] != 0.5 {
		t.Errorf("wrong values: %s", b)
	}
	sts := m["statuses"].([]any)
	if len(sts) != 2 || sts[0].(map[string]any)["state"] != "TASK_STAGING" {
		t.Errorf("statuses: %v", sts)
	}
	if !reflect.DeepEqual(m["labels"], []any{map[string]any{"key": "k", "value": "v"}}) {
		t.Errorf("labels: %v", m["labels"])
	}
}
