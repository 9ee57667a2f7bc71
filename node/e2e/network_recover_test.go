package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Bridge networking across agent crashes: a kill -9 of the agent keeps
// every bridge task's address, veth and port forward (adopted, not added
// again), and what an agent finds of containers it no longer runs is
// torn down when it starts. Other nodes and tests share this host, so
// the host state compared is this agent's: its namespaces and leases
// under its work dir, the veths of its CNI results, nftables rules whose
// comment names one of its containers, and the host's other interfaces.

// cniHost is the part of the host a node's bridge tasks make.
type cniHost struct {
	Links  []string          // the host's interfaces but veths (any test's) and the shared bridge
	NetNS  []string          // pinned namespaces: container ids
	Leases []string          // host-local leases: "<address> <container id>"
	Veths  map[string]string // container id → its host-side veth (from libcni's cache)
	Rules  []string          // nftables rules naming one of ids
}

// The host-wide state of the agents' bridge networking
// (runtime/internal/cni/owners.go).
const (
	hostIPAMDir  = "/run/nodectl/cni-ipam"
	cniOwnersDir = "/run/nodectl/cni-owners"
)

func snapshotCNI(t *testing.T, dir string, ids []string) cniHost {
	t.Helper()
	var s cniHost
	es, err := os.ReadDir("/sys/class/net")
	must(t, err)
	for _, e := range es {
		if e.Name() != "nodectl0" && unpeered(e.Name()) {
			s.Links = append(s.Links, e.Name())
		}
	}
	if es, err := os.ReadDir(filepath.Join(dir, "cni", "netns")); err == nil {
		for _, e := range es {
			s.NetNS = append(s.NetNS, e.Name())
		}
	}
	// The host's bridge pool is shared by its agents: this node's leases
	// are those whose container it owns, plus any no agent owns (a leak).
	if es, err := os.ReadDir(filepath.Join(hostIPAMDir, "mesos-bridge")); err == nil {
		for _, e := range es {
			if e.Name() != "lock" && !strings.HasPrefix(e.Name(), "last_reserved_ip") {
				b, _ := os.ReadFile(filepath.Join(hostIPAMDir, "mesos-bridge", e.Name()))
				id, _, _ := strings.Cut(string(b), "\r\n")
				id = strings.TrimSpace(id)
				owner, err := os.ReadFile(filepath.Join(cniOwnersDir, id))
				if err == nil && strings.TrimSpace(string(owner)) != filepath.Join(dir, "cni") {
					continue // another node's
				}
				s.Leases = append(s.Leases, e.Name()+" "+id)
			}
		}
	}
	s.Veths = map[string]string{}
	files, _ := filepath.Glob(filepath.Join(dir, "cni", "cache", "results", "mesos-bridge-*-eth0"))
	for _, f := range files {
		var c struct {
			ContainerID string `json:"containerId"`
			Result      struct {
				Interfaces []struct{ Name, Sandbox string } `json:"interfaces"`
			} `json:"result"`
		}
		b, err := os.ReadFile(f)
		if err != nil || json.Unmarshal(b, &c) != nil {
			continue
		}
		for _, i := range c.Result.Interfaces {
			if i.Sandbox == "" && strings.HasPrefix(i.Name, "veth") {
				s.Veths[c.ContainerID] = i.Name
			}
		}
	}
	out, err := exec.Command("nft", "list", "ruleset").Output()
	must(t, err)
	for _, l := range strings.Split(string(out), "\n") {
		for _, id := range ids {
			if strings.Contains(l, id) {
				s.Rules = append(s.Rules, strings.TrimSpace(l))
				break
			}
		}
	}
	slices.Sort(s.Rules)
	return s
}

// dropCNIRulesAtEnd removes, when the test ends, the nftables rules of
// the containers of the node at dir that its agent did not remove (a
// failed test): killing a node's containers leaves its port forwards.
func dropCNIRulesAtEnd(t testing.TB, dir string) {
	t.Cleanup(func() {
		files, _ := filepath.Glob(filepath.Join(dir, "cni", "cache", "results", "*"))
		ids := map[string]bool{}
		for _, f := range files {
			var c struct {
				ContainerID string `json:"containerId"`
			}
			if b, err := os.ReadFile(f); err == nil && json.Unmarshal(b, &c) == nil && c.ContainerID != "" {
				ids[c.ContainerID] = true
			}
		}
		dropRulesOf(slices.Collect(maps.Keys(ids)))
	})
}

