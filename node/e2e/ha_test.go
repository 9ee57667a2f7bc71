package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"nodectl/node/nodetest"
)

// HA masters (docs/ha.md), with real processes: masters joined through
// each other, agents that were told only the first master, an app scaling
// while the leader is killed, quorum changes online, loss of quorum and
// recovery.

// haFlags make failover quick on loopback: short Raft timers, the
// shortest leader lease etcd allows with them.
var haFlags = []string{"--etcd-heartbeat-interval", "50ms", "--etcd-election-timeout", "500ms", "--leader-lease-ttl", "2s"}

// haMaster is one master process and its flags.
type haMaster struct {
	n node
	p *proc
}

func haStartMaster(t testing.TB, n node, extra ...string) *haMaster {
	t.Helper()
	m := &haMaster{n: n}
	m.p = start(t, n.args("master", append(append([]string{}, haFlags...), extra...)...)...)
	return m
}

func (m *haMaster) alive() bool {
	select {
	case <-m.p.done:
		return false
	default:
		return true
	}
}

func (m *haMaster) addr() string { return strings.TrimPrefix(m.n.url(), "https://") }

// haToken creates a master join token on m (through its work dir's admin
// credential), usable by any number of masters.
func haToken(t testing.TB, m *haMaster, role string) string {
	t.Helper()
	out := haCLI(t, 0, "token", "create", "--role", role, "--work-dir", m.n.dir, "--master", m.addr())
	tok, _, _ := strings.Cut(out, "\n")
	if !strings.HasPrefix(tok, "NDCTL") {
		t.Fatalf("token create printed %q", out)
	}
	return strings.TrimSpace(tok)
}

// haJoin are the flags that join a master through m.
func haJoin(m *haMaster, token string) []string {
	return []string{"--join", "https://" + m.addr(), "--token", token}
}

// haDo sends a JSON request; redirects from standbys are followed.
func haDo(method, url, body string) (int, []byte) {
	r := haCall(method, url, body)
	if r.err != nil {
		return 0, []byte(r.err.Error())
	}
	return r.code, r.body
}

// haResult is one call's outcome: an answer (code, body, header) or the
// error that stopped it.
type haResult struct {
	code   int
	body   []byte
	header http.Header
	err    error
}

// noEffect reports whether the call certainly changed nothing: the
// connection was refused, or the master answered that it did nothing (a
// Retry-After: no leader yet, state still loading, shed) or that the
// write lost its term's fence (cluster/apps/store.go: nothing commits).
func (r haResult) noEffect() bool {
	if r.err != nil {
		return errors.Is(r.err, syscall.ECONNREFUSED)
	}
	if r.code/100 == 2 {
		return false
	}
	if r.header.Get("Retry-After") != "" || r.code/100 == 4 {
		return true
	}
	return strings.Contains(string(r.body), "apps state write refused") || strings.Contains(string(r.body), "apps state write outside a term")
}

// haCall is haDo with the outcome's details.
func haCall(method, url, body string) haResult {
	c := &http.Client{Timeout: 3 * time.Second}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return haResult{err: err}
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return haResult{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return haResult{err: err} // the answer was cut: what it said is not known
	}
	return haResult{code: resp.StatusCode, body: b, header: resp.Header}
}

type haQuorum struct {
	Members []struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Learner bool   `json:"learner"`
		Healthy bool   `json:"healthy"`
		Leader  bool   `json:"leader"` // etcd's Raft leader
		Master  string `json:"master"`
	} `json:"members"`
	Voters        int    `json:"voters"`
	HealthyVoters int    `json:"healthy_voters"`
	Healthy       bool   `json:"healthy"`
	Leader        string `json:"leader"` // the leading master's address
}

func haMembers(url string) haQuorum {
	var q haQuorum
	_ = getJSON(url+"/master/members", &q)
	return q
}

