package e2e

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOverlayRecovery (issue 18: "kill -9 of the agent with 20
// bridge/overlay tasks, restart: every task keeps its address ... no veth,
// address or rule leaks"): several tasks on the cluster network "nodectl"
// on agent ov-a, reached from a task on ov-c through the overlay; kill -9
// of ov-a's agent and a restart keep every task, its address and its
// reachability (and their agent's DNS on their bridge's gateway), and add nothing to ov-a's namespace (links, addresses,
// nftables ruleset), to its host-local address leases or to the subnet
// leases (ov-c's overlay routes, one per leased subnet of another agent;
// ov-b runs no task, so has no overlay). Once the apps are deleted nothing of the overlay is left.
func TestOverlayRecovery(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft is not installed (make deps installs nftables)")
	}
	const n = 8
	c := newOverlayCluster(t)
	a, other := c.agents["ov-a"], c.agents["ov-c"]
	c.post(c.app("/ovr/servers", "ov-a", "nodectl", overlayServerCmd, n), 201)
	c.post(c.app("/ovr/client", "ov-c", "nodectl", "exec sleep 3600", 1), 201)
	servers := c.runningTasks(t, "/ovr/servers", "10.42.", n, 120*time.Second)
	c.runningTasks(t, "/ovr/client", "10.42.", 1, 60*time.Second)
	clientNS := onlyTaskNetNS(t, other.dir)

	// reachAll waits until the client on ov-c gets every server's answer
	// by its task IP.
	reachAll := func(what string, tasks map[string]ipTask) {
		t.Helper()
		for id, tk := range tasks {
			ip := tk.IPAddresses[0].IPAddress
			var got string
			deadline := time.Now().Add(30 * time.Second)
			for {
				got = httpFromNetNS(clientNS, ip, 8080)
				if got == "hello-"+id {
					break
				}
				if time.Now().After(deadline) {
					t.Logf("ov-a:\n%s\nov-c:\n%s", overlayDump(a.ns), overlayDump(other.ns))
					t.Fatalf("%s: the client on ov-c did not reach task %s at %s: %q", what, id, ip, got)
				}
				time.Sleep(200 * time.Millisecond) // polling a remote answer
			}
		}
	}
	reachAll("before the restart", servers)
	before := snapshotOverlay(t, c)
	t.Logf("%d tasks on ov-a: %d links, %d addresses, %d ruleset lines, %d address leases; ov-c %d overlay routes",
		n, len(before.links), len(before.addrs), len(before.ruleset), len(before.leases), len(before.routes["ov-c"]))

	a.p.kill(syscall.SIGKILL)
	a.p = startIn(t, a.netMember, a.args...)
	waitFor(t, 60*time.Second, "ov-a recovered", func() bool { return metric(a.agentURL(), "slave/recovered") == 1 })
	waitFor(t, 30*time.Second, "three agents active again", func() bool {
		s := slaves(t, c.url)
		return len(s) == 3 && s[0].Active && s[1].Active && s[2].Active
	})
	after := c.runningTasks(t, "/ovr/servers", "10.42.", n, 30*time.Second)
	if !slices.Equal(slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(servers))) {
		t.Fatalf("tasks after the restart %v, want %v", slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(servers)))
	}
	for id, tk := range after {
		if fmt.Sprint(tk.IPAddresses) != fmt.Sprint(servers[id].IPAddresses) {
			t.Errorf("task %s: ipAddresses %v after the restart, want %v", id, tk.IPAddresses, servers[id].IPAddresses)
		}
	}
	reachAll("after the restart", after)
	// The restarted agent's DNS answers its tasks again on their bridge's
	// gateway: the client's Mesos-DNS name from one of ov-a's tasks.
	es, err := os.ReadDir(filepath.Join(a.dir, "cni", "netns"))
	if err != nil || len(es) == 0 {
		t.Fatalf("ov-a's task namespaces: %v %v", es, err)
	}
	var clientIP string
	for _, tk := range c.runningTasks(t, "/ovr/client", "10.42.", 1, 10*time.Second) {
		clientIP = tk.IPAddresses[0].IPAddress
	}
	someIP := strings.Split(after[slices.Sorted(maps.Keys(after))[0]].IPAddresses[0].IPAddress, ".")
	gw := strings.Join(someIP[:3], ".") + ".1"
	waitFor(t, 30*time.Second, "client-ovr.marathon.mesos resolved from an ov-a task after the restart", func() bool {
		out, _ := exec.Command("nsenter", "--net="+filepath.Join(a.dir, "cni", "netns", es[0].Name()), "--", "busybox", "nslookup", "client-ovr.marathon.mesos", gw).CombinedOutput()
		return strings.Contains(string(out), clientIP)
	})
	recovered := snapshotOverlay(t, c)
	for _, d := range before.diff(recovered) {
		t.Error("changed by the restart: " + d)
	}

	for _, id := range []string{"/ovr/servers", "/ovr/client"} {
		if code, b := haDo("DELETE", c.url+"/v2/apps"+id, ""); code != 200 {
			t.Fatalf("DELETE %s: %d %s", id, code, b)
		}
	}
	c.checkOverlayGone(t)
}

