// Package e2e runs the real nodectl binary as separate processes. The
// binary is built once per run (or taken from $NODECTL_BIN, which `make
// test` sets).
package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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

	"nodectl/node/nodetest"
)

var bin string

// Most tests here run one after another. The longest ones that share
// nothing with the others — their own nodes, ports, host-port ranges and
// task command lines, no environment changes — call t.Parallel() and run
// side by side (make test gives -parallel 4): on 2 cores they mostly wait
// on processes and timers. The bridge tests among them share the host's
// bridge, nftables tables and address pool as separate agents of one host
// do.

func TestMain(m *testing.M) {
	if cfg := os.Getenv(scaleSimEnv); cfg != "" {
		os.Exit(runSimulator(cfg)) // a simulator process of BenchmarkScale
	}
	if addr := os.Getenv(tlsBaselineEnv); addr != "" {
		serveTLSBaseline(addr) // BenchmarkCurlUnderLoad's baseline
	}
	bin = os.Getenv("NODECTL_BIN")
	if bin == "" {
		dir, err := os.MkdirTemp("", "nodectl-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		bin = filepath.Join(dir, "nodectl")
		build := exec.Command("go", "build", "-o", bin, "nodectl")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build nodectl:", err)
			os.Exit(1)
		}
		defer os.RemoveAll(dir)
	}
	// Every node port speaks TLS only. Generic helpers (getJSON, healthy,
	// metric, plain http.Client{}s) go through http.DefaultTransport, which
	// verifies each node against its cluster's CA and presents the admin
	// certificate of that cluster's master (nodetest.Trust: node.args
	// registers a master's ports, agentToken an agent's).
	http.DefaultTransport = nodetest.Transport()
	code := m.Run()
	if examples.dir != "" {
		_ = os.RemoveAll(examples.dir)
	}
	if left := leftovers(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the tests left %d things behind:\n  %s\n", len(left), strings.Join(left, "\n  "))
		if code == 0 {
			code = 1
		}
	}
	// Empty once every test node's cgroups are gone; another run's
	// nodes may still use it.
	parents, _ := filepath.Glob("/sys/fs/cgroup/*/" + e2eCgroups)
	for _, p := range append(parents, "/sys/fs/cgroup/"+e2eCgroups) {
		_ = syscall.Rmdir(p)
	}
	os.Exit(code)
}

func freePort(t testing.TB) int { return nodetest.FreePort(t) }

// proc is a nodectl process the test started.
type proc struct {
	t    testing.TB
	cmd  *exec.Cmd
	out  *bytes.Buffer
	args []string
	done chan struct{}
}

func start(t testing.TB, args ...string) *proc {
	t.Helper()
	return startCmd(t, exec.Command(bin, args...), args)
}

// startCmd starts cmd, a nodectl with args (or a wrapper that execs it).
func startCmd(t testing.TB, cmd *exec.Cmd, args []string) *proc {
	t.Helper()
	p := &proc{t: t, out: &bytes.Buffer{}, args: args, done: make(chan struct{}), cmd: cmd}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start nodectl: %v", err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("output of nodectl %s:\n%s", strings.Join(args, " "), p.out.String())
		}
	})
	return p
}

func (p *proc) kill(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(sig)
		<-p.done
	}
}

// node is the flag set of one node on fresh loopback ports.
type node struct {
	dir                           string
	port, agentPort, etcd, etcdPr int
}

func newNode(t testing.TB) node {
	dir := t.TempDir()
	registerNode(dir)
	// Registered after TempDir, so it runs before the directory is removed
	// and after the test's nodectl processes were killed.
	t.Cleanup(func() { endContainers(t, dir) })
	return node{dir: dir, port: freePort(t), agentPort: freePort(t), etcd: freePort(t), etcdPr: freePort(t)}
}