// haWaitVoters waits until url reports exactly n healthy voters.
func haWaitVoters(t testing.TB, url string, n int) haQuorum {
	t.Helper()
	var q haQuorum
	waitFor(t, 60*time.Second, fmt.Sprintf("%d healthy voters", n), func() bool {
		q = haMembers(url)
		return q.Voters == n && q.HealthyVoters == n && q.Healthy
	})
	return q
}

// haWaitRaftLeaderElsewhere waits until etcd's Raft leader is the member
// of another master than leader, the leading one (cluster/raftleader.go):
// the leading master hands Raft's leadership away when it holds both.
func haWaitRaftLeaderElsewhere(t testing.TB, leader *haMaster) {
	t.Helper()
	waitFor(t, 60*time.Second, "etcd's Raft leader on another master than the leading one", func() bool {
		q := haMembers(leader.n.url())
		for _, x := range q.Members {
			if x.Leader {
				return q.Leader == leader.addr() && x.Master != "" && x.Master != leader.addr()
			}
		}
		return false
	})
}

// haMemberID is the etcd member id of master m.
func haMemberID(t testing.TB, url string, m *haMaster) string {
	t.Helper()
	var id string
	// The list can be briefly unavailable (a member just killed, a loaded
	// machine): a missing answer is asked again, not taken as "absent".
	waitFor(t, 30*time.Second, "master "+m.addr()+" in the member list", func() bool {
		for _, x := range haMembers(url).Members {
			if strings.HasSuffix(x.Name, "-127.0.0.1-"+strconv.Itoa(m.n.port)) {
				id = x.ID
				return true
			}
		}
		return false
	})
	return id
}

// haLeader is the live master reporting master/elected=1, or nil.
func haLeader(ms []*haMaster) *haMaster {
	for _, m := range ms {
		if m.alive() && metric(m.n.url(), "master/elected") == 1 {
			return m
		}
	}
	return nil
}

func haWaitLeader(t testing.TB, ms []*haMaster) *haMaster {
	t.Helper()
	var l *haMaster
	waitFor(t, 30*time.Second, "a leader", func() bool { l = haLeader(ms); return l != nil })
	return l
}

