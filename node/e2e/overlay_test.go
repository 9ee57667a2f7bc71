package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"nodectl/node/nodetest"
)

// TestOverlayNetworks (issue 18, container networks): one master and three
// agents, each agent in a network namespace of its own (netLab). The
// master defines the cluster network "nodectl" (--cluster-cidr) and a
// second one, "other"; each agent leases a /24 of both. A task on
// "nodectl" on agent A reaches a task on "nodectl" on agent C by its task
// IP, through the VXLAN overlay; a task on "other" (agent B) cannot reach
// it (isolation between networks). Marathon reports every task's own
// address in ipAddresses; an unknown network name is a 422 naming it.
// Once the apps are gone, no agent namespace keeps the overlay's device,
// nftables table or bridges.
func TestOverlayNetworks(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft is not installed (make deps installs nftables)")
	}
	c := newOverlayCluster(t)
	url, agents, app, post := c.url, c.agents, c.app, c.post
	// An unknown network is refused, naming it.
	if b := post(app("/ov/nowhere", "ov-a", "nowhere", "sleep 1", 1), 422); !strings.Contains(string(b), "/networks/0/name") || !strings.Contains(string(b), "nowhere") {
		t.Errorf("unknown network: 422 %s does not name /networks/0/name and the network", b)
	}
	post(app("/ov/server", "ov-c", "nodectl", overlayServerCmd, 1), 201)
	post(app("/ov/client", "ov-a", "nodectl", "exec sleep 3600", 1), 201)
	// The legacy form of a container network: ipAddress.networkName.
	post(`{"id": "/ov/intruder", "instances": 1, "cpus": 0.05, "mem": 32, "cmd": "exec sleep 3600",
		"constraints": [["hostname", "CLUSTER", "ov-b"]],
		"container": {"type": "MESOS", "docker": {"image": "test/overlay:1"}},
		"ipAddress": {"networkName": "other"}}`, 201)

	running := func(id, prefix string) ipTask {
		t.Helper()
		for _, tk := range c.runningTasks(t, id, prefix, 1, 90*time.Second) {
			return tk
		}
		return ipTask{}
	}
	server := running("/ov/server", "10.42.")
	client := running("/ov/client", "10.42.")
	intruder := running("/ov/intruder", "10.43.")
	serverIP := server.IPAddresses[0].IPAddress
	t.Logf("server %s, client %s, intruder %s", serverIP, client.IPAddresses[0].IPAddress, intruder.IPAddresses[0].IPAddress)
	if strings.Join(strings.Split(serverIP, ".")[:3], ".") == strings.Join(strings.Split(client.IPAddresses[0].IPAddress, ".")[:3], ".") {
		t.Errorf("server %s and client %s share a subnet: every agent leases its own", serverIP, client.IPAddresses[0].IPAddress)
	}

	// fromTask asks the server with busybox nc from the network namespace of agent host's
	// one task.
	fromTask := func(host string) (string, error) {
		d := filepath.Join(agents[host].dir, "cni", "netns")
		es, err := os.ReadDir(d)
		if err != nil || len(es) != 1 {
			t.Fatalf("%s: want one task namespace in %s: %v %v", host, d, es, err)
		}
		cmd := exec.Command("nsenter", "--net="+filepath.Join(d, es[0].Name()), "--", "busybox", "nc", "-w", "2", serverIP, "8080")
		cmd.Stdin = strings.NewReader("GET / HTTP/1.0\r\n\r\n")
		out, err := cmd.CombinedOutput()
		_, body, _ := strings.Cut(string(out), "\r\n\r\n")
		return strings.TrimSpace(body), err
	}
	want := "hello-" + server.ID
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := fromTask("ov-a")
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			for host, a := range agents {
				t.Logf("%s:\n%s", host, overlayDump(a.ns))
			}
			t.Fatalf("the client on ov-a did not reach the server on ov-c at %s: %q %v", serverIP, got, err)
		}
		time.Sleep(200 * time.Millisecond) // polling a remote answer
	}
	if out, err := fromTask("ov-b"); err == nil || strings.Contains(out, "hello") {
		t.Errorf("a task on network other reached the server on nodectl: %q %v", out, err)
	}

	// By name: the client's container resolves through its agent's DNS on
	// its bridge's gateway (the first address of ov-a's subnet), which
	// answers the server's Mesos-DNS name on ov-c with its task IP.
	clientNS := onlyTaskNetNS(t, agents["ov-a"].dir)
	conf := resolvConfOfNetNS(t, clientNS)
	cip := strings.Split(client.IPAddresses[0].IPAddress, ".")
	gw := strings.Join(cip[:3], ".") + ".1"
	if !strings.Contains(conf, "nameserver "+gw) || !strings.Contains(conf, "search mesos") {
		t.Errorf("the client's /etc/resolv.conf does not name its agent's DNS at %s:\n%s", gw, conf)
	}
	var resolved string
	waitFor(t, 30*time.Second, "server-ov.marathon.mesos resolved from the client's namespace", func() bool {
		out, _ := exec.Command("nsenter", "--net="+clientNS, "--", "busybox", "nslookup", "server-ov.marathon.mesos", gw).CombinedOutput()
		if strings.Contains(string(out), serverIP) {
			resolved = serverIP
			return true
		}
		return false
	})
	t.Logf("server-ov.marathon.mesos = %s (asked %s from ov-a's task)", resolved, gw)

	for _, id := range []string{"/ov/server", "/ov/client", "/ov/intruder"} {
		if code, b := haDo("DELETE", url+"/v2/apps"+id, ""); code != 200 {
			t.Fatalf("DELETE %s: %d %s", id, code, b)
		}
	}
	c.checkOverlayGone(t)
}

