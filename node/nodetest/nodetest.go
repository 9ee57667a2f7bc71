// Package nodetest runs nodectl nodes in-process for tests: masters with a
// real embedded etcd and agents, all on 127.0.0.1 ports picked at random,
// each node's logs going to t.Log. It is for tests only.
package nodetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"nodectl/node"
)

// Options shape a cluster. Zero values are sensible test defaults.
type Options struct {
	// Agents is the number of agent-only nodes besides the master.
	Agents int
	// All runs the master with --role=all (master and agent in one node).
	All bool
	// AgentPingTimeout × MaxAgentPingTimeouts is the master's ping window;
	// defaults 100ms × 5.
	AgentPingTimeout     time.Duration
	MaxAgentPingTimeouts int
	// Configure, when set, adjusts each master's config before it is
	// validated (credentials, ACLs, ...).
	Configure func(*node.Config)
	// EtcdQuotaBackendBytes is the masters' etcd quota; default etcd's.
	EtcdQuotaBackendBytes int64
}

// Cluster is a running set of nodes.
type Cluster struct {
	t      testing.TB
	opts   Options
	Master *Node
	Agents []*Node
}

// Node is one in-process nodectl node.
type Node struct {
	t      testing.TB
	Name   string
	Config node.Config

	mu     sync.Mutex // guards cancel and done
	cancel context.CancelFunc
	done   chan error
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. It
// is drawn below the kernel's ephemeral range (32768+), so an outgoing
// connection cannot take it while a killed node is being restarted on it,
// and never twice in one test binary. The e2e binary, which restarts
// killed nodes on their ports, draws from 12000-21999 and every other
// binary (make test runs them beside it) from 22000-31999: a killed e2e
// node restarted on its ports once found one in use (TestKill9Loop:
// "bind: address already in use"), most likely taken in that moment by a
// node of another package's tests.
func FreePort(t testing.TB) int {
	t.Helper()
	lo := 22000
	if strings.HasSuffix(filepath.Base(os.Args[0]), "e2e.test") {
		lo = 12000
	}
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		p := lo + rand.IntN(10000)
		if portsUsed[p] {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		_ = ln.Close()
		portsUsed[p] = true
		return p
	}
	t.Fatalf("free port: no free port in %d-%d after 1000 tries", lo, lo+9999)
	return 0
}

var (
	portsMu   sync.Mutex
	portsUsed = map[int]bool{}
)

// Start starts a master (or master+agent) and opts.Agents agents and stops
// them all when the test ends.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.AgentPingTimeout == 0 {
		opts.AgentPingTimeout = 100 * time.Millisecond
	}
	if opts.MaxAgentPingTimeouts == 0 {
		opts.MaxAgentPingTimeouts = 5
	}
	c := &Cluster{t: t, opts: opts}
	role := "master"
	if opts.All {
		role = "all"
	}
	c.Master = c.NewNode("master", role, t.TempDir())
	c.Master.Start()
	WaitFor(t, 30*time.Second, "master elected", func() bool {
		return c.Metric("master/elected") == 1
	})
	for i := range opts.Agents {
		a := c.NewNode(fmt.Sprintf("agent%d", i), "agent", t.TempDir())
		a.Start()
		c.Agents = append(c.Agents, a)
	}
	return c
}

// NewNode configures (without starting) a node of the cluster.
func (c *Cluster) NewNode(name, role, workDir string) *Node {
	cfg := node.Config{
		Role: role, WorkDir: workDir, IP: "127.0.0.1", Hostname: name,
		Port: FreePort(c.t), AgentPort: FreePort(c.t), EtcdPort: FreePort(c.t), EtcdPeerPort: FreePort(c.t),
		AgentPingTimeout: c.opts.AgentPingTimeout, MaxAgentPingTimeouts: c.opts.MaxAgentPingTimeouts,
		RegistrationBackoffFactor: 50 * time.Millisecond, EtcdQuotaBackendBytes: c.opts.EtcdQuotaBackendBytes,
		LoggingLevel: "INFO", LogFormat: "text", Flags: map[string]string{},
	}
	if role == "agent" {
		// Agents join with a token; the master must be running.
		tok, err := AgentToken(c.Master.URL())
		if err != nil {
			c.t.Fatalf("node %s: agent token: %v", name, err)
		}
		cfg.Masters = []string{c.Master.Config.AdvertiseIP + ":" + fmt.Sprint(c.Master.Config.Port)}
		cfg.Join, cfg.Token = c.Master.URL(), tok
		Trust(ClientConfigOf(c.Master.Config.WorkDir), cfg.AgentPort)
	} else {
		Trust(ClientConfigOf(workDir), cfg.Port, cfg.AgentPort)
	}
	if role != "agent" && c.opts.Configure != nil {
		c.opts.Configure(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		c.t.Fatalf("node %s config: %v", name, err)
	}
	n := &Node{t: c.t, Name: name, Config: cfg}
	c.t.Cleanup(func() { n.Stop() })
	return n
}

// Start runs the node in the background.
func (n *Node) Start() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cancel != nil {
		n.t.Fatalf("node %s already running", n.Name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	w := &logWriter{t: n.t, prefix: n.Name + ": "}
	go func() {
		done <- node.Run(ctx, n.Config, w)
		w.close()
	}()
	n.cancel, n.done = cancel, done
}

// Stop stops the node the way SIGTERM does and returns Run's error. It is
// a no-op on a stopped node.
func (n *Node) Stop() error {
	n.mu.Lock()
	cancel, done := n.cancel, n.done
	n.cancel, n.done = nil, nil
	n.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case err := <-done:
		return err
	case <-time.After(15 * time.Second):
		n.t.Errorf("node %s did not stop within 15s", n.Name)
		return nil
	}
}

// URL is the base URL of the node's master API.
func (n *Node) URL() string { return fmt.Sprintf("https://127.0.0.1:%d", n.Config.Port) }

// AgentURL is the base URL of the node's agent API.
func (n *Node) AgentURL() string { return fmt.Sprintf("https://127.0.0.1:%d", n.Config.AgentPort) }

// State fetches the leader's /state.
func (c *Cluster) State() map[string]any {
	var st map[string]any
	if err := GetJSON(c.Master.URL()+"/state", &st); err != nil {
		return nil
	}
	return st
}

// Metric reads one value of the master's /metrics/snapshot (-1 if absent).
func (c *Cluster) Metric(name string) float64 {
	var m map[string]float64
	if err := GetJSON(c.Master.URL()+"/metrics/snapshot", &m); err != nil {
		return -1
	}
	if v, ok := m[name]; ok {
		return v
	}
	return -1
}

// GetJSON GETs url and decodes a 200 answer into v, over the shared
// Transport (see Trust).
func GetJSON(url string, v any) error {
	client := Client(5 * time.Second)
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// MinWait is the shortest deadline WaitFor (and node/e2e's waitFor)
// gives a condition, whatever timeout its caller asks for: a deadline only
// bounds a hang, and on a loaded 2-core machine a step that takes 50 ms
// when idle can take seconds. How fast things are is for benchmarks.
const MinWait = 60 * time.Second

// WaitFor polls cond until it holds or the deadline (timeout, at least
// MinWait) passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	timeout = max(timeout, MinWait)
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a wait for an event
	}
}

// logWriter sends each log line to t.Log until the node has stopped.
type logWriter struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex // guards closed
	closed bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
			w.t.Log(w.prefix + line)
		}
	}
	return len(p), nil
}

func (w *logWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

// EtcdDir is where a master node keeps its etcd data.
func (n *Node) EtcdDir() string { return filepath.Join(n.Config.WorkDir, "etcd") }