type haApp struct {
	App struct {
		Instances    int   `json:"instances"`
		TasksRunning int   `json:"tasksRunning"`
		Deployments  []any `json:"deployments"`
		Tasks        []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"tasks"`
	} `json:"app"`
}

func haAppState(url, id string) (haApp, bool) {
	var a haApp
	code, b := haDo("GET", url+"/v2/apps/"+id+"?embed=app.tasks&embed=app.deployments", "")
	if code != 200 || json.Unmarshal(b, &a) != nil {
		return a, false
	}
	return a, true
}

// haWaitApp waits until the app has n running tasks and no deployment.
func haWaitApp(t testing.TB, ms []*haMaster, id string, n int, timeout time.Duration) haApp {
	t.Helper()
	var a haApp
	waitFor(t, timeout, fmt.Sprintf("app %s with %d running tasks and no deployment", id, n), func() bool {
		l := haLeader(ms)
		if l == nil {
			return false
		}
		var ok bool
		a, ok = haAppState(l.n.url(), id)
		return ok && a.App.TasksRunning == n && len(a.App.Deployments) == 0
	})
	return a
}

// haWrite sends a write (a scale of the probe app) to every live master
// until one accepts it; it returns how long that took.
func haWrite(t testing.TB, ms []*haMaster, instances int, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	body := fmt.Sprintf(`{"id":"/probe","cmd":"sleep 1","instances":%d,"cpus":0.01,"mem":1}`, instances)
	for time.Since(start) < timeout {
		for _, m := range ms {
			if !m.alive() {
				continue
			}
			if code, _ := haDo("PUT", m.n.url()+"/v2/apps/probe?force=true", body); code == 200 || code == 201 {
				return time.Since(start)
			}
		}
		time.Sleep(10 * time.Millisecond) // polling the survivors
	}
	t.Fatalf("no master accepted a write within %s", timeout)
	return 0
}

// haAgents starts n agents that join through the first master with a
// token: they know no other master, and talk HTTPS with their certificate.
func haAgents(t testing.TB, first *haMaster, n int) []*proc {
	tok := haToken(t, first, "agent")
	var out []*proc
	for range n {
		a := newNode(t)
		nodetest.Trust(nodetest.ClientConfigOf(first.n.dir), a.agentPort)
		out = append(out, start(t, a.args("agent", "--join", "https://"+first.addr(), "--token", tok, "--registration-backoff-factor", "100ms",
			"--resources", "cpus:4;mem:4096;disk:1024;ports:[31000-31999]")...))
	}
	return out
}

// TestHAMasters runs one cluster through the procedures of Mesos'
// operational guide (https://mesos.apache.org/documentation/latest/operational-guide/):
// three masters and two agents; kill -9 of the leader while an app scales
// (a new leader takes writes, agents follow without restart, the
// deployment completes, nothing runs twice, no acknowledged write is
// lost); grow 3 → 5 and shrink back with the app running; replace a
// killed master; a removed master that comes back is refused; kill two of
// three: the survivor refuses writes; --cluster-reset from it brings the
// cluster back with the app, and the others rejoin with --wipe-removed.
func TestHAMasters(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	m1 := haStartMaster(t, newNode(t))
	waitFor(t, 30*time.Second, "first master", func() bool { return healthy(m1.n.url()) })
	tok := haToken(t, m1, "master")
	join := haJoin(m1, tok)
	m2, m3 := haStartMaster(t, newNode(t), join...), haStartMaster(t, newNode(t), join...)
	haWaitVoters(t, m1.n.url(), 3)
	ms := []*haMaster{m1, m2, m3}
	agents := haAgents(t, m1, 2)
	leader := haWaitLeader(t, ms)
	haWaitRaftLeaderElsewhere(t, leader)
	waitFor(t, 30*time.Second, "2 active agents", func() bool {
		n := 0
		for _, s := range slaves(t, leader.n.url()) {
			if s.Active {
				n++
			}
		}
		return n == 2
	})
	agentIDs := haAgentIDs(t, leader.n.url())

	// An app at 2, scaled to 6; the leader dies right after acknowledging.
	secs := 7000 + rand.IntN(2000)
	cmdline := fmt.Sprintf("sleep %d", secs)
	t.Cleanup(func() {
		for _, p := range pidsOf(cmdline) {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	})
	app := fmt.Sprintf(`{"id":"/ha","cmd":%q,"instances":2,"cpus":0.1,"mem":16}`, cmdline)
	if code, b := haDo("POST", leader.n.url()+"/v2/apps", app); code != 201 {
		t.Fatalf("create app: %d %s", code, b)
	}
	haWaitApp(t, ms, "ha", 2, 30*time.Second)
	if code, b := haDo("PUT", leader.n.url()+"/v2/apps/ha", `{"instances":6}`); code != 200 {
		t.Fatalf("scale app: %d %s", code, b)
	}
	leader.p.kill(syscall.SIGKILL)
	// How fast is BenchmarkHAFailover's to measure (≤ 2 s); here, only that
	// a new leader takes writes.
	took := haWrite(t, ms, 0, 60*time.Second)
	t.Logf("leader failover: a new leader took a write %s after kill -9", took.Round(time.Millisecond))
	a := haWaitApp(t, ms, "ha", 6, 60*time.Second)
	if a.App.Instances != 6 {
		t.Errorf("instances %d after failover, want 6 (acknowledged scale lost)", a.App.Instances)
	}
	haNoTaskTwice(t, cmdline, a, 6)
	for i, p := range agents {
		select {
		case <-p.done:
			t.Fatalf("agent %d exited during failover:\n%s", i, p.out.String())
		default:
		}
	}
	newLeader := haWaitLeader(t, ms)
	// It took over the copy of the state it kept as a standby (standby.go)
	// instead of reading etcd, and still lost nothing (above).
	if m := metric(newLeader.n.url(), "master/state_from_standby"); m != 1 {
		t.Errorf("master/state_from_standby %v on the new leader, want 1 (took the state from its standby copy)", m)
	}
	t.Logf("the new leader got its state in %v ms", metric(newLeader.n.url(), "registrar/state_fetch_ms"))
	waitFor(t, 30*time.Second, "both agents re-registered with the new leader under their ids", func() bool {
		return haSameIDs(haAgentIDs(t, newLeader.n.url()), agentIDs)
	})
	// The UI on a standby: its pages and its /ui/api calls answer with the
	// leader's data themselves (no redirect a browser could not follow).
	haUIOnStandby(t, ms, newLeader)
	// The killed master comes back as a member with its data.
	old := leader
	old.p = start(t, old.n.args("master", haFlags...)...)
	haWaitVoters(t, newLeader.n.url(), 3)

	// Grow 3 → 5 and shrink back, with the app running.
	m4, m5 := haStartMaster(t, newNode(t), haJoin(newLeader, tok)...), haStartMaster(t, newNode(t), haJoin(newLeader, tok)...)
	ms = append(ms, m4, m5)
	haWaitVoters(t, newLeader.n.url(), 5)
	if m := metric(newLeader.n.url(), "master/etcd_members"); m != 5 {
		waitFor(t, 5*time.Second, "master/etcd_members 5", func() bool { return metric(newLeader.n.url(), "master/etcd_members") == 5 })
	}
	for _, m := range []*haMaster{m4, m5} {
		haCLI(t, 0, "master", "remove", "--work-dir", m1.n.dir, "--master", newLeader.addr(), haMemberID(t, newLeader.n.url(), m))
		waitFor(t, 20*time.Second, "removed master to exit", func() bool { return !m.alive() })
	}
	haWaitVoters(t, newLeader.n.url(), 3)
	haNoTaskTwice(t, cmdline, haWaitApp(t, ms, "ha", 6, 30*time.Second), 6)

	// A removed master that comes back with its data is refused.
	back := start(t, m4.n.args("master", haFlags...)...)
	select {
	case <-back.done:
	case <-time.After(30 * time.Second):
		t.Fatal("a removed master came back and kept running")
	}
	if !strings.Contains(back.out.String(), "removed from the cluster") {
		t.Errorf("removed master's refusal does not say why:\n%s", back.out.String())
	}

	// Replace a killed (standby) master with a new one.
	var victim *haMaster
	for _, m := range ms[:3] {
		if m.alive() && m != haLeader(ms) {
			victim = m
			break
		}
	}
	victim.p.kill(syscall.SIGKILL)
	l := haWaitLeader(t, ms)
	haCLI(t, 0, "master", "remove", "--work-dir", m1.n.dir, "--master", l.addr(), haMemberID(t, l.n.url(), victim))
	m6 := haStartMaster(t, newNode(t), haJoin(l, tok)...)
	ms = append(ms, m6)
	haWaitVoters(t, l.n.url(), 3)
	waitFor(t, 30*time.Second, "the new master's API", func() bool { return healthy(m6.n.url()) })
	out := haCLI(t, 0, "master", "list", "--work-dir", m1.n.dir, "--master", m6.addr())
	if strings.Count(out, " voter ") != 3 || !strings.Contains(out, ": healthy") {
		t.Errorf("master list:\n%s", out)
	}

	// Kill two of three: the survivor refuses writes.
	var live []*haMaster
	for _, m := range ms {
		if m.alive() {
			live = append(live, m)
		}
	}
	if len(live) != 3 {
		t.Fatalf("%d live masters, want 3", len(live))
	}
	survivor, dead := live[0], live[1:]
	for _, m := range dead {
		m.p.kill(syscall.SIGKILL)
	}
	waitFor(t, 15*time.Second, "survivor to report the quorum lost", func() bool {
		q := haMembers(survivor.n.url())
		return len(q.Members) == 3 && !q.Healthy && metric(survivor.n.url(), "master/etcd_quorum_healthy") == 0
	})
	var lastCode int
	var lastBody []byte
	waitFor(t, 15*time.Second, "survivor to answer writes with 503", func() bool {
		lastCode, lastBody = haDo("PUT", survivor.n.url()+"/v2/apps/probe?force=true", `{"instances":1}`)
		if lastCode != http.StatusServiceUnavailable {
			t.Logf("survivor answered a write: %d %s", lastCode, lastBody)
		}
		return lastCode == http.StatusServiceUnavailable
	})
	for range 3 {
		if code, b := haDo("PUT", survivor.n.url()+"/v2/apps/probe?force=true", `{"instances":1}`); code == 200 || code == 201 {
			t.Fatalf("survivor without quorum accepted a write: %d %s", code, b)
		}
	}

	// --cluster-reset from the survivor: back as one member with the app.
	survivor.p.kill(syscall.SIGTERM)
	survivor.p = start(t, survivor.n.args("master", append(append([]string{}, haFlags...), "--cluster-reset")...)...)
	haWaitVoters(t, survivor.n.url(), 1)
	haNoTaskTwice(t, cmdline, haWaitApp(t, []*haMaster{survivor}, "ha", 6, 60*time.Second), 6)
	// The others rejoin: their data is refused, so they wipe it and join.
	for _, m := range dead {
		m.p = start(t, m.n.args("master", append(append([]string{}, haFlags...), append([]string{"--wipe-removed"}, haJoin(survivor, tok)...)...)...)...)
	}
	haWaitVoters(t, survivor.n.url(), 3)
	haWrite(t, ms, 0, 10*time.Second)
}

// TestHAConcurrentJoins starts three masters joining one at the same
// moment: the joins queue (one learner at a time) and all become voters.
func TestHAConcurrentJoins(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	m1 := haStartMaster(t, newNode(t))
	waitFor(t, 30*time.Second, "first master", func() bool { return healthy(m1.n.url()) })
	tok := haToken(t, m1, "master")
	for range 3 {
		haStartMaster(t, newNode(t), haJoin(m1, tok)...)
	}
	q := haWaitVoters(t, m1.n.url(), 4)
	for _, x := range q.Members {
		if x.Learner {
			t.Errorf("member %s still a learner", x.Name)
		}
	}
}

// haNoTaskTwice checks that exactly n processes run the app's command and
// that the app lists n distinct running tasks.
func haNoTaskTwice(t *testing.T, cmdline string, a haApp, n int) {
	t.Helper()
	seen := map[string]bool{}
	for _, x := range a.App.Tasks {
		if seen[x.ID] {
			t.Errorf("task %s listed twice", x.ID)
		}
		seen[x.ID] = true
	}
	if len(seen) != n {
		t.Errorf("app lists %d tasks, want %d", len(seen), n)
	}
	// A task the agent just reported RUNNING may still be exec'ing its
	// command: wait for n, but more than n at any time is a double launch.
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := pidsOf(cmdline)
		if len(p) > n {
			t.Fatalf("%d processes run %q, want %d: a task runs twice", len(p), cmdline, n)
		}
		if len(p) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d processes run %q, want %d", len(p), cmdline, n)
		}
		time.Sleep(50 * time.Millisecond) // polling the process table
	}
}

func haAgentIDs(t *testing.T, url string) []string {
	var ids []string
	for _, s := range slaves(t, url) {
		if s.Active {
			ids = append(ids, s.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

func haSameIDs(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// haCLI runs a nodectl subcommand and checks its exit code.
func haCLI(t testing.TB, want int, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != want {
		t.Fatalf("nodectl %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, out.String())
	}
	return out.String()
}

// TestHASnapshotRestore saves a snapshot through the API, changes the
// state, and restores the snapshot into a new one-member cluster.
func TestHASnapshotRestore(t *testing.T) {
	n := newNode(t)
	m := haStartMaster(t, n, "--snapshot-interval", "300ms", "--snapshot-retention", "2")
	waitFor(t, 30*time.Second, "master", func() bool { return healthy(n.url()) })
	haWaitLeader(t, []*haMaster{m})
	if code, b := haDo("POST", n.url()+"/v2/apps", `{"id":"/kept","cmd":"sleep 1","instances":0,"cpus":0.1,"mem":16}`); code != 201 {
		t.Fatalf("create app: %d %s", code, b)
	}
	snap := filepath.Join(t.TempDir(), "s.db")
	out := haCLI(t, 0, "snapshot", "save", "--work-dir", n.dir, "--master", m.addr(), snap)
	if !strings.Contains(out, "verified") {
		t.Errorf("snapshot save: %s", out)
	}
	haCLI(t, 0, "snapshot", "verify", snap)
	if code, b := haDo("POST", n.url()+"/v2/apps", `{"id":"/later","cmd":"sleep 1","instances":0,"cpus":0.1,"mem":16}`); code != 201 {
		t.Fatalf("create app: %d %s", code, b)
	}
	// Scheduled snapshots land in the work dir, pruned to the retention.
	waitFor(t, 10*time.Second, "scheduled snapshots", func() bool {
		f, _ := filepath.Glob(filepath.Join(n.dir, "snapshots", "snapshot-*.db"))
		return len(f) == 2
	})
	m.p.kill(syscall.SIGKILL)
	m.p = start(t, n.args("master", append(append([]string{}, haFlags...), "--cluster-reset", "--restore", snap)...)...)
	waitFor(t, 30*time.Second, "restored master", func() bool { return healthy(n.url()) })
	haWaitLeader(t, []*haMaster{m})
	waitFor(t, 10*time.Second, "restored app", func() bool { code, _ := haDo("GET", n.url()+"/v2/apps/kept", ""); return code == 200 })
	if code, _ := haDo("GET", n.url()+"/v2/apps/later", ""); code != 404 {
		t.Errorf("app created after the snapshot: %d, want 404", code)
	}
	// A corrupt snapshot is refused.
	bad := filepath.Join(t.TempDir(), "bad.db")
	haCorrupt(t, snap, bad)
	if out := haCLI(t, 1, "snapshot", "verify", bad); !strings.Contains(out, "bad snapshot") {
		t.Errorf("verify of a corrupt snapshot: %s", out)
	}
}

func haCorrupt(t *testing.T, from, to string) {
	t.Helper()
	cmd := exec.Command("sh", "-c", fmt.Sprintf("cp %s %s && printf 'XXXX' | dd of=%s bs=1 seek=5000 conv=notrunc 2>/dev/null", from, to, to))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("corrupt: %v %s", err, out)
	}
}

// BenchmarkHAFailover kills the leader of three masters with kill -9,
// b.N times, and reports how long until another master accepts a write
// (p50 and p99 in ms). The killed master comes back with its data each
// time.
func BenchmarkHAFailover(b *testing.B) { haFailover(b, haFlags) }

// BenchmarkHAFailoverFittedLease is BenchmarkHAFailover on the default
// lease, fitted to the membership (no --leader-lease-ttl): the first
// master leads alone on the 60 s lease and moves to 3 s as the others join.
func BenchmarkHAFailoverFittedLease(b *testing.B) { haFailover(b, haFlagsFitted()) }

// haFlagsFitted is haFlags without --leader-lease-ttl.
func haFlagsFitted() []string {
	var flags []string
	for i := 0; i < len(haFlags); i += 2 {
		if haFlags[i] != "--leader-lease-ttl" {
			flags = append(flags, haFlags[i], haFlags[i+1])
		}
	}
	return flags
}

// haThree starts three masters with flags, the second and third joined
// through the first with a token, and waits for three healthy voters.
func haThree(t testing.TB, flags []string) []*haMaster {
	t.Helper()
	startMaster := func(n node, extra ...string) *haMaster {
		m := &haMaster{n: n}
		m.p = start(t, n.args("master", append(append([]string{}, flags...), extra...)...)...)
		return m
	}
	m1 := startMaster(newNode(t))
	waitFor(t, 30*time.Second, "first master", func() bool { return healthy(m1.n.url()) })
	tok := haToken(t, m1, "master")
	ms := []*haMaster{m1, startMaster(newNode(t), haJoin(m1, tok)...), startMaster(newNode(t), haJoin(m1, tok)...)}
	haWaitVoters(t, m1.n.url(), 3)
	return ms
}

func haFailover(b *testing.B, flags []string) {
	ms := haThree(b, flags)
	var took []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l := haWaitLeader(b, ms)
		haWrite(b, ms, i%2, 10*time.Second)
		l.p.kill(syscall.SIGKILL)
		took = append(took, float64(haWrite(b, ms, (i+1)%2, 10*time.Second).Milliseconds()))
		l.p = start(b, l.n.args("master", flags...)...)
		var other *haMaster
		for _, m := range ms {
			if m != l {
				other = m
			}
		}
		b.StopTimer()
		haWaitVoters(b, other.n.url(), 3)
		b.StartTimer()
	}
	sort.Float64s(took)
	b.ReportMetric(took[len(took)/2], "p50-ms")
	b.ReportMetric(took[min(len(took)-1, len(took)*99/100)], "p99-ms")
	b.ReportMetric(0, "ns/op")
	b.Logf("failover times (ms, sorted): %v", took)
}

// haUIOnStandby checks that a standby serves the UI and answers the UI's
// API calls with the leader's data, without redirecting the browser.
func haUIOnStandby(t *testing.T, ms []*haMaster, leader *haMaster) {
	t.Helper()
	var standby *haMaster
	for _, m := range ms {
		if m.alive() && m != leader {
			standby = m
		}
	}
	if standby == nil {
		t.Fatal("no live standby")
	}
	// A browser: it logs in on the standby (the session is kept in etcd,
	// so the leader knows it when the standby forwards the call with the
	// browser's cookie and nothing of its own).
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var secret []byte
	for _, m := range ms {
		if b, err := os.ReadFile(filepath.Join(m.n.dir, "admin.secret")); err == nil {
			secret = bytes.TrimSpace(b)
		}
	}
	login, _ := json.Marshal(map[string]string{"principal": "admin", "secret": string(secret)})
	resp, err := c.Post(standby.n.url()+"/auth/login", "application/json", bytes.NewReader(login))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("login on the standby: %v %v", err, resp)
	}
	resp.Body.Close()
	get := func(path string) (int, []byte) {
		resp, err := c.Get(standby.n.url() + path)
		if err != nil {
			return 0, []byte(err.Error())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, b := get("/"); code != 200 || !strings.Contains(string(b), "<html") {
		t.Fatalf("standby UI page: %d %.200s", code, b)
	}
	if code, _ := get("/v2/apps"); code != http.StatusTemporaryRedirect {
		t.Errorf("standby /v2/apps: %d, want a 307 to the leader", code)
	}
	code, b := get("/ui/api/v2/apps/ha")
	var app struct {
		App struct {
			ID        string `json:"id"`
			Instances int    `json:"instances"`
		} `json:"app"`
	}
	if err := json.Unmarshal(b, &app); code != 200 || err != nil || app.App.ID != "/ha" || app.App.Instances != 6 {
		t.Errorf("standby /ui/api/v2/apps/ha: %d %v %.300s, want the leader's /ha at 6", code, err, b)
	}
}