// overlayServerCmd serves hello-<task id> on port 8080 (busybox httpd).
const overlayServerCmd = "echo hello-$MESOS_TASK_ID > index.html && exec httpd -f -p 8080 -h ."

// overlayCluster is the setup of the overlay tests: one master in the
// test's namespace defining the cluster networks "nodectl" (10.42.0.0/16)
// and "other" (10.43.0.0/16), and three agents ov-a, ov-b, ov-c, each in a
// network namespace of a netLab, all active, with the image test/overlay:1.
type overlayCluster struct {
	lab    *netLab
	url    string
	agents map[string]*overlayAgent
}

// overlayAgent is one agent of an overlayCluster.
type overlayAgent struct {
	netMember
	node
	args []string
	p    *proc
}

// agentURL is the agent's API in its namespace.
func (a *overlayAgent) agentURL() string { return "https://" + a.ip + ":" + strconv.Itoa(a.agentPort) }

func newOverlayCluster(t *testing.T) *overlayCluster {
	t.Helper()
	lab := newNetLab(t)
	m := newNode(t)
	url := "https://" + lab.hostIP() + ":" + strconv.Itoa(m.port)
	start(t, withIP(m.args("master", "--cluster-cidr", "10.42.0.0/16", "--cluster-network", "other=10.43.0.0/16"), lab.hostIP())...)
	waitFor(t, 30*time.Second, "master healthy", func() bool { return healthy(url) })
	tok, _, _ := strings.Cut(haCLI(t, 0, "token", "create", "--role", "agent", "--work-dir", m.dir, "--master", lab.hostIP()+":"+strconv.Itoa(m.port)), "\n")
	archive := busyboxImage(t, "test/overlay:1", nil, func(*v1.Config) {})
	c := &overlayCluster{lab: lab, url: url, agents: map[string]*overlayAgent{}}
	for _, host := range []string{"ov-a", "ov-b", "ov-c"} {
		a, mem := newNode(t), lab.add(host)
		if b, err := exec.Command(bin, "image", "load", "--work-dir", a.dir, archive).CombinedOutput(); err != nil {
			t.Fatalf("image load: %v\n%s", err, b)
		}
		nodetest.Trust(nodetest.ClientConfigOf(m.dir), a.agentPort)
		args := withIP(a.args("agent", "--join", url, "--token", strings.TrimSpace(tok), "--registration_backoff_factor", "50ms",
			"--hostname", host, "--resources", "cpus:2;mem:2048;disk:1024;ports:[31000-31100]", "--dns-address", mem.ip+":53"), mem.ip)
		c.agents[host] = &overlayAgent{netMember: mem, node: a, args: args, p: startIn(t, mem, args...)}
	}
	waitFor(t, 60*time.Second, "three agents active", func() bool {
		s := slaves(t, url)
		return len(s) == 3 && s[0].Active && s[1].Active && s[2].Active
	})
	return c
}

// app is a Marathon app of n instances on network, pinned to agent host.
func (c *overlayCluster) app(id, host, network, cmd string, n int) string {
	return `{"id": "` + id + `", "instances": ` + strconv.Itoa(n) + `, "cpus": 0.05, "mem": 32, "cmd": "` + cmd + `",
		"constraints": [["hostname", "CLUSTER", "` + host + `"]],
		"container": {"type": "MESOS", "docker": {"image": "test/overlay:1"}},
		"networks": [{"mode": "container", "name": "` + network + `"}]}`
}