// bridgePorts is a node's port range, away from other tests' (a port
// forward of another node's bridge task on the same host port would
// shadow this node's).
func bridgePorts() string {
	base := 40000 + 100*rand.IntN(200)
	return fmt.Sprintf("[%d-%d]", base, base+99)
}

// containsRuleComment: an nft listing holds a rule with a comment (the
// tables' own comments are on lines of their own).
func containsRuleComment(listing string) bool {
	for _, l := range strings.Split(listing, "\n") {
		if l = strings.TrimSpace(l); !strings.HasPrefix(l, "comment ") && strings.Contains(l, " comment \"") {
			return true
		}
	}
	return false
}

// unpeered: interface name is there and not one end of a pair (a veth:
// its iflink is its peer's index, not its own). One gone between the
// listing and these reads is neither: a veth of another test's container,
// removed with it (it was once counted among the host's own interfaces,
// and TestBridgeRecovery saw the host's interfaces change).
func unpeered(name string) bool {
	idx, err1 := os.ReadFile("/sys/class/net/" + name + "/ifindex")
	peer, err2 := os.ReadFile("/sys/class/net/" + name + "/iflink")
	return err1 == nil && err2 == nil && strings.TrimSpace(string(idx)) == strings.TrimSpace(string(peer))
}

// noNewLinks: every interface of now was there before. One there before
// may be gone: the tests run side by side, and another test's interface
// may have been there for a moment when before was taken.
func noNewLinks(now, before []string) bool {
	for _, l := range now {
		if !slices.Contains(before, l) {
			return false
		}
	}
	return true
}

// linkExists: the host has an interface named name.
func linkExists(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name)
	return err == nil
}

// bridgeTask is a Marathon task with its addresses.
type bridgeTask struct {
	ID          string `json:"id"`
	Ports       []int  `json:"ports"`
	IPAddresses []struct {
		IPAddress string `json:"ipAddress"`
	} `json:"ipAddresses"`
}

func bridgeTasks(n node, app string) map[string]bridgeTask {
	var r struct {
		Tasks []bridgeTask `json:"tasks"`
	}
	if getJSON(n.url()+"/v2/apps"+app+"/tasks", &r) != nil {
		return nil
	}
	out := map[string]bridgeTask{}
	for _, t := range r.Tasks {
		out[t.ID] = t
	}
	return out
}

// agentTaskIPs is the agent's /state: each running task's addresses in
// its latest status' container_status.network_infos.
func agentTaskIPs(n node) map[string]string {
	var st struct {
		Frameworks []struct {
			Executors []struct {
				Tasks []struct {
					ID       string `json:"id"`
					Statuses []struct {
						ContainerStatus struct {
							NetworkInfos []struct {
								IPAddresses []struct {
									IPAddress string `json:"ip_address"`
								} `json:"ip_addresses"`
							} `json:"network_infos"`
						} `json:"container_status"`
					} `json:"statuses"`
				} `json:"tasks"`
			} `json:"executors"`
		} `json:"frameworks"`
	}
	out := map[string]string{}
	if getJSON(n.agentURL()+"/state", &st) != nil {
		return out
	}
	for _, f := range st.Frameworks {
		for _, e := range f.Executors {
			for _, t := range e.Tasks {
				for _, s := range t.Statuses {
					for _, ni := range s.ContainerStatus.NetworkInfos {
						for _, ip := range ni.IPAddresses {
							out[t.ID] = ip.IPAddress
						}
					}
				}
			}
		}
	}
	return out
}

