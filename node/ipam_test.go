package node_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"nodectl/cluster/api"
	"nodectl/node"
	"nodectl/node/nodetest"
)

// TestNetworkLeases: the leader's subnet leases of the cluster networks
// (cluster/ipam.go) against a real master on etcd: every agent gets its
// own /24 of every network, the same one on every call and after the
// master restarts; a long poll with the current index answers after its
// wait with no change and at once on a change; a network's subnets run
// out with a clear error; marking an agent gone releases its subnets for
// the next agent; only agent certificates may call.
func TestNetworkLeases(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{AgentPingTimeout: time.Second, Configure: func(cfg *node.Config) {
		cfg.ClusterNetworks = []api.ClusterNetwork{
			{Name: "nodectl", CIDR: "10.42.0.0/16", HostPrefix: 24},
			{Name: "tiny", CIDR: "10.99.0.0/23", HostPrefix: 24, Allow: []string{"nodectl"}},
		}
	}})
	base := c.Master.URL()
	hc := &http.Client{Transport: agentTLSTransport(t, c, nil)}
	post := func(path string, v any, out any) int {
		t.Helper()
		b, _ := json.Marshal(v)
		resp, err := hc.Post(base+path, "application/json", bytes.NewReader(b))
		if err != nil {
			return 0 // the master may be restarting
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if out != nil && resp.StatusCode == 200 {
			if err := json.Unmarshal(body, out); err != nil {
				t.Fatalf("%s: %v: %s", path, err, body)
			}
		}
		if resp.StatusCode != 200 {
			t.Logf("%s: %d %s", path, resp.StatusCode, body)
		}
		return resp.StatusCode
	}
	register := func(host string) string {
		t.Helper()
		info := api.AgentInfo{Hostname: host, IP: "127.0.0.1", Port: 6100, Resources: mustParse(t, "cpus:1;mem:128"), Version: api.Version}
		var reg api.RegisterResponse
		nodetest.WaitFor(t, 30*time.Second, host+" registered", func() bool {
			return post(api.PathRegister, api.RegisterRequest{Agent: info}, &reg) == 200 && reg.AgentID != ""
		})
		return reg.AgentID
	}
	leases := func(id, ip string) api.NetworkLeasesResponse {
		t.Helper()
		var r api.NetworkLeasesResponse
		if code := post(api.PathNetworkLeases, api.NetworkLeasesRequest{AgentID: id, UnderlayIP: ip, VTEPMAC: "02:00:00:00:00:01"}, &r); code != 200 {
			t.Fatalf("leases of %s: %d", id, code)
		}
		return r
	}
	subnets := func(r api.NetworkLeasesResponse, id string) map[string]string {
		out := map[string]string{}
		for _, l := range r.Leases {
			if l.AgentID == id {
				out[l.Network] = l.Subnet
			}
		}
		return out
	}
	a, b := register("ipam-a"), register("ipam-b")
	ra := leases(a, "192.0.2.1")
	rb := leases(b, "192.0.2.2")
	if len(rb.Networks) != 2 || rb.Networks[1].Name != "tiny" || !slices.Equal(rb.Networks[1].Allow, []string{"nodectl"}) {
		t.Errorf("networks: %+v", rb.Networks)
	}
	sa, sb := subnets(ra, a), subnets(rb, b)
	if sa["nodectl"] != "10.42.0.0/24" || sb["nodectl"] != "10.42.1.0/24" || sa["tiny"] != "10.99.0.0/24" || sb["tiny"] != "10.99.1.0/24" {
		t.Fatalf("subnets: a %v, b %v", sa, sb)
	}
	if len(rb.Leases) != 4 {
		t.Errorf("b sees %d leases, want every agent's 4: %+v", len(rb.Leases), rb.Leases)
	}
	// The same agent keeps its subnets; an unchanged long poll waits.
	again := leases(a, "192.0.2.1")
	if !maps(subnets(again, a), sa) || again.Index != rb.Index {
		t.Errorf("a again: %v index %d, want %v index %d", subnets(again, a), again.Index, sa, rb.Index)
	}
	var polled api.NetworkLeasesResponse
	if code := post(api.PathNetworkLeases, api.NetworkLeasesRequest{AgentID: a, UnderlayIP: "192.0.2.1", VTEPMAC: "02:00:00:00:00:01", Index: again.Index, WaitSeconds: 1}, &polled); code != 200 || polled.Index != again.Index {
		t.Errorf("long poll without change: %d index %d, want 200 index %d", code, polled.Index, again.Index)
	}
	// A waiting poll hears of a change (a third agent's leases) at once;
	// "tiny" has two /24s only.
	done := make(chan api.NetworkLeasesResponse, 1)
	go func() {
		var r api.NetworkLeasesResponse
		b, _ := json.Marshal(api.NetworkLeasesRequest{AgentID: a, UnderlayIP: "192.0.2.1", VTEPMAC: "02:00:00:00:00:01", Index: again.Index, WaitSeconds: 20})
		if resp, err := hc.Post(base+api.PathNetworkLeases, "application/json", bytes.NewReader(b)); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
		}
		done <- r
	}()
	cid := register("ipam-c")
	var rc api.NetworkLeasesResponse
	if code := post(api.PathNetworkLeases, api.NetworkLeasesRequest{AgentID: cid, UnderlayIP: "192.0.2.3"}, &rc); code != http.StatusServiceUnavailable {
		t.Errorf("a third agent on a /23 of /24s: %d, want 503 (no free subnet)", code)
	}
	// Marking b gone releases its subnets: the waiting poll hears it, and c
	// gets b's subnets.
	resp, err := nodetest.Client(30*time.Second).Post(base+"/master/agents/"+b+"/gone", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("mark gone: %s", resp.Status)
	}
	select {
	case r := <-done:
		if r.Index == again.Index {
			t.Errorf("the long poll answered without the change")
		}
	case <-time.After(15 * time.Second): // bounded by the poll's own 20 s wait; this only reports it hung
		t.Errorf("the long poll did not answer on a change")
	}
	rc = leases(cid, "192.0.2.3")
	if sc := subnets(rc, cid); !maps(sc, sb) {
		t.Errorf("c got %v, want b's released %v", sc, sb)
	}
	if len(subnets(rc, b)) != 0 {
		t.Errorf("gone agent b still holds leases: %+v", rc.Leases)
	}
	// Leases live in etcd: after a master restart, a keeps its subnets.
	c.Master.Stop()
	c.Master.Start()
	var after api.NetworkLeasesResponse
	nodetest.WaitFor(t, 60*time.Second, "a's leases after the restart", func() bool {
		info := api.AgentInfo{ID: a, Hostname: "ipam-a", IP: "127.0.0.1", Port: 6100, Resources: mustParse(t, "cpus:1;mem:128"), Version: api.Version}
		var reg api.RegisterResponse
		if post(api.PathRegister, api.RegisterRequest{Agent: info}, &reg) != 200 {
			return false
		}
		return post(api.PathNetworkLeases, api.NetworkLeasesRequest{AgentID: a, UnderlayIP: "192.0.2.1", VTEPMAC: "02:00:00:00:00:01"}, &after) == 200
	})
	if !maps(subnets(after, a), sa) || !maps(subnets(after, cid), sb) {
		t.Errorf("after restart: %+v, want a %v and c %v", after.Leases, sa, sb)
	}
	// Only agents: the admin's certificate is refused.
	resp, err = nodetest.Client(30*time.Second).Post(base+api.PathNetworkLeases, "application/json", bytes.NewReader([]byte(`{"agent_id":"`+a+`"}`)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("leases with the admin's certificate: %s, want 403", resp.Status)
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
