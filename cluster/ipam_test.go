package cluster

import (
	"strings"
	"testing"

	"nodectl/cluster/api"
)

// A Mesos v1 task naming a network no one knows is TASK_ERROR naming it;
// a cluster network, the built-in bridge, and a network an agent reported
// from its --network_cni_config_dir are accepted.
func TestTaskNetworkNames(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Networks = []api.ClusterNetwork{{Name: "nodectl", CIDR: "10.42.0.0/16"}}
	})
	h.agent("a1", "cpus:4;mem:1024")
	f := h.subscribe(api.FrameworkInfo{Name: "fw"})
	on := func(id, network string) api.TaskInfo {
		ti := mkTask(id, "cpus:0.1;mem:16")
		ti.Container = &api.ContainerInfo{Type: "MESOS", NetworkInfos: []api.NetworkInfo{{Name: network}}}
		return ti
	}
	f.launch(f.offer(), on("t1", "nowhere"))
	if u := f.update(); u.State != api.TaskError || !strings.Contains(u.Message, `unknown network "nowhere"`) || !strings.Contains(u.Message, "nodectl") {
		t.Errorf("unknown network: %s %q, want TASK_ERROR naming it and the cluster networks", u.State, u.Message)
	}
	for _, n := range []string{"nodectl", "mesos-bridge"} {
		if err := h.m.validateTaskNetworks(on("t", n)); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	h.m.ipam.cni = map[string]map[string]bool{"a1": {"operator-net": true}}
	if err := h.m.validateTaskNetworks(on("t", "operator-net")); err != nil {
		t.Errorf("an agent's CNI network: %v", err)
	}
}

func TestParseClusterNetworks(t *testing.T) {
	nets, err := ParseClusterNetworks("10.42.0.0/16", []string{"dev=10.43.0.0/16;allow=nodectl+ops;host-prefix=26", "ops=10.44.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	if len(nets) != 3 || nets[0].Name != "nodectl" || nets[0].HostPrefix != 24 || nets[1].HostPrefix != 26 ||
		strings.Join(nets[1].Allow, ",") != "nodectl,ops" || nets[2].HostPrefix != 24 {
		t.Errorf("parsed %+v", nets)
	}
	for _, bad := range [][]string{
		{"x"}, {"dev=10.42.1.0/24"}, {"dev=10.43.0.0/16;allow=nope"}, {"Dev=10.43.0.0/16"}, {"dev=fd00::/64"},
		{"dev=10.43.0.0/16;host-prefix=8"}, {"dev=10.43.0.0/16", "dev=10.44.0.0/16"}, {"mesos-bridge=10.43.0.0/16"}, {"dev=10.43.0.0/16;mtu=1"},
	} {
		if _, err := ParseClusterNetworks("10.42.0.0/16", bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

// freeSubnet hands out the lowest subnet no lease holds.
func TestFreeSubnet(t *testing.T) {
	n := api.ClusterNetwork{Name: "n", CIDR: "10.42.0.0/22", HostPrefix: 24}
	leases := map[string]map[string]api.NetworkLease{
		"a": {"n": {Subnet: "10.42.0.0/24"}}, "b": {"n": {Subnet: "10.42.2.0/24"}}, "c": {"other": {Subnet: "10.42.1.0/24"}},
	}
	if s, err := freeSubnet(n, leases); err != nil || s != "10.42.1.0/24" {
		t.Errorf("got %s %v, want 10.42.1.0/24", s, err)
	}
	leases["d"] = map[string]api.NetworkLease{"n": {Subnet: "10.42.1.0/24"}}
	leases["e"] = map[string]api.NetworkLease{"n": {Subnet: "10.42.3.0/24"}}
	if s, err := freeSubnet(n, leases); err == nil {
		t.Errorf("a full network gave %s", s)
	}
}