// httpBody GETs url; "" on any error.
func httpBody(url string) string {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

// waitAnswering waits until every task answers with its id on its host
// port on 127.0.0.1.
func waitAnswering(t *testing.T, tasks map[string]bridgeTask) {
	t.Helper()
	for _, tk := range tasks {
		url := "http://127.0.0.1:" + strconv.Itoa(tk.Ports[0]) + "/"
		waitFor(t, 30*time.Second, "task "+tk.ID+" answering on "+url, func() bool { return httpBody(url) == "br-"+tk.ID })
	}
}

const bridgeApp = `{"id": %q, "instances": %d, "cpus": 0.05, "mem": 24,
	"cmd": "echo br-$MESOS_TASK_ID > index.html && exec httpd -f -p 8080 -h .",
	"container": {"type": "MESOS", "docker": {"image": "test/bridge:1"},
		"portMappings": [{"containerPort": 8080, "hostPort": 0, "name": "http", "protocol": "udp,tcp"}]},
	"networks": [{"mode": "container/bridge"}]}`

func loadBridgeImage(t testing.TB, dir string) {
	t.Helper()
	archive := busyboxImage(t, "test/bridge:1", nil, func(*v1.Config) {})
	if b, err := exec.Command(bin, "image", "load", "--work-dir", dir, archive).CombinedOutput(); err != nil {
		t.Fatalf("image load: %v\n%s", err, b)
	}
}

// checkCNIGone waits until nothing of the containers ids is left: no
// namespace, lease, veth or rule, and the host's other interfaces are
// links; then, if nodectl0 has no port, until it is gone.
func checkCNIGone(t *testing.T, dir string, ids []string, veths map[string]string, links []string, what string) {
	t.Helper()
	var last cniHost
	defer func() {
		if t.Failed() {
			t.Logf("host state of the node: %+v (links before: %v)", last, links)
		}
	}()
	waitFor(t, 60*time.Second, what, func() bool {
		last = snapshotCNI(t, dir, ids)
		for _, id := range ids {
			if slices.Contains(last.NetNS, id) || last.Veths[id] != "" || linkExists(veths[id]) ||
				slices.ContainsFunc(last.Leases, func(l string) bool { return strings.HasSuffix(l, " "+id) }) {
				return false
			}
		}
		return len(last.Rules) == 0 && noNewLinks(last.Links, links)
	})
	// The port forwards' table (runtime/internal/cni/portfwd.go) and the
	// plugins' tables stay only while a rule of some container is in them
	// (another node's, on a shared host).
	waitFor(t, 10*time.Second, "the idle nftables tables of the port forwards and the plugins removed", func() bool {
		for _, tbl := range [][]string{{"ip", "nodectl_hostport"}, {"ip", "cni_hostport"}, {"inet", "cni_plugins_masquerade"}} {
			out, err := exec.Command("nft", append([]string{"list", "table"}, tbl...)...).Output()
			if err == nil && !containsRuleComment(string(out)) {
				return false
			}
		}
		return true
	})
	// The shared bridge stays only while some interface is on it.
	if ports, err := os.ReadDir("/sys/class/net/nodectl0/brif"); err == nil && len(ports) == 0 {
		waitFor(t, 10*time.Second, "the idle bridge nodectl0 removed", func() bool {
			ports, err := os.ReadDir("/sys/class/net/nodectl0/brif")
			return err != nil || len(ports) > 0
		})
	}
	// Its masquerade table (runtime/internal/cni/masq.go) goes with it.
	if !linkExists("nodectl0") {
		waitFor(t, 10*time.Second, "the masquerade of the removed bridge removed", func() bool {
			return exec.Command("nft", "list", "table", "inet", "nodectl_masq_nodectl0").Run() != nil || linkExists("nodectl0")
		})
	}
}

// TestBridgeRecovery: 20 bridge tasks on one agent; kill -9 of the agent
// and a restart keep every task's address, host port and veth, with no
// extra interface, rule or lease; once the app is deleted the host is as
// before.
func TestBridgeRecovery(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft is not installed (make deps installs nftables)")
	}
	const n = 20
	m := newNode(t)
	start(t, m.args("master")...)
	waitFor(t, 30*time.Second, "master healthy", func() bool { return healthy(m.url()) })
	a := newNode(t)
	dropCNIRulesAtEnd(t, a.dir)
	agentArgs := a.args("agent", "--join", m.url(), "--token", agentToken(t, m, a), "--registration_backoff_factor", "50ms",
		"--resources", "cpus:2;mem:2048;disk:1024;ports:"+bridgePorts())
	ag := start(t, agentArgs...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, m.url()); return len(s) == 1 && s[0].Active })
	loadBridgeImage(t, a.dir)
	before := snapshotCNI(t, a.dir, nil)

	appMust(t, m, "POST", "/v2/apps", fmt.Sprintf(bridgeApp, "/e2e/br20", n), 201)
	appWaitRunning(t, m, "/e2e/br20", n, false, 120*time.Second)
	tasks := bridgeTasks(m, "/e2e/br20")
	waitAnswering(t, tasks)
	var agentIPs map[string]string
	waitFor(t, 10*time.Second, "every task's address in Marathon and the agent's /state", func() bool {
		tasks = bridgeTasks(m, "/e2e/br20")
		agentIPs = agentTaskIPs(a)
		for id, tk := range tasks {
			if len(tk.IPAddresses) != 1 || !strings.HasPrefix(tk.IPAddresses[0].IPAddress, "172.31.") || agentIPs[id] != tk.IPAddresses[0].IPAddress {
				return false
			}
		}
		return len(tasks) == n
	})
	running := snapshotCNI(t, a.dir, nil)
	ids := running.NetNS
	running = snapshotCNI(t, a.dir, ids)
	if len(ids) != n || len(running.Veths) != n || len(running.Leases) != len(before.Leases)+n || len(running.Rules) < n {
		t.Fatalf("%d tasks: %d namespaces, %d veths, %d leases (%d before), %d rules", n, len(ids), len(running.Veths), len(running.Leases), len(before.Leases), len(running.Rules))
	}
	veths := maps.Clone(running.Veths)
	// protocol udp,tcp: both forwarded on the one host port; each task has
	// a service port of its app's, from 10000 (Marathon's local_port_min).
	for _, tk := range tasks {
		for _, proto := range []string{"tcp", "udp"} {
			want := fmt.Sprintf("%s dport %d dnat to %s:8080", proto, tk.Ports[0], tk.IPAddresses[0].IPAddress)
			if !slices.ContainsFunc(running.Rules, func(r string) bool { return strings.HasPrefix(r, want) }) {
				t.Errorf("task %s: no rule %q", tk.ID, want)
			}
		}
	}
	var app struct {
		App struct {
			Container struct {
				PortMappings []struct {
					ServicePort int `json:"servicePort"`
				} `json:"portMappings"`
			} `json:"container"`
		} `json:"app"`
	}
	must(t, getJSON(m.url()+"/v2/apps/e2e/br20", &app))
	if pms := app.App.Container.PortMappings; len(pms) != 1 || pms[0].ServicePort < 10000 || pms[0].ServicePort >= 20000 {
		t.Errorf("service port of the app: %+v, want one in [10000, 20000)", pms)
	}
	t.Logf("%d tasks: %d namespaces, %d veths, %d leases, %d nftables rules of theirs", n, len(ids), len(veths), len(running.Leases), len(running.Rules))

	// kill -9 and restart: everything adopted, nothing added or lost.
	ag.kill(syscall.SIGKILL)
	start(t, agentArgs...)
	waitFor(t, 60*time.Second, "agent recovered", func() bool { return metric(a.agentURL(), "slave/recovered") == 1 })
	waitFor(t, 30*time.Second, "agent active again", func() bool { s := slaves(t, m.url()); return len(s) == 1 && s[0].Active })
	appWaitRunning(t, m, "/e2e/br20", n, false, 30*time.Second)
	after := bridgeTasks(m, "/e2e/br20")
	if !slices.Equal(slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(tasks))) {
		t.Fatalf("tasks after the restart %v, want %v", slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(tasks)))
	}
	for id, tk := range after {
		if !slices.Equal(tk.Ports, tasks[id].Ports) || fmt.Sprint(tk.IPAddresses) != fmt.Sprint(tasks[id].IPAddresses) {
			t.Errorf("task %s: ports %v ips %v after the restart, want %v %v", id, tk.Ports, tk.IPAddresses, tasks[id].Ports, tasks[id].IPAddresses)
		}
	}
	waitAnswering(t, after)
	waitFor(t, 10*time.Second, "every task's address in the restarted agent's /state", func() bool {
		return maps.Equal(agentTaskIPs(a), agentIPs)
	})
	recovered := snapshotCNI(t, a.dir, ids)
	if !slices.Equal(recovered.NetNS, running.NetNS) || !slices.Equal(recovered.Leases, running.Leases) ||
		!maps.Equal(recovered.Veths, running.Veths) || !slices.Equal(recovered.Rules, running.Rules) || !slices.Equal(recovered.Links, running.Links) {
		t.Errorf("host state changed by the restart:\nbefore %+v\nafter  %+v", running, recovered)
	}
	for id, v := range veths {
		if !linkExists(v) {
			t.Errorf("task container %s: veth %s gone after the restart", id, v)
		}
	}

	appMust(t, m, "DELETE", "/v2/apps/e2e/br20", "", 200)
	waitFor(t, 60*time.Second, "app tasks gone", func() bool { return len(bridgeTasks(m, "/e2e/br20")) == 0 })
	checkCNIGone(t, a.dir, ids, veths, before.Links, "the host back to its state before the test")
	if got := snapshotCNI(t, a.dir, ids); !slices.Equal(got.Leases, before.Leases) || len(got.NetNS) != 0 {
		t.Errorf("leftovers: %+v", got)
	}
}

