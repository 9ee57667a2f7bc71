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

// Bridge port mappings with servicePort 0 get ports from 10000 up that
// no other app uses; an update keeps its previous ones; given ports stay.
func TestAssignServicePorts(t *testing.T) {
	bridge := func(id string, sps ...int) *App {
		app := &App{ID: id, Networks: []Network{{Mode: modeBridge}}, Container: &Container{}}
		for _, sp := range sps {
			app.Container.PortMappings = append(app.Container.PortMappings, PortMapping{ContainerPort: 80, ServicePort: sp})
		}
		return app
	}
	a := &Apps{apps: map[string]*appState{"/other": {def: bridge("/other", 10000, 10002)}}}
	app := bridge("/web", 0, 0, 15000)
	a.assignServicePortsLocked(nil, app)
	if got := servicePortsOfApp(app); !reflect.DeepEqual(got, []int{10001, 10003, 15000}) {
		t.Fatalf("new app: %v", got)
	}
	a.setAppStateLocked("/web", &appState{def: app})
	upd := bridge("/web", 0, 0, 0)
	a.assignServicePortsLocked(app, upd)
	if got := servicePortsOfApp(upd); !reflect.DeepEqual(got, []int{10001, 10003, 15000}) {
		t.Fatalf("update: %v", got)
	}
	host := &App{ID: "/host", Container: &Container{PortMappings: []PortMapping{{ContainerPort: 80}}}}
	a.assignServicePortsLocked(nil, host)
	if host.Container.PortMappings[0].ServicePort != 0 {
		t.Fatal("a host-network app got a service port")
	}
}

func servicePortsOfApp(app *App) []int {
	var out []int
	for _, pm := range servicePortMappings(app) {
		out = append(out, pm.ServicePort)
	}
	return out
}
