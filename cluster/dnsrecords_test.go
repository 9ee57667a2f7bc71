package cluster

import (
	"slices"
	"testing"

	"nodectl/cluster/api"
)

func TestDNSLabel(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"web", "web"},
		{"web.shop", "web-shop"},
		{"My_App", "my-app"},
		{"-lead-", "lead"},
		{"a!b@c", "abc"},
		{"x0123456789012345678901234567890123456789012345678901234567890123456789", "x01234567890123456789012345678901234567890123456789012345678901"},
	} {
		if got := dnsLabel(c.in); got != c.want {
			t.Errorf("dnsLabel(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := dnsFragment("marathon.prod"); got != "marathon.prod" {
		t.Errorf("dnsFragment = %q", got)
	}
	if h := taskHash("task-1"); len(h) != 5 || h != taskHash("task-1") || h == taskHash("task-2") {
		t.Errorf("taskHash: %q %q", h, taskHash("task-2"))
	}
}

func TestBuildDNSRecords(t *testing.T) {
	agents := map[string]dnsAgent{"c0ffee-S1": {IP: "10.0.0.1", Port: 5051}, "c0ffee-S2": {IP: "10.0.0.2", Port: 5051}}
	base := dnsState{Leader: "10.0.0.9:5050", Masters: []string{"10.0.0.9:5050", "10.0.0.8:5050"}, Agents: agents}
	named := func(ports ...uint32) *api.DiscoveryInfo {
		di := &api.DiscoveryInfo{Name: "web.shop", Ports: &api.DiscoveryPort{}}
		for _, p := range ports {
			di.Ports.Ports = append(di.Ports.Ports, api.Port{Number: p, Name: "http", Protocol: "tcp"})
		}
		return di
	}
	c1 := "web-shop-" + taskHash("t1") + "-s1.marathon"
	c2 := "web-shop-" + taskHash("t2") + "-s2.marathon"
	for _, c := range []struct {
		name    string
		tasks   []dnsTask
		a       map[string][]string        // names that must answer exactly these
		srv     map[string][]api.SRVTarget // likewise
		missing []string                   // names that must not exist
	}{
		{
			name:  "host mode, two instances with a named port",
			tasks: []dnsTask{{ID: "t1", Name: "web.shop", AgentID: "c0ffee-S1", Framework: "marathon", Running: true, HostPorts: []int{31000}, Discovery: named(31000)}, {ID: "t2", Name: "web.shop", AgentID: "c0ffee-S2", Framework: "marathon", Running: true, HostPorts: []int{31005}, Discovery: named(31005)}},
			a: map[string][]string{
				"web-shop.marathon": {"10.0.0.1", "10.0.0.2"}, "web-shop.marathon.slave": {"10.0.0.1", "10.0.0.2"},
				c1 + ".slave": {"10.0.0.1"}, c2: {"10.0.0.2"},
				"leader": {"10.0.0.9"}, "master": {"10.0.0.8", "10.0.0.9"}, "slave": {"10.0.0.1", "10.0.0.2"},
			},
			srv: map[string][]api.SRVTarget{
				"_web-shop._tcp.marathon":       {srv(c1+".slave", 31000), srv(c2+".slave", 31005)},
				"_http._web-shop._tcp.marathon": {srv(c1+".slave", 31000), srv(c2+".slave", 31005)},
				"_web-shop._tcp.marathon.slave": {srv(c1+".slave", 31000), srv(c2+".slave", 31005)},
				"_leader._tcp":                  {srv("leader", 5050)},
				"_master._tcp":                  {srv("master0", 5050), srv("master1", 5050)},
			},
			missing: []string{"_web-shop._udp.marathon", "_http._web-shop._udp.marathon"},
		},
		{
			name:  "bridge mode: the task's own address answers A, SRV stays on the agent's host port",
			tasks: []dnsTask{{ID: "t1", Name: "web.shop", AgentID: "c0ffee-S1", Framework: "marathon", Running: true, IPs: []string{"172.31.0.5"}, HostPorts: []int{31000}, Discovery: named(31000)}},
			a:     map[string][]string{"web-shop.marathon": {"172.31.0.5"}, c1: {"172.31.0.5"}, c1 + ".slave": {"10.0.0.1"}},
			srv:   map[string][]api.SRVTarget{"_http._web-shop._tcp.marathon": {srv(c1+".slave", 31000)}},
		},
		{
			name:  "container port without host port targets the task's address",
			tasks: []dnsTask{{ID: "t1", Name: "db", AgentID: "c0ffee-S1", Framework: "marathon", Running: true, IPs: []string{"9.0.0.3"}, Discovery: &api.DiscoveryInfo{Name: "db", Ports: &api.DiscoveryPort{Ports: []api.Port{{Number: 5432, Name: "pg", Protocol: "tcp"}}}}}},
			srv:   map[string][]api.SRVTarget{"_pg._db._tcp.marathon": {srv("db-"+taskHash("t1")+"-s1.marathon", 5432)}},
		},
		{
			name:    "no discovery info: resource ports under both protocols (Mesos-DNS)",
			tasks:   []dnsTask{{ID: "t1", Name: "Other_Task", AgentID: "c0ffee-S1", Framework: "My.Fw", Running: true, HostPorts: []int{40000}}},
			a:       map[string][]string{"other-task.my.fw": {"10.0.0.1"}},
			srv:     map[string][]api.SRVTarget{"_other-task._udp.my.fw": {srv("other-task-"+taskHash("t1")+"-s1.my.fw.slave", 40000)}},
			missing: []string{"web-shop.marathon"},
		},
		{
			name:    "tasks not running and tasks of unknown agents are not shown",
			tasks:   []dnsTask{{ID: "t1", Name: "web.shop", AgentID: "c0ffee-S1", Framework: "marathon", HostPorts: []int{31000}}, {ID: "t2", Name: "web.shop", AgentID: "gone-S9", Framework: "marathon", Running: true}},
			missing: []string{"web-shop.marathon", "_web-shop._tcp.marathon"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := base
			s.Tasks = c.tasks
			r := buildDNSRecords(s)
			for n, want := range c.a {
				if got := r.A[n]; !slices.Equal(got, want) {
					t.Errorf("A %s = %v, want %v", n, got, want)
				}
			}
			for n, want := range c.srv {
				want = slices.SortedFunc(slices.Values(want), func(x, y api.SRVTarget) int { return cmpSRV(x, y) })
				if got := r.SRV[n]; !slices.Equal(got, want) {
					t.Errorf("SRV %s = %v, want %v", n, got, want)
				}
			}
			for _, n := range c.missing {
				if _, ok := r.A[n]; ok {
					t.Errorf("A %s exists: %v", n, r.A[n])
				}
				if _, ok := r.SRV[n]; ok {
					t.Errorf("SRV %s exists: %v", n, r.SRV[n])
				}
			}
			// Every SRV target resolves.
			for n, ts := range r.SRV {
				for _, tg := range ts {
					if len(r.A[tg.Target]) == 0 {
						t.Errorf("SRV %s → %s: no A record", n, tg.Target)
					}
				}
			}
			if again := buildDNSRecords(s); again.Version != r.Version {
				t.Errorf("same state, versions %s and %s", r.Version, again.Version)
			}
		})
	}
	// A change changes the version.
	s := base
	v1 := buildDNSRecords(s).Version
	s.Tasks = []dnsTask{{ID: "t1", Name: "x", AgentID: "c0ffee-S1", Framework: "marathon", Running: true}}
	if buildDNSRecords(s).Version == v1 {
		t.Error("a new task did not change the version")
	}
}

func srv(target string, port int) api.SRVTarget { return api.SRVTarget{Target: target, Port: port} }
