package e2e

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"nodectl/node/internal/bundle"
	"nodectl/node/nodetest"
)

// Rolling cluster upgrades (docs/upgrade.md): nodes from one binary,
// upgraded through POST /node/upgrade to a second build of the same code
// with another version string, signed with a key the nodes trust.

// rollV2 is the version string of the second build.
const rollV2 = "rolltest-v2"

// rollKit is the second build, its signed binary bundle and the key
// file the nodes are started with (--update-key).
type rollKit struct {
	v1, v2, bundle, pub string
	v1Version           string
	key                 ed25519.PrivateKey
}

func rollSetup(t *testing.T) rollKit {
	t.Helper()
	dir := t.TempDir()
	k := rollKit{v1: bin, v2: filepath.Join(dir, "nodectl-v2"), bundle: filepath.Join(dir, "nodectl-binary.tar"), pub: filepath.Join(dir, "update.pub")}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	k.v1Version = strings.Fields(string(out))[1]
	if k.v1Version == rollV2 {
		t.Fatalf("the binary under test reports %s already", rollV2)
	}
	// The same code with another version (the embedded shim comes from
	// the tree, which `make build` filled).
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X nodectl/cluster/api.Version="+rollV2, "-o", k.v2, ".")
	build.Dir = "../.."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", rollV2, err, out)
	}
	if k.key, err = bundle.GenerateKey(filepath.Join(dir, "update.key")); err != nil {
		t.Fatal(err)
	}
	pub, err := bundle.MarshalPublicKey(k.key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k.pub, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(k.bundle)
	if err != nil {
		t.Fatal(err)
	}
	if err := bundle.Write(f, k.key, rollV2, map[string]string{bundle.Binary: k.v2}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return k
}

// rollNode is one node process started from its own copy of a binary
// (an upgrade replaces that file).
type rollNode struct {
	n    node
	p    *proc
	exe  string
	role string
}

func rollStart(t *testing.T, src, role string, n node, extra ...string) *rollNode {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "nodectl")
	installCopy(t, src, exe)
	args := n.args(role, extra...)
	return &rollNode{n: n, exe: exe, role: role, p: startCmd(t, exec.Command(exe, args...), args)}
}

// rollVersion is the version a node's port reports, "" when it does not answer.
func rollVersion(url string) string {
	var v struct {
		V string `json:"nodectl_version"`
	}
	if getJSON(url+"/version", &v) != nil {
		return ""
	}
	return v.V
}

// rollSample is what the poller saw at one instant.
type rollSample struct {
	at            time.Time
	leader        bool
	quorumHealthy bool
	healthy       int // -1: no leader answered
}