// TestBridgeOrphanCleanup: what an agent finds at start of containers it
// no longer runs is torn down — after kill -9 of the node and of its
// containers from outside (tasks whose container is gone), and after the
// checkpoint is lost (containers no checkpoint knows: libcni's cache
// drives the DEL).
func TestBridgeOrphanCleanup(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft is not installed (make deps installs nftables)")
	}
	const n = 3
	nd := newNode(t)
	dropCNIRulesAtEnd(t, nd.dir)
	args := nd.args("all", "--resources", "cpus:2;mem:2048;disk:1024;ports:"+bridgePorts())
	p := start(t, args...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, nd.url()); return len(s) == 1 && s[0].Active })
	loadBridgeImage(t, nd.dir)
	before := snapshotCNI(t, nd.dir, nil)

	// up: the node with the app's n tasks answering; returns their
	// containers and veths. The tasks of an earlier up were killed: a
	// restarted agent may list them as running a moment before it finds
	// their containers gone, so up waits for n tasks it has not seen.
	seen := map[string]bool{}
	up := func() ([]string, map[string]string) {
		t.Helper()
		appWaitRunning(t, nd, "/e2e/orphan", n, false, 60*time.Second)
		var tasks map[string]bridgeTask
		waitFor(t, 60*time.Second, "the app's tasks all new", func() bool {
			tasks = bridgeTasks(nd, "/e2e/orphan")
			for id := range tasks {
				if seen[id] {
					return false
				}
			}
			return len(tasks) == n
		})
		for id := range tasks {
			seen[id] = true
		}
		waitAnswering(t, tasks)
		var s cniHost
		waitFor(t, 10*time.Second, "the tasks' namespaces", func() bool {
			s = snapshotCNI(t, nd.dir, nil)
			return len(s.NetNS) == n && len(s.Veths) == n
		})
		s = snapshotCNI(t, nd.dir, s.NetNS)
		if len(s.Rules) < n {
			t.Fatalf("%d rules for %d tasks: %v", len(s.Rules), n, s.Rules)
		}
		return s.NetNS, maps.Clone(s.Veths)
	}
	appMust(t, nd, "POST", "/v2/apps", fmt.Sprintf(bridgeApp, "/e2e/orphan", n), 201)
	ids, veths := up()

	// 1. The node dies, then its containers; the namespaces stay pinned
	// (veths, leases and rules with them) until the node is back.
	p.kill(syscall.SIGKILL)
	killContainers(t, nd.dir)
	if s := snapshotCNI(t, nd.dir, ids); len(s.NetNS) != n || len(s.Rules) == 0 {
		t.Fatalf("want the leftovers in place before the restart: %+v", s)
	}
	p = start(t, args...)
	checkCNIGone(t, nd.dir, ids, veths, before.Links, "the dead containers' networking removed")

	// 2. The checkpoint is lost: the node starts as a new agent, and the
	// containers of the old one are orphans.
	ids, veths = up()
	p.kill(syscall.SIGKILL)
	for _, f := range []string{"agent.db", "agent.db-wal", "agent.db-shm"} {
		_ = os.Remove(filepath.Join(nd.dir, "meta", f))
	}
	start(t, append(args, "--no-strict")...)
	checkCNIGone(t, nd.dir, ids, veths, before.Links, "the orphans' networking removed")

	appMust(t, nd, "DELETE", "/v2/apps/e2e/orphan", "", 200)
	waitFor(t, 60*time.Second, "app tasks gone", func() bool { return len(bridgeTasks(nd, "/e2e/orphan")) == 0 })
	waitFor(t, 60*time.Second, "no namespace or lease left", func() bool {
		s := snapshotCNI(t, nd.dir, nil)
		return len(s.NetNS) == 0 && slices.Equal(s.Leases, before.Leases) && noNewLinks(s.Links, before.Links)
	})
}