// The agent's DNS server is off unless extra sets --dns-address: its
// default addresses (127.0.0.1:53 and the container bridge's gateway) are
// one per host, and the test nodes running side by side would race for
// them (TestDNS's bridge check then asked another test's agent).
func (n node) args(role string, extra ...string) []string {
	if role != "agent" {
		nodetest.Trust(nodetest.ClientConfigOf(n.dir), n.port, n.agentPort)
	}
	args := []string{"up", "--role=" + role, "--work-dir", n.dir, "--cgroups-root", n.cgroupsRoot(), "--ip", "127.0.0.1",
		"--port", strconv.Itoa(n.port), "--agent-port", strconv.Itoa(n.agentPort),
		"--etcd-port", strconv.Itoa(n.etcd), "--etcd-peer-port", strconv.Itoa(n.etcdPr)}
	if role != "master" && !slices.Contains(extra, "--dns-address") {
		args = append(args, "--dns-address", "off")
	}
	return append(args, extra...)
}

// cgroupsRoot is the node's --cgroups-root, unique to its work dir so
// parallel test nodes do not share one; endContainers removes it.
func (n node) cgroupsRoot() string {
	h := sha256.Sum256([]byte(n.dir))
	return e2eCgroups + "/" + hex.EncodeToString(h[:6])
}

// e2eCgroups is the parent of the test nodes' cgroups.
const e2eCgroups = "nodectl-e2e"

func (n node) url() string { return "https://127.0.0.1:" + strconv.Itoa(n.port) }

// agentURL is the base URL of the node's agent API.
func (n node) agentURL() string { return "https://127.0.0.1:" + strconv.Itoa(n.agentPort) }