// The acceptance of issue 21's rolling upgrade: 3 masters and 2 agents
// from one binary, an app of 4 instances with a health check and
// upgradeStrategy minimumHealthCapacity 0.5; `nodectl cluster upgrade`
// moves every node to the second build while a poller samples the
// leader, the etcd quorum and the app's healthy instances: never fewer
// healthy than the strategy allows (2), no leaderless or quorumless gap
// longer than a failover, and at the end every node on the new version
// with the app intact. A bundle signed by another key is refused first.
func TestClusterRollingUpgrade(t *testing.T) {
	// Not t.Parallel: it holds a healthy count through restarts; beside
	// the other tests' load the health checks would be starved.
	k := rollSetup(t)
	keyFlag := []string{"--update-key", k.pub}
	m1 := rollStart(t, k.v1, "master", newNode(t), append(append([]string{}, haFlags...), keyFlag...)...)
	waitFor(t, 60*time.Second, "first master healthy", func() bool { return healthy(m1.n.url()) })
	first := &haMaster{n: m1.n, p: m1.p}
	tok := haToken(t, first, "master")
	masters := []*rollNode{m1}
	for range 2 {
		extra := append(append(append([]string{}, haFlags...), keyFlag...), haJoin(first, tok)...)
		masters = append(masters, rollStart(t, k.v1, "master", newNode(t), extra...))
	}
	haWaitVoters(t, m1.n.url(), 3)
	atok := haToken(t, first, "agent")
	var agents []*rollNode
	for i := range 2 {
		a := newNode(t)
		nodetest.Trust(nodetest.ClientConfigOf(m1.n.dir), a.agentPort)
		agents = append(agents, rollStart(t, k.v1, "agent", a, append([]string{"--join", m1.n.url(), "--token", atok,
			"--registration-backoff-factor", "100ms", "--hostname", "roll-" + strconv.Itoa(i),
			"--resources", "cpus:4;mem:4096;disk:1024;ports:[31000-31999]"}, keyFlag...)...))
	}
	waitFor(t, 60*time.Second, "two agents active", func() bool {
		n := 0
		for _, s := range slaves(t, m1.n.url()) {
			if s.Active {
				n++
			}
		}
		return n == 2
	})
	all := append(append([]*rollNode{}, masters...), agents...)
	portURL := func(r *rollNode) string {
		if r.role == "agent" {
			return r.n.agentURL()
		}
		return r.n.url()
	}

	const id = "/e2e/rolled"
	appMust(t, m1.n, "POST", "/v2/apps", `{"id": "`+id+`", "cmd": "sleep `+appMark(7321)+`", "instances": 4, "cpus": 0.05, "mem": 16,
		"upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5},
		"healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"}, "gracePeriodSeconds": 5,
			"intervalSeconds": 2, "timeoutSeconds": 10, "maxConsecutiveFailures": 5}]}`, 201)
	appWaitRunning(t, m1.n, id, 4, true, 90*time.Second)

	// A bundle signed by a key the nodes do not trust is refused, and the
	// node goes on running its version.
	other, err := bundle.GenerateKey(filepath.Join(t.TempDir(), "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	var bad bytes.Buffer
	if err := bundle.Write(&bad, other, rollV2, map[string]string{bundle.Binary: k.v2}, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(agents[0].n.agentURL()+"/node/upgrade", "application/x-tar", &bad)
	if err != nil {
		t.Fatal(err)
	}
	var refusal struct{ Message string }
	_ = json.NewDecoder(resp.Body).Decode(&refusal)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(refusal.Message, "signature") {
		t.Errorf("untrusted bundle: %s %q, want 400 about the signature", resp.Status, refusal.Message)
	}
	if v := rollVersion(agents[0].n.agentURL()); v != k.v1Version {
		t.Errorf("after the refused bundle the agent reports %q, want %s", v, k.v1Version)
	}

	// The poller: the leader, the quorum and the healthy instances.
	var (
		mu      sync.Mutex
		samples []rollSample
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond): // sampling interval
			}
			s := rollSample{at: time.Now(), healthy: -1}
			for _, m := range masters {
				if !s.quorumHealthy {
					s.quorumHealthy = haMembers(m.n.url()).Healthy
				}
				if metric(m.n.url(), "master/elected") == 1 {
					s.leader = true
					var a struct{ App appInfo }
					if getJSON(m.n.url()+"/v2/apps"+id, &a) == nil {
						s.healthy = a.App.TasksHealthy
					}
				}
			}
			mu.Lock()
			samples = append(samples, s)
			mu.Unlock()
		}
	}()
	stopPoller := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopPoller()

	// The dry run plans every node and changes nothing.
	cli := func(args ...string) (string, error) {
		c := exec.Command(bin, append([]string{"cluster", "upgrade", "--image", k.bundle, "--work-dir", m1.n.dir}, args...)...)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	out, err := cli("--dry-run")
	if err != nil || !strings.Contains(out, "5 step(s)") || !strings.Contains(out, "leader)") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	t.Logf("plan:\n%s", out)
	began := time.Now()
	out, err = cli("--timeout", "8m")
	took := time.Since(began)
	t.Logf("cluster upgrade (%s):\n%s", took.Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("cluster upgrade: %v", err)
	}
	stopPoller()

	// Every node reports the new version, from the same process (the
	// upgrade re-executes in place).
	for _, r := range all {
		waitFor(t, 60*time.Second, "node on "+rollV2, func() bool { return rollVersion(portURL(r)) == rollV2 })
		select {
		case <-r.p.done:
			t.Errorf("node %s exited", portURL(r))
		default:
		}
	}
	for _, s := range slaves(t, m1.n.url()) {
		if !s.Active {
			t.Errorf("agent %s inactive after the upgrade", s.ID)
		}
	}
	a := appWaitRunning(t, m1.n, id, 4, true, 60*time.Second)
	if a.Instances != 4 {
		t.Errorf("app after the upgrade: %+v", a)
	}
	out, err = cli()
	if err != nil || !strings.Contains(out, "0 step(s)") {
		t.Errorf("a second run: %v\n%s", err, out)
	}

	// What the poller saw.
	mu.Lock()
	defer mu.Unlock()
	minHealthy, gapLeader, gapQuorum := 4, time.Duration(0), time.Duration(0)
	var lastLeader, lastQuorum time.Time
	for i, s := range samples {
		if i == 0 {
			lastLeader, lastQuorum = s.at, s.at
		}
		if s.healthy >= 0 && s.healthy < minHealthy {
			minHealthy = s.healthy
		}
		if s.leader {
			lastLeader = s.at
		}
		gapLeader = max(gapLeader, s.at.Sub(lastLeader))
		if s.quorumHealthy {
			lastQuorum = s.at
		}
		gapQuorum = max(gapQuorum, s.at.Sub(lastQuorum))
	}
	nodes := len(all)
	t.Logf("%d samples; fewest healthy instances %d (strategy allows 2); longest without a leader %s, without a healthy quorum %s; %s per node",
		len(samples), minHealthy, gapLeader.Round(time.Millisecond), gapQuorum.Round(time.Millisecond), (took / time.Duration(nodes)).Round(time.Millisecond))
	if minHealthy < 2 {
		t.Errorf("healthy instances fell to %d, below minimumHealthCapacity 0.5 of 4", minHealthy)
	}
	// A failover takes a lease (2 s) and an election; the machine is loaded.
	if gapLeader > 20*time.Second {
		t.Errorf("no leader for %s", gapLeader)
	}
	if gapQuorum > 20*time.Second {
		t.Errorf("no healthy etcd quorum for %s", gapQuorum)
	}
}

// Mixed versions (docs/upgrade.md): an agent of the old version under a
// master of the new one, and an agent of the new version under a master
// of the old one, both register (reporting their own version in /state)
// and run an app's task.
func TestClusterMixedVersions(t *testing.T) {
	k := rollSetup(t)
	for _, c := range []struct{ master, agent, mv, av string }{
		{k.v2, k.v1, rollV2, k.v1Version},
		{k.v1, k.v2, k.v1Version, rollV2},
	} {
		t.Run(fmt.Sprintf("master %s agent %s", c.mv, c.av), func(t *testing.T) {
			m := rollStart(t, c.master, "master", newNode(t))
			waitFor(t, 60*time.Second, "master healthy", func() bool { return healthy(m.n.url()) })
			a := newNode(t)
			rollStart(t, c.agent, "agent", a, "--join", m.n.url(), "--token", agentToken(t, m.n, a), "--registration-backoff-factor", "100ms",
				"--resources", "cpus:2;mem:2048;disk:1024;ports:[31000-31100]")
			var st struct {
				Version string `json:"version"`
				Slaves  []struct {
					Active  bool   `json:"active"`
					Version string `json:"version"`
				} `json:"slaves"`
			}
			waitFor(t, 60*time.Second, "the agent registered", func() bool {
				return getJSON(m.n.url()+"/state", &st) == nil && len(st.Slaves) == 1 && st.Slaves[0].Active
			})
			if st.Version == "" || st.Slaves[0].Version != c.av || rollVersion(m.n.url()) != c.mv {
				t.Errorf("state: master %s (/version %s), agent %q; want master %s, agent %s", st.Version, rollVersion(m.n.url()), st.Slaves[0].Version, c.mv, c.av)
			}
			id := "/e2e/mixed"
			appMust(t, m.n, "POST", "/v2/apps", `{"id": "`+id+`", "cmd": "sleep `+appMark(7322)+`", "instances": 1, "cpus": 0.05, "mem": 16}`, 201)
			appWaitRunning(t, m.n, id, 1, false, 60*time.Second)
		})
	}
}
