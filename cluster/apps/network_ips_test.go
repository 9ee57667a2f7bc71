package apps

import (
	"encoding/json"
	"reflect"
	"testing"

	"nodectl/cluster/api"
)

// A task's Marathon ipAddresses are its container addresses from the
// agent's network_infos once reported, its host's before; an update
// without network_infos (a kill, a health update of an old agent) keeps
// them.
func TestTaskIPsFromStatusUpdates(t *testing.T) {
	tk := &task{Host: "10.0.0.7"}
	if got := taskIPs(tk); !reflect.DeepEqual(got, []map[string]string{{"ipAddress": "10.0.0.7", "protocol": "IPv4"}}) {
		t.Fatalf("before any report: %v", got)
	}
	var ni []any
	if err := json.Unmarshal([]byte(`[{"name": "mesos-bridge", "ip_addresses": [{"protocol": "IPv4", "ip_address": "172.31.0.9"}]}]`), &ni); err != nil {
		t.Fatal(err)
	}
	st := api.TaskStatus{State: api.TaskRunning, ContainerStatus: &api.ContainerStatus{NetworkInfo: ni}}
	if !tk.recordIPs(st) || tk.recordIPs(st) {
		t.Fatal("recordIPs: want a change, then none")
	}
	if tk.recordIPs(api.TaskStatus{State: api.TaskKilled, ContainerStatus: &api.ContainerStatus{}}) || len(tk.IPs) != 1 {
		t.Fatalf("an update without network_infos changed the addresses: %v", tk.IPs)
	}
	if got := taskIPs(tk); !reflect.DeepEqual(got, []map[string]string{{"ipAddress": "172.31.0.9", "protocol": "IPv4"}}) {
		t.Fatalf("after the report: %v", got)
	}
	if c := tk.clone(); &c.IPs[0] == &tk.IPs[0] {
		t.Fatal("clone shares the addresses")
	}
}