// killContainers kills the containers of the node at dir from outside
// (their init and monitor), leaving their pinned namespaces.
func killContainers(t *testing.T, dir string) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var killed []int
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) < 3 || filepath.Base(args[0]) != "nodectl-monitor" || !strings.HasPrefix(args[1], dir+"/") {
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(p, "/proc/"), "/cmdline"))
		if initPid, err := strconv.Atoi(args[2]); err == nil {
			_ = syscall.Kill(initPid, syscall.SIGKILL)
			killed = append(killed, initPid)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
		killed = append(killed, pid)
	}
	if len(killed) == 0 {
		t.Fatal("no container of the node found to kill")
	}
	waitFor(t, 10*time.Second, "the containers dead", func() bool {
		for _, pid := range killed {
			if alive(pid) {
				b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
				if !strings.Contains(string(b), ") Z") {
					return false
				}
			}
		}
		return true
	})
}

// An agent killed together with its containers whose work dir is then
// deleted never starts again to remove its bridge tasks' port forwards
// (as an acceptance script's or an operator's cleanup leaves it); those
// DNAT rules would take 127.0.0.1:<hostPort> from every program of the
// host. Any agent starting on the host removes them: every attachment
// records its owner's directory under /run, and rules whose owner
// directory is gone are swept.
func TestBridgeAbandonedWorkDirSwept(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft is not installed (make deps installs nftables)")
	}
	const n = 2
	nd := newNode(t)
	args := nd.args("all", "--resources", "cpus:2;mem:2048;disk:1024;ports:"+bridgePorts())
	p := start(t, args...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, nd.url()); return len(s) == 1 && s[0].Active })
	loadBridgeImage(t, nd.dir)
	appMust(t, nd, "POST", "/v2/apps", fmt.Sprintf(bridgeApp, "/e2e/abandoned", n), 201)
	appWaitRunning(t, nd, "/e2e/abandoned", n, false, 60*time.Second)
	var ids []string
	waitFor(t, 10*time.Second, "the tasks' namespaces", func() bool {
		ids = snapshotCNI(t, nd.dir, nil).NetNS
		return len(ids) == n
	})
	t.Cleanup(func() { dropRulesOf(ids) }) // if the sweep fails
	if s := snapshotCNI(t, nd.dir, ids); len(s.Rules) < n {
		t.Fatalf("%d rules for %d tasks: %v", len(s.Rules), n, s.Rules)
	}

	// The node and its containers die (the rules stay), and the work dir
	// is deleted. From then on any agent starting on the host may sweep
	// them, another package's test's too (packages' tests run side by
	// side): the rules are checked before the deletion.
	p.kill(syscall.SIGKILL)
	endContainers(t, nd.dir)
	if s := snapshotCNI(t, nd.dir, ids); len(s.Rules) == 0 {
		t.Fatal("want the abandoned rules in place after the node and its containers died")
	}
	must(t, os.RemoveAll(nd.dir))

	// Another agent of the host (its own work dir) starts: the abandoned
	// rules go, and the other node's own are untouched.
	other := newNode(t)
	start(t, other.args("all", "--resources", "cpus:1;mem:1024;disk:1024;ports:"+bridgePorts())...)
	waitFor(t, 60*time.Second, "the abandoned port forwards and address leases removed", func() bool {
		s := snapshotCNI(t, nd.dir, ids) // leases: of nobody's containers, now nd's dir is gone
		return len(s.Rules) == 0 && len(s.Leases) == 0
	})
}

// dropRulesOf deletes the nftables rules naming one of ids.
func dropRulesOf(ids []string) {
	out, _ := exec.Command("nft", "-a", "list", "ruleset").Output()
	var family, table, chain string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[0] == "table":
			family, table = f[1], f[2]
		case len(f) >= 2 && f[0] == "chain":
			chain = f[1]
		case len(f) >= 2 && f[len(f)-2] == "handle":
			for _, id := range ids {
				if strings.Contains(l, id) {
					_ = exec.Command("nft", "delete", "rule", family, table, chain, "handle", f[len(f)-1]).Run()
					break
				}
			}
		}
	}
}