// post posts an app and wants the answer code want.
func (c *overlayCluster) post(body string, want int) []byte {
	c.lab.t.Helper()
	code, b := haDo("POST", c.url+"/v2/apps", body)
	if code != want {
		c.lab.t.Fatalf("POST /v2/apps: %d %s, want %d", code, b, want)
	}
	return b
}

// ipTask is a Marathon task with its addresses.
type ipTask struct {
	ID          string `json:"id"`
	State       string `json:"state"`
	IPAddresses []struct {
		IPAddress string `json:"ipAddress"`
	} `json:"ipAddresses"`
}

// runningTasks waits for app id's n tasks RUNNING, each with one address in prefix.
func (c *overlayCluster) runningTasks(t *testing.T, id, prefix string, n int, within time.Duration) map[string]ipTask {
	t.Helper()
	got := map[string]ipTask{}
	waitFor(t, within, fmt.Sprintf("%s: %d tasks running with an address in %s", id, n, prefix), func() bool {
		var r struct {
			Tasks []ipTask `json:"tasks"`
		}
		code, b := haDo("GET", c.url+"/v2/apps"+id+"/tasks", "")
		if code != 200 || json.Unmarshal(b, &r) != nil || len(r.Tasks) != n {
			return false
		}
		clear(got)
		for _, tk := range r.Tasks {
			if tk.State != "TASK_RUNNING" || len(tk.IPAddresses) != 1 || !strings.HasPrefix(tk.IPAddresses[0].IPAddress, prefix) {
				return false
			}
			got[tk.ID] = tk
		}
		return true
	})
	return got
}

// checkOverlayGone waits until no agent namespace keeps the overlay's
// device, table, bridges or task namespaces.
func (c *overlayCluster) checkOverlayGone(t *testing.T) {
	t.Helper()
	for host, a := range c.agents {
		waitFor(t, 60*time.Second, host+": the overlay's device, table and bridges gone", func() bool {
			links, _ := exec.Command("ip", "-n", a.ns, "-o", "link").Output()
			tables, _ := exec.Command("ip", "netns", "exec", a.ns, "nft", "list", "tables").Output()
			es, _ := os.ReadDir(filepath.Join(a.dir, "cni", "netns"))
			return !strings.Contains(string(links), "nodectl-vx") && !strings.Contains(string(links), "ncn") &&
				!strings.Contains(string(tables), "nodectl_overlay") && len(es) == 0
		})
	}
}

// onlyTaskNetNS is the pinned network namespace of the one task of the
// agent with work dir dir.
func onlyTaskNetNS(t *testing.T, dir string) string {
	t.Helper()
	d := filepath.Join(dir, "cni", "netns")
	es, err := os.ReadDir(d)
	if err != nil || len(es) != 1 {
		t.Fatalf("want one task namespace in %s: %v %v", d, es, err)
	}
	return filepath.Join(d, es[0].Name())
}

// resolvConfOfNetNS is /etc/resolv.conf as the processes in the network
// namespace pinned at ns see it (through /proc/<pid>/root).
func resolvConfOfNetNS(t *testing.T, ns string) string {
	t.Helper()
	var want syscall.Stat_t
	if err := syscall.Stat(ns, &want); err != nil {
		t.Fatal(err)
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join("/proc", p.Name(), "ns", "net"), &st) != nil || st.Ino != want.Ino || st.Dev != want.Dev {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", p.Name(), "root", "etc", "resolv.conf")); err == nil {
			return string(b)
		}
	}
	t.Fatalf("no process in the network namespace %s", ns)
	return ""
}

// overlayDump is what the overlay set up in network namespace ns.
func overlayDump(ns string) string {
	var b strings.Builder
	for _, args := range [][]string{
		{"ip", "-n", ns, "-d", "link", "show", "nodectl-vx"}, {"ip", "-n", ns, "addr"}, {"ip", "-n", ns, "route"},
		{"ip", "-n", ns, "neigh", "show", "dev", "nodectl-vx"}, {"bridge", "-n", ns, "fdb", "show", "dev", "nodectl-vx"},
		{"ip", "netns", "exec", ns, "nft", "list", "ruleset"}, {"ip", "netns", "exec", ns, "sysctl", "net.ipv4.ip_forward"},
	} {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		fmt.Fprintf(&b, "$ %s (%v)\n%s\n", strings.Join(args, " "), err, out)
	}
	return b.String()
}