// agentToken creates an agent join token on master m (`nodectl token
// create --role agent` with m's work dir) for agent a, whose port the
// harness then reaches with m's credentials. Agents start with
// a.args("agent", "--join", m.url(), "--token", agentToken(t, m, a), ...);
// a restart with the same args keeps the certificate got on the first.
func agentToken(t testing.TB, m, a node) string {
	t.Helper()
	out, err := exec.Command(bin, "token", "create", "--role", "agent", "--work-dir", m.dir, "--master", "127.0.0.1:"+strconv.Itoa(m.port)).CombinedOutput()
	tok, _, _ := strings.Cut(string(out), "\n")
	if err != nil || !strings.HasPrefix(tok, "NDCTL") {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	nodetest.Trust(nodetest.ClientConfigOf(m.dir), a.agentPort)
	return strings.TrimSpace(tok)
}

// cliEnv is the environment for a nodectl subcommand that talks to the
// node on port: its cluster's client config (CA, admin certificate).
func cliEnv(port int) []string {
	return append(os.Environ(), "NODECTL_CLIENT_CONFIG="+nodetest.ClientConfigFor(port))
}

func getJSON(url string, v any) error {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func healthy(url string) bool {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(url + "/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// waitFor polls cond until it holds. The deadline is at least
// nodetest.MinWait whatever timeout says: it only bounds a hang, and a
// loaded machine is slow.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	timeout = max(timeout, nodetest.MinWait)
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

type slave struct {
	ID     string `json:"id"`
	Active bool   `json:"active"`
}

func slaves(t testing.TB, url string) []slave {
	var st struct {
		Slaves []slave `json:"slaves"`
	}
	if err := getJSON(url+"/state", &st); err != nil {
		return nil
	}
	return st.Slaves
}

// endContainers kills every container whose run dir is under dir, waits
// for their monitors to finish, and removes their cgroups, so a test leaves
// nothing running and its temp dir can go. Monitors are found through
// /proc: "nodectl-monitor <run dir> <init pid> <oom file>".
func endContainers(t testing.TB, dir string) {
	// A shim the killed node had just started finishes its container on
	// its own and only then becomes the monitor: kill passes repeat until
	// one finds nothing (each kills shims mid-start too).
	var ids []string
	for pass := 0; pass < 20; pass++ {
		monitors, found := killContainersOnce(dir)
		ids = append(ids, found...)
		pollUntil(10*time.Second, func() bool { // the monitors' exits
			return !slices.ContainsFunc(monitors, running)
		})
		if len(monitors) == 0 {
			break
		}
	}
	unmountUnder(dir)
	for _, id := range ids {
		cgs, _ := filepath.Glob("/sys/fs/cgroup/*/nodectl/" + id)
		cg2, _ := filepath.Glob("/sys/fs/cgroup/nodectl/" + id)
		cg3, _ := filepath.Glob("/sys/fs/cgroup/*/nodectl/containers/" + id)
		for _, cg := range append(append(cgs, cg2...), cg3...) {
			_ = os.Remove(cg)
		}
	}
	// The node's own cgroups (node.args' --cgroups-root), in every
	// hierarchy; its processes have been killed by now.
	// The nodectl process's is the root's sibling (runtime.SystemCgroup).
	var roots []string
	for _, root := range []string{node{dir: dir}.cgroupsRoot(), node{dir: dir}.cgroupsRoot() + "-system"} {
		hier, _ := filepath.Glob("/sys/fs/cgroup/*/" + root)
		roots = append(roots, hier...)
		if _, err := os.Stat("/sys/fs/cgroup/" + root); err == nil {
			roots = append(roots, "/sys/fs/cgroup/"+root)
		}
	}
	for _, r := range roots {
		removeCgroupTree(t, r)
	}
}

// killContainersOnce kills, once, the containers under dir: each
// monitor's init, every process left in the node's container cgroups, and
// shims still starting a container ("nodectl-shim run <run dir>"). It
// returns the monitors and shims to wait for and the container ids seen.
func killContainersOnce(dir string) (waitFor []int, ids []string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		pid, _ := strconv.Atoi(strings.TrimPrefix(strings.TrimSuffix(p, "/cmdline"), "/proc/"))
		switch {
		case len(args) >= 3 && filepath.Base(args[0]) == "nodectl-monitor" && strings.HasPrefix(args[1], dir+"/"):
			if initPid, err := strconv.Atoi(args[2]); err == nil {
				_ = syscall.Kill(initPid, syscall.SIGKILL)
			}
			waitFor = append(waitFor, pid)
			ids = append(ids, filepath.Base(args[1]))
		case len(args) >= 3 && filepath.Base(args[0]) == "nodectl-shim" && args[1] == "run" && strings.HasPrefix(args[2], dir+"/"):
			_ = syscall.Kill(pid, syscall.SIGKILL)
			waitFor = append(waitFor, pid)
			ids = append(ids, filepath.Base(args[2]))
		case len(args) >= 3 && filepath.Base(args[0]) == "nodectl-shim" && args[1] == "spare" && strings.HasPrefix(args[2], dir+"/"):
			// A spare shim ends by itself with its node, destroying its
			// warm container; killed, its container is in the cgroups below.
			_ = syscall.Kill(pid, syscall.SIGKILL)
			waitFor = append(waitFor, pid)
		}
	}
	// Every process left in the node's container cgroups: killing a
	// container's init does not end its children when the task has no pid
	// namespace (a shell's child).
	cgRoot := node{dir: dir}.cgroupsRoot()
	procFiles, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgRoot + "/containers/*/cgroup.procs")
	more, _ := filepath.Glob("/sys/fs/cgroup/" + cgRoot + "/containers/*/cgroup.procs")
	for _, f := range append(procFiles, more...) {
		b, _ := os.ReadFile(f)
		for _, field := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(field); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	return waitFor, ids
}

// removeCgroupTree rmdirs a cgroup directory bottom-up (cgroup files
// cannot be unlinked), retrying EBUSY while the kernel finishes tearing
// down exited processes.
func removeCgroupTree(t testing.TB, dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.IsDir() {
			removeCgroupTree(t, filepath.Join(dir, e.Name()))
		}
	}
	tick := time.NewTicker(10 * time.Millisecond) // polling for the kernel to release it
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for {
		err := syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Logf("remove cgroup %s: %v", dir, err)
			return
		}
	}
}

// running reports whether pid exists and is not a zombie.
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// anonClient is an HTTPS client that trusts n's cluster CA and presents
// no certificate: an outsider, or a client with only a password.
func anonClient(t testing.TB, n node) *http.Client {
	t.Helper()
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: clientsTLS(t, n)},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