// httpFromNetNS is the body of GET / from ip:port, asked with busybox nc
// from the network namespace pinned at ns ("" when there is no answer).
func httpFromNetNS(ns, ip string, port int) string {
	cmd := exec.Command("nsenter", "--net="+ns, "--", "busybox", "nc", "-w", "2", ip, fmt.Sprint(port))
	cmd.Stdin = strings.NewReader("GET / HTTP/1.0\r\n\r\n")
	out, _ := cmd.CombinedOutput()
	_, body, _ := strings.Cut(string(out), "\r\n\r\n")
	return strings.TrimSpace(body)
}

// overlaySnapshot is what an overlay agent set up in its namespace (ov-a)
// and what the others hold of its subnet leases.
type overlaySnapshot struct {
	links, addrs, ruleset, leases, netns []string
	routes                               map[string][]string // agent: its routes through nodectl-vx
}

// transient is what changes by itself in a listing: nftables counters'
// figures (traffic) and IPv6 duplicate address detection's "tentative"
// flag of a new veth's link-local address.
var transient = regexp.MustCompile(`packets \d+ bytes \d+| tentative`)

func snapshotOverlay(t *testing.T, c *overlayCluster) overlaySnapshot {
	t.Helper()
	a := c.agents["ov-a"]
	lines := func(args ...string) []string {
		out, err := exec.Command(args[0], args[1:]...).Output()
		if err != nil {
			t.Fatalf("%s: %v", strings.Join(args, " "), err)
		}
		var ls []string
		for _, l := range strings.Split(strings.TrimSpace(transient.ReplaceAllString(string(out), "")), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				ls = append(ls, l)
			}
		}
		slices.Sort(ls)
		return ls
	}
	s := overlaySnapshot{
		links:   lines("ip", "-n", a.ns, "-o", "link"),
		addrs:   lines("ip", "-n", a.ns, "-o", "addr"),
		ruleset: lines("ip", "netns", "exec", a.ns, "nft", "list", "ruleset"),
		routes:  map[string][]string{},
	}
	_ = filepath.WalkDir(filepath.Join(a.dir, "cni", "ipam"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			s.leases = append(s.leases, strings.TrimPrefix(p, a.dir)+"="+strings.TrimSpace(string(b)))
		}
		return nil
	})
	es, _ := os.ReadDir(filepath.Join(a.dir, "cni", "netns"))
	for _, e := range es {
		s.netns = append(s.netns, e.Name())
	}
	s.routes["ov-c"] = lines("ip", "-n", c.agents["ov-c"].ns, "route", "show", "dev", "nodectl-vx") // ov-b runs no task: no overlay
	return s
}

// diff lists what differs from s in o.
func (s overlaySnapshot) diff(o overlaySnapshot) []string {
	var d []string
	cmp := func(what string, x, y []string) {
		if !slices.Equal(x, y) {
			d = append(d, fmt.Sprintf("%s:\nbefore\n  %s\nafter\n  %s", what, strings.Join(x, "\n  "), strings.Join(y, "\n  ")))
		}
	}
	cmp("ov-a links", s.links, o.links)
	cmp("ov-a addresses", s.addrs, o.addrs)
	cmp("ov-a nftables ruleset", s.ruleset, o.ruleset)
	cmp("ov-a host-local leases", s.leases, o.leases)
	cmp("ov-a task namespaces", s.netns, o.netns)
	cmp("ov-c overlay routes (subnet leases)", s.routes["ov-c"], o.routes["ov-c"])
	return d
}
