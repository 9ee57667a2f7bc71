package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"nodectl/cluster/api"
	"nodectl/node/nodetest"
	"nodectl/node/nodetest/simagent"
)

// BenchmarkScale is issue 20's scale check (make bench-scale): three real
// masters (`nodectl up --role=master`, embedded etcd, default flags but
// --max-connections for the agents' connections and, beyond 2,000
// agents, a 10 s leader lease) and simulated agents (nodetest/simagent:
// the real agent's protocol with a runtime that does no work, each agent
// on its own connections) in separate processes at the lowest priority —
// this test binary started again with NODECTL_SCALE_SIM, each process
// running its share of the agents. For
// each size in NODECTL_SCALE_AGENTS (default "1000") it measures on a
// fresh cluster:
//
//   - the time until every agent is registered;
//   - launch throughput: a framework on the v1 scheduler HTTP API
//     (at most NODECTL_SCALE_MAX_IN_FLIGHT tasks on their way, lost ones
//     launched again) launches NODECTL_SCALE_LAUNCH (20,000) tasks into the offers, the
//     agents answer RUNNING then FINISHED, every update is acknowledged;
//     tasks/s from the REVIVE until the last FINISHED is acknowledged;
//   - NODECTL_SCALE_RUNNING_PER_AGENT (30) running tasks per agent, and the
//     leader's RSS (/proc/<pid>/status) before and with them;
//   - GET /state-summary on the leader, NODECTL_SCALE_SUMMARY_REQS (50)
//     requests one after another: p50/p99;
//   - kill -9 of the leader: the time until another master is elected and
//     until it accepts a write (PUT /v2/apps, as BenchmarkHAFailover), and
//     until every simulated agent has re-registered with it.
//
// The table goes to $NODECTL_BENCH_OUT/scale.md (and stdout); the
// masters' logs to $NODECTL_BENCH_OUT/scale-logs/. Only when
// NODECTL_SCALE=1.
func BenchmarkScale(b *testing.B) {
	if os.Getenv(scaleEnv) == "" {
		b.Skip("set NODECTL_SCALE=1 (make bench-scale)")
	}
	var sizes []int
	for _, f := range strings.Fields(os.Getenv("NODECTL_SCALE_AGENTS")) {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			b.Fatalf("NODECTL_SCALE_AGENTS: %q is not a number of agents", f)
		}
		sizes = append(sizes, n)
	}
	if len(sizes) == 0 {
		sizes = []int{1000}
	}
	rep := &scaleReport{Started: time.Now().UTC(), Machine: machine(), LoadBefore: loadAvg()}
	defer func() {
		rep.LoadAfter = loadAvg()
		md := rep.markdown()
		fmt.Println(md)
		if dir := os.Getenv("NODECTL_BENCH_OUT"); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Error(err)
			} else if err := os.WriteFile(filepath.Join(dir, "scale.md"), []byte(md), 0o644); err != nil {
				b.Error(err)
			} else if js, err := json.MarshalIndent(rep, "", "  "); err != nil {
				b.Error(err)
			} else if err := os.WriteFile(filepath.Join(dir, "scale.json"), append(js, '\n'), 0o644); err != nil {
				b.Error(err) // make bench's table reads it (benchScaleRows)
			}
		}
	}()
	for i, n := range sizes {
		r := &scaleResult{Agents: n}
		rep.Results = append(rep.Results, r)
		// The apps listing is measured once, on the first size.
		if i == 0 {
			r.Apps = envInt("NODECTL_SCALE_APPS", 10000)
		}
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) { scaleRun(b, r) })
	}
}

const (
	scaleEnv = "NODECTL_SCALE"
	// scaleSimEnv makes the test binary a simulator process (TestMain):
	// its value is a JSON simConfig.
	scaleSimEnv = "NODECTL_SCALE_SIM"
)

// scaleResult is what one size measured; zero values were not reached.
type scaleResult struct {
	Agents, Procs                    int
	Register                         time.Duration
	LaunchTasks                      int
	Launch                           time.Duration
	RunningTasks                     int
	Running                          time.Duration
	RSSBaseKB, RSSIdleKB             int64
	RSSRunningKB, HWMKB, SimRSSKB    int64
	AnonRunningKB, FileRunningKB     int64 // RssAnon, RssFile (the etcd database's mapped pages)
	DBBytes                          int64 // the leader's etcd database file
	LeaderFDs                        int
	SummaryN, SummaryBytes           int
	SummaryP50, SummaryP99           time.Duration
	Elected, Write, FirstRe, AllRe   time.Duration
	Reregistered                     int
	RunningAfter                     float64
	LeaderCPUIdle, LeaderCPURunning  time.Duration // the leader's CPU time at those points
	Apps                             int           // apps of one task each made through /v2/apps (0: not measured)
	AppsCreate, AppsRunning          time.Duration // all created; all of their tasks running
	AppsListN, AppsListBytes         int
	AppsListP50, AppsListP99         time.Duration // GET /v2/apps
	Notes                            []string
	failoverDone, runningAfterDone   bool
	summaryDone, launchDone, runDone bool
}

func (r *scaleResult) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// noteEnded notes the registrations that ended between two of the
// fleet's sums (each agent then registers again), by cause.
func (r *scaleResult) noteEnded(phase string, before, after simReport) {
	refused, unanswered := after.StreamRefused-before.StreamRefused, after.StreamUnanswered-before.StreamUnanswered
	broken := after.StreamBroken - before.StreamBroken
	pRefused, pUnanswered, pGaveUp := after.PingRefused-before.PingRefused, after.PingUnanswered-before.PingUnanswered, after.PingGaveUp-before.PingGaveUp
	if refused+unanswered+broken+pRefused+pUnanswered+pGaveUp > 0 {
		r.note("%s: registrations ended (the agent registers again): stream not opened %d (refused) + %d (unanswered), stream broken %d, ping refused %d, ping unanswered (refused connection) %d, pings busy for two intervals %d",
			phase, refused, unanswered, broken, pRefused, pUnanswered, pGaveUp)
	}
}

// scaleRun measures one size on a fresh cluster.
func scaleRun(b *testing.B, r *scaleResult) {
	n := r.Agents
	launch := envInt("NODECTL_SCALE_LAUNCH", 20000)
	perAgent := 30 // 0 leaves the agents without running tasks
	if v, err := strconv.Atoi(os.Getenv("NODECTL_SCALE_RUNNING_PER_AGENT")); err == nil && v >= 0 {
		perAgent = v
	}
	perProc := envInt("NODECTL_SCALE_AGENTS_PER_PROC", 1000)
	summaryReqs := envInt("NODECTL_SCALE_SUMMARY_REQS", 50)
	resources := os.Getenv("NODECTL_SCALE_AGENT_RESOURCES")
	if resources == "" {
		resources = "cpus:16;mem:65536"
	}
	backoff := time.Second // the real agent's default registration_backoff_factor
	if d, err := time.ParseDuration(os.Getenv("NODECTL_SCALE_BACKOFF")); err == nil && d > 0 {
		backoff = d
	}
	// Every agent holds one HTTP/2 connection to the leader (two to a
	// master that speaks only HTTP/1.1: its stream and one for requests)
	// and may hold some to the standbys: room for two each. The masters
	// and the simulators inherit this limit.
	need := uint64(2*n + 1024)
	lim, err := simagent.RaiseFileLimit(need)
	if err != nil || lim < need {
		r.note("RLIMIT_NOFILE: %d open files at most (%v), and the hard limit cannot be raised here (no CAP_SYS_RESOURCE?); the leader needs up to 2 per agent, %d in all", lim, err, need)
	}
	// The masters' ports take as many connections as the agents hold
	// (--max-connections), within the open-files limit less what etcd
	// and the rest of a master keep open.
	var connFlags []string
	if conns := min(int(need), int(lim)-512); conns > 4096 {
		connFlags = []string{fmt.Sprintf("--max-connections=%d", conns)}
		r.note("masters started with %s (the default, 4,096, is for ~2,000 agents)", connFlags[0])
	}
	// Beyond ~2,000 agents on this machine the leader, its etcd and the
	// simulators share two cores, and the 3 s lease a multi-master cluster
	// gets by default lapsed during a launch burst (keep-alives late): the
	// masters get Mesos' own 10 s (its --zk_session_timeout). A killed
	// leader is still replaced at once: a standby whose dials of it are
	// refused revokes its lease (failover.go).
	if n > 2000 {
		connFlags = append(connFlags, "--leader-lease-ttl=10s")
		r.note("masters started with --leader-lease-ttl=10s (Mesos' --zk_session_timeout; the default for several masters is 3 s)")
	}
	logDir := filepath.Join(b.TempDir(), "logs")
	if out := os.Getenv("NODECTL_BENCH_OUT"); out != "" {
		logDir = filepath.Join(out, "scale-logs", fmt.Sprintf("agents-%d", n))
		_ = os.RemoveAll(logDir)
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		b.Fatal(err)
	}

	m1 := scaleMaster(b, newNode(b), filepath.Join(logDir, "master1.log"), connFlags...)
	waitFor(b, 60*time.Second, "first master", func() bool { return healthy(m1.n.url()) })
	tok := haToken(b, m1, "master")
	ms := []*haMaster{m1,
		scaleMaster(b, newNode(b), filepath.Join(logDir, "master2.log"), append(haJoin(m1, tok), connFlags...)...),
		scaleMaster(b, newNode(b), filepath.Join(logDir, "master3.log"), append(haJoin(m1, tok), connFlags...)...)}
	haWaitVoters(b, m1.n.url(), 3)
	leader := haWaitLeader(b, ms)
	agentTok, err := nodetest.AgentToken(m1.n.url())
	if err != nil {
		b.Fatalf("agent token: %v", err)
	}
	var masters []string
	for _, m := range ms {
		masters = append(masters, m.addr())
	}

	r.RSSBaseKB = procStatusKB(leader.p.cmd.Process.Pid, "VmRSS")

	// The simulators.
	procs := max(min(2, n), (n+perProc-1)/perProc)
	r.Procs = procs
	start := time.Now()
	scaleLog("3 masters up; starting %d simulated agents in %d processes", n, procs)
	fleet := startFleet(b, procs, simConfig{Masters: masters, JoinURL: m1.n.url(), Token: agentTok, Count: n,
		Resources: resources, Backoff: backoff, Deadline: time.Now().Add(3 * time.Hour)})
	var leaderID string
	if !fleet.wait(b, "agents registered", 60*time.Second+time.Duration(n)*30*time.Millisecond, 90*time.Second, func(s simReport) (bool, int) {
		id, k := s.top()
		leaderID = id
		return k == n, k
	}) {
		s := fleet.sum()
		_, k := s.top()
		r.note("registration stalled: %d of %d agents registered after %s; the leader has %d open files (each agent holds 2 connections to it, and its port takes at most defaultServerLimits.MaxConns at once, node/shed.go); attempts not admitted: %d answered 503, %d refused otherwise, %d unanswered",
			k, n, time.Since(start).Round(time.Second), openFDs(leader.p.cmd.Process.Pid), s.RegBusy, s.RegRefused, s.RegUnanswered)
		for i, p := range fleet.procs {
			b.Logf("simulator %d's stderr: %s", i, p.stderr.String())
		}
		b.Fatalf("%s", r.Notes[len(r.Notes)-1])
	}
	r.Register = time.Since(start)
	regFails := fleet.sum()
	if regFails.RegBusy+regFails.RegRefused+regFails.RegUnanswered > 0 {
		r.note("registration: %d attempts answered 503, %d refused otherwise, %d unanswered (each agent retries with backoff)", regFails.RegBusy, regFails.RegRefused, regFails.RegUnanswered)
	}
	r.noteEnded("registration", simReport{}, regFails)
	scaleLog("%d agents registered in %s (%d processes)", n, r.Register.Round(time.Millisecond), procs)
	leader = haWaitLeader(b, ms)
	pid := leader.p.cmd.Process.Pid
	r.RSSIdleKB = procStatusKB(pid, "VmRSS")
	r.LeaderCPUIdle = procCPU(pid)

	// Launch throughput.
	tr := nodetest.Transport()
	tr.MaxIdleConnsPerHost = 64
	client := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	// The framework keeps at most NODECTL_SCALE_MAX_IN_FLIGHT (30,000)
	// tasks launched and not yet FINISHED or RUNNING, as Marathon paces
	// its launches: 300,000 launched into one round of offers at 10,000
	// agents overran the framework's own event queue on the master.
	maxInFlight := envInt("NODECTL_SCALE_MAX_IN_FLIGHT", 30000)
	fw, err := simagent.Subscribe(ctx, simagent.FrameworkConfig{Master: leader.n.url(), Client: client, Name: "scale", MaxInFlight: maxInFlight})
	if err != nil {
		b.Fatal(err)
	}
	fwClosed := false
	closeFw := func() {
		if !fwClosed {
			fwClosed = true
			fw.Close()
			tr.CloseIdleConnections()
		}
	}
	defer closeFw()
	lctx, lcancel := context.WithTimeout(ctx, 2*time.Minute+time.Duration(launch)*5*time.Millisecond)
	r.LaunchTasks = launch
	stopProgress := phaseProgress(fw, "tasks finished")
	launchBefore := fleet.sum()
	r.Launch, err = fw.Launch(lctx, launch, "true", api.TaskFinished, (launch+n-1)/n)
	stopProgress()
	lcancel()
	r.noteEnded("launch", launchBefore, fleet.sum())
	if k := fw.Lost(); k > 0 {
		r.note("launch: %d tasks lost (their agent re-registered without them) and launched again, as Marathon would", k)
	}
	if k := fw.Unlaunched(); k > 0 {
		r.note("launch: %d tasks were in ACCEPT calls that failed (below) and were launched again", k)
	}
	if err != nil {
		r.note("launch throughput: %v", err)
		b.Fatalf("launch: %v", err)
	}
	r.launchDone = true
	scaleLog("%d tasks finished and acknowledged in %s: %.0f tasks/s", launch, r.Launch.Round(time.Millisecond), float64(launch)/r.Launch.Seconds())

	// Running tasks.
	running := n * perAgent
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Minute+time.Duration(running)*5*time.Millisecond)
	r.RunningTasks = running
	stopProgress = phaseProgress(fw, "tasks running")
	runBefore := fleet.sum()
	r.Running, err = fw.Launch(rctx, running, "sleep 3600", api.TaskRunning, perAgent)
	stopProgress()
	rcancel()
	r.noteEnded("running tasks", runBefore, fleet.sum())
	if k := fw.Lost(); k > 0 {
		r.note("running tasks: %d tasks lost (their agent re-registered without them) and launched again, as Marathon would", k)
	}
	if k := fw.Unlaunched(); k > 0 {
		r.note("running tasks: %d tasks were in ACCEPT calls that failed (below) and were launched again", k)
	}
	if err != nil {
		r.note("running tasks: %v", err)
		b.Fatalf("running tasks: %v", err)
	}
	r.runDone = true
	scaleLog("%d tasks running in %s", running, r.Running.Round(time.Millisecond))
	if s := fleet.sum(); s.Live != running || s.Launches != int64(launch+running) {
		r.note("the agents got %d launches and run %d tasks, want %d and %d", s.Launches, s.Live, launch+running, running)
	}
	for _, p := range fleet.procs {
		r.SimRSSKB += procStatusKB(p.cmd.Process.Pid, "VmRSS")
	}
	r.RSSRunningKB = procStatusKB(pid, "VmRSS")
	r.HWMKB = procStatusKB(pid, "VmHWM")
	r.AnonRunningKB, r.FileRunningKB = procStatusKB(pid, "RssAnon"), procStatusKB(pid, "RssFile")
	r.DBBytes = etcdDBBytes(leader.n.dir)
	r.LeaderFDs = openFDs(pid)
	r.LeaderCPURunning = procCPU(pid)
	if k, first := fw.CallErrors(); k > 0 {
		r.note("%d scheduler calls refused, the first: %s", k, first)
	}

	// GET /state-summary.
	admin := nodetest.Client(2 * time.Minute)
	var lat []time.Duration
	for range summaryReqs {
		t0 := time.Now()
		resp, err := admin.Get(leader.n.url() + "/state-summary")
		if err != nil {
			r.note("state-summary: %v", err)
			break
		}
		nb, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			r.note("state-summary: %s", resp.Status)
			break
		}
		lat = append(lat, time.Since(t0))
		r.SummaryBytes = int(nb)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		r.SummaryN, r.SummaryP50, r.SummaryP99 = len(lat), lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
		r.summaryDone = true
	}
	closeFw()

	scaleLog("GET /state-summary: p50 %s, p99 %s (%d requests)", r.SummaryP50, r.SummaryP99, r.SummaryN)

	// Failover.
	// The leader may be too busy to answer haLeader's polls (at 10,000
	// agents and 300,000 tasks it did not within a minute): only a master
	// that answers it leads counts as a change.
	if l := haLeader(ms); l != nil && l != leader {
		r.note("the leader changed during the run (before the failover)")
		leader = l
	}
	leaderID, _ = fleet.sum().top()
	scaleFailover(b, r, ms, leader, leaderID, fleet, running)
	if l := haLeader(ms); r.Apps > 0 && l != nil {
		scaleApps(b, r, l)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(launch)/r.Launch.Seconds(), "tasks/s")
	b.ReportMetric(float64(r.RSSRunningKB)/1024, "leader-MiB")
	b.ReportMetric(float64(r.SummaryP99.Microseconds())/1000, "summary-p99-ms")
	b.ReportMetric(r.Write.Seconds(), "failover-s")
	b.ReportMetric(r.AllRe.Seconds(), "reregistered-s")
}

// scaleApps is the listing at scale: r.Apps apps of one `sleep` task
// each made through the built-in Marathon's POST /v2/apps on leader l (16
// at a time), their tasks running on the simulated agents, then GET
// /v2/apps (Marathon's default answer: every app with its task counts)
// NODECTL_SCALE_SUMMARY_REQS times one after another: p50 and p99.
func scaleApps(b *testing.B, r *scaleResult, l *haMaster) {
	n := r.Apps
	admin := nodetest.Client(2 * time.Minute)
	do := func(method, path, body string) (int, []byte, error) {
		req, err := http.NewRequest(method, l.n.url()+path, strings.NewReader(body))
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := admin.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		return resp.StatusCode, out, err
	}
	base := int(metric(l.n.url(), "master/tasks_running"))
	if base < 0 {
		r.note("apps: the leader's metrics did not answer")
		return
	}
	scaleLog("creating %d apps of one task each through /v2/apps", n)
	t0 := time.Now()
	next := make(chan int)
	var failed atomic.Pointer[string]
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range next {
				body := fmt.Sprintf(`{"id":"/scale/a%05d","cmd":"sleep 3600","instances":1,"cpus":0.01,"mem":1,"portDefinitions":[]}`, i)
				// A leader shedding load answers 503 or 429: again, as
				// a Marathon client would.
				ok := pollUntil(time.Minute, func() bool {
					code, out, err := do("POST", "/v2/apps", body)
					if err == nil && code != http.StatusCreated && code != http.StatusServiceUnavailable && code != http.StatusTooManyRequests {
						msg := fmt.Sprintf("POST /v2/apps %d: %s", code, bytes.TrimSpace(out))
						failed.CompareAndSwap(nil, &msg)
						return true
					}
					return err == nil && code == http.StatusCreated
				})
				if !ok {
					msg := fmt.Sprintf("POST /v2/apps of app %d not taken in a minute", i)
					failed.CompareAndSwap(nil, &msg)
				}
			}
		})
	}
	for i := range n {
		if failed.Load() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if msg := failed.Load(); msg != nil {
		r.note("apps: %s", *msg)
		return
	}
	r.AppsCreate = time.Since(t0)
	// Every app's task running: the leader's count of running tasks
	// (master/tasks_running, the other framework's included) reaches
	// theirs plus n.
	want := float64(base + n)
	running := float64(0)
	if !pollUntil(5*time.Minute+time.Duration(n)*10*time.Millisecond, func() bool {
		running = metric(l.n.url(), "master/tasks_running")
		return running == want
	}) {
		r.note("apps: %.0f tasks running after %s, want %.0f", running, time.Since(t0).Round(time.Second), want)
		return
	}
	r.AppsRunning = time.Since(t0)
	scaleLog("%d apps created in %s, all running after %s", n, r.AppsCreate.Round(time.Millisecond), r.AppsRunning.Round(time.Millisecond))
	var lat []time.Duration
	for range envInt("NODECTL_SCALE_SUMMARY_REQS", 50) {
		t1 := time.Now()
		code, out, err := do("GET", "/v2/apps", "")
		if err != nil || code != http.StatusOK {
			r.note("apps: GET /v2/apps: %d %v", code, err)
			return
		}
		lat = append(lat, time.Since(t1))
		r.AppsListBytes = len(out)
	}
	slowest := 0
	for i, d := range lat {
		if d > lat[slowest] {
			slowest = i
		}
	}
	r.note("apps: the slowest GET /v2/apps was the %s of %d (%s)", ordinal(slowest+1), len(lat), lat[slowest].Round(time.Millisecond))
	slices.Sort(lat)
	r.AppsListN, r.AppsListP50, r.AppsListP99 = len(lat), lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
	scaleLog("GET /v2/apps with %d apps: p50 %s, p99 %s", n, r.AppsListP50, r.AppsListP99)
}

// phaseProgress logs a launch phase's progress every 10 s until stopped.
func phaseProgress(fw *simagent.Framework, what string) (stop func()) {
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				launched, reached := fw.Progress()
				scaleLog("%s: %d (%d launched)", what, reached, launched)
			}
		}
	}()
	return func() { close(done); <-ended }
}

// scaleLog writes a progress line to stderr at once (a benchmark's own
// log is printed only when it ends).
func scaleLog(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench-scale: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// scaleFailover kills the leader with kill -9 and times the survivors.
func scaleFailover(b *testing.B, r *scaleResult, ms []*haMaster, leader *haMaster, oldID string, fleet *simFleet, running int) {
	n := r.Agents
	var survivors []*haMaster
	for _, m := range ms {
		if m != leader {
			survivors = append(survivors, m)
		}
	}
	deadline := 2*time.Minute + time.Duration(n)*10*time.Millisecond
	before := fleet.sum()
	t0 := time.Now()
	leader.p.kill(syscall.SIGKILL)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // elected
		defer wg.Done()
		pollUntil(deadline, func() bool {
			for _, m := range survivors {
				if metric(m.n.url(), "master/elected") == 1 {
					r.Elected = time.Since(t0)
					return true
				}
			}
			return false
		})
	}()
	go func() { // accepts a write
		defer wg.Done()
		body := `{"id":"/scale-probe","cmd":"sleep 1","instances":0,"cpus":0.01,"mem":1}`
		pollUntil(deadline, func() bool {
			for _, m := range survivors {
				if code, _ := haDo("PUT", m.n.url()+"/v2/apps/scale-probe?force=true", body); code == 200 || code == 201 {
					r.Write = time.Since(t0)
					return true
				}
			}
			return false
		})
	}()
	ok := fleet.wait(b, "agents re-registered", deadline, deadline, func(s simReport) (bool, int) {
		k := 0
		for id, c := range s.By {
			if id != oldID {
				k = max(k, c)
			}
		}
		if k > 0 && r.FirstRe == 0 {
			r.FirstRe = time.Since(t0)
		}
		r.Reregistered = k
		return k == n, k
	})
	if ok {
		r.AllRe = time.Since(t0)
	} else {
		r.note("failover: %d of %d agents re-registered after %s", r.Reregistered, n, deadline)
	}
	wg.Wait()
	r.failoverDone = true
	after := fleet.sum()
	r.note("failover: re-registration attempts not admitted: %d answered 503 (no leader yet, or busy), %d refused otherwise, %d unanswered (the dead leader, timeouts)",
		after.RegBusy-before.RegBusy, after.RegRefused-before.RegRefused, after.RegUnanswered-before.RegUnanswered)
	r.noteEnded("failover", before, after)
	l := haLeader(survivors)
	if l == nil {
		r.note("failover: no leader among the survivors")
		return
	}
	pollUntil(time.Minute, func() bool {
		r.RunningAfter = metric(l.n.url(), "master/tasks_running")
		return r.RunningAfter == float64(running)
	})
	r.runningAfterDone = true
	if r.RunningAfter != float64(running) {
		r.note("failover: the new leader counts %.0f running tasks, want %d", r.RunningAfter, running)
	}
	scaleLog("failover: elected %s, write %s, first agent %s, all agents %s", r.Elected, r.Write, r.FirstRe, r.AllRe)
}

// scaleMaster starts a master whose output goes to logPath.
func scaleMaster(b *testing.B, n node, logPath string, extra ...string) *haMaster {
	b.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	args := n.args("master", extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	p := &proc{t: b, cmd: cmd, out: &bytes.Buffer{}, args: args, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		f.Close()
		b.Fatalf("start nodectl: %v", err)
	}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	b.Cleanup(func() {
		p.kill(syscall.SIGKILL)
		if b.Failed() {
			b.Logf("master log: %s", logPath)
		}
	})
	return &haMaster{n: n, p: p}
}

// simConfig configures one simulator process.
type simConfig struct {
	Masters   []string      `json:"masters"`  // host:port of every master
	JoinURL   string        `json:"join_url"` // a master to join through
	Token     string        `json:"token"`    // an agent token
	Dir       string        `json:"dir"`      // for the agent key and certificate
	Proc      int           `json:"proc"`
	First     int           `json:"first"` // index of its first agent
	Count     int           `json:"count"` // its agents
	Resources string        `json:"resources"`
	Backoff   time.Duration `json:"backoff"`
	Deadline  time.Time     `json:"deadline"` // it exits then at the latest
}

// simReport is a simulator's state, a JSON line on its stdout every
// simReportEvery.
type simReport struct {
	Agents        int            `json:"agents"`
	By            map[string]int `json:"by"` // master id → agents registered with it and connected
	Registrations int64          `json:"registrations"`
	Launches      int64          `json:"launches"`
	Acks          int64          `json:"acks"`
	Live          int            `json:"live"`
	// Registration attempts not admitted (simagent.Stats).
	RegBusy       int64 `json:"reg_busy"`
	RegRefused    int64 `json:"reg_refused"`
	RegUnanswered int64 `json:"reg_unanswered"`
	// Registrations that ended (simagent.Stats).
	StreamRefused    int64 `json:"stream_refused"`
	StreamUnanswered int64 `json:"stream_unanswered"`
	StreamBroken     int64 `json:"stream_broken"`
	PingRefused      int64 `json:"ping_refused"`
	PingUnanswered   int64 `json:"ping_unanswered"`
	PingGaveUp       int64 `json:"ping_gave_up"`
}

const simReportEvery = 100 * time.Millisecond

// top is the master most agents are registered with, and their number.
func (s simReport) top() (string, int) {
	id, k := "", 0
	for m, c := range s.By {
		if c > k {
			id, k = m, c
		}
	}
	return id, k
}

// runSimulator is a simulator process: it joins the cluster as an agent
// once, runs its agents, and reports until its stdin closes (the
// benchmark ended or died) or its deadline passes.
func runSimulator(raw string) int {
	var cfg simConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "simulator config:", err)
		return 2
	}
	if _, err := simagent.RaiseFileLimit(uint64(6*cfg.Count + 1024)); err != nil {
		fmt.Fprintln(os.Stderr, "simulator:", err)
	}
	ctx, cancel := context.WithDeadline(context.Background(), cfg.Deadline)
	defer cancel()
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	var tlsConf *tls.Config
	for {
		jctx, jcancel := context.WithTimeout(ctx, time.Minute)
		var err error
		tlsConf, err = simagent.JoinTLS(jctx, cfg.JoinURL, cfg.Token, cfg.Dir, fmt.Sprintf("simagents-%d", cfg.Proc))
		jcancel()
		if err == nil {
			break
		}
		fmt.Fprintln(os.Stderr, "simulator:", err)
		select {
		case <-ctx.Done():
			return 1
		case <-time.After(time.Second): // join retry pace
		}
	}
	res, err := api.ParseResources(cfg.Resources)
	if err != nil {
		fmt.Fprintln(os.Stderr, "simulator resources:", err)
		return 2
	}
	agents := make([]*simagent.Agent, cfg.Count)
	var wg sync.WaitGroup
	for i := range agents {
		g := cfg.First + i
		a := simagent.New(simagent.Config{Masters: cfg.Masters, TLS: tlsConf, Hostname: fmt.Sprintf("sim%05d", g), Port: 20000 + g%40000,
			Resources: res, BackoffFactor: cfg.Backoff})
		agents[i] = a
		wg.Add(1)
		go func() { defer wg.Done(); a.Run(ctx) }()
	}
	out := bufio.NewWriter(os.Stdout)
	tick := time.NewTicker(simReportEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second): // the agents' goroutines end with their connections
			}
			return 0
		case <-tick.C:
		}
		rep := simReport{Agents: len(agents), By: map[string]int{}}
		for _, a := range agents {
			s := a.Stats()
			if s.MasterID != "" {
				rep.By[s.MasterID]++
			}
			rep.Registrations += s.Registrations
			rep.Launches += s.Launches
			rep.Acks += s.Acks
			rep.Live += s.Live
			rep.RegBusy += s.RegisterBusy
			rep.RegRefused += s.RegisterRefused
			rep.RegUnanswered += s.RegisterUnanswered
			rep.StreamRefused += s.StreamRefused
			rep.StreamUnanswered += s.StreamUnanswered
			rep.StreamBroken += s.StreamBroken
			rep.PingRefused += s.PingRefused
			rep.PingUnanswered += s.PingUnanswered
			rep.PingGaveUp += s.PingGaveUp
		}
		line, _ := json.Marshal(rep)
		_, _ = out.Write(append(line, '\n'))
		if out.Flush() != nil {
			return 0 // the benchmark is gone
		}
	}
}

// simFleet is the simulator processes of one run.
type simFleet struct {
	procs []*simProc
}

type simProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *tailBuffer
	done   chan struct{}

	mu   sync.Mutex // guards last and seen
	last simReport
	seen bool
}

// startFleet starts procs simulators sharing cfg.Count agents.
func startFleet(b *testing.B, procs int, cfg simConfig) *simFleet {
	b.Helper()
	f := &simFleet{}
	dirs := make([]string, procs)
	for i := range dirs {
		dirs[i] = b.TempDir()
	}
	b.Cleanup(f.stop) // before the directories go
	total := cfg.Count
	for i := range procs {
		c := cfg
		c.Proc, c.First = i, i*total/procs
		c.Count = (i+1)*total/procs - c.First
		c.Dir = dirs[i]
		raw, _ := json.Marshal(c)
		// The simulated agents stand for other machines: on this one they
		// run at the lowest priority (nice 19), below the masters, so that
		// what the table measures is the masters' work, not the CPU the
		// simulators take from them.
		cmd := exec.Command("nice", "-n", "19", os.Args[0])
		cmd.Env = append(os.Environ(), scaleSimEnv+"="+string(raw))
		p := &simProc{cmd: cmd, stderr: &tailBuffer{max: 16 << 10}, done: make(chan struct{})}
		cmd.Stderr = p.stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if p.stdin, err = cmd.StdinPipe(); err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatalf("start simulator: %v", err)
		}
		f.procs = append(f.procs, p)
		go func() {
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
			for sc.Scan() {
				var rep simReport
				if json.Unmarshal(sc.Bytes(), &rep) == nil {
					p.mu.Lock()
					p.last, p.seen = rep, true
					p.mu.Unlock()
				}
			}
			_ = cmd.Wait()
			close(p.done)
		}()
	}
	return f
}

// stop closes the simulators' stdin, which ends them, and kills those
// still running after a grace period.
func (f *simFleet) stop() {
	for _, p := range f.procs {
		_ = p.stdin.Close()
	}
	for _, p := range f.procs {
		select {
		case <-p.done:
		case <-time.After(10 * time.Second): // their agents' connections close
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// sum adds up the simulators' latest reports.
func (f *simFleet) sum() simReport {
	s := simReport{By: map[string]int{}}
	for _, p := range f.procs {
		p.mu.Lock()
		r := p.last
		p.mu.Unlock()
		s.Agents += r.Agents
		for id, k := range r.By {
			s.By[id] += k
		}
		s.Registrations += r.Registrations
		s.Launches += r.Launches
		s.Acks += r.Acks
		s.Live += r.Live
		s.RegBusy += r.RegBusy
		s.RegRefused += r.RegRefused
		s.RegUnanswered += r.RegUnanswered
		s.StreamRefused += r.StreamRefused
		s.StreamUnanswered += r.StreamUnanswered
		s.StreamBroken += r.StreamBroken
		s.PingRefused += r.PingRefused
		s.PingUnanswered += r.PingUnanswered
		s.PingGaveUp += r.PingGaveUp
	}
	return s
}

// exited is a simulator that ended, with its last words.
func (f *simFleet) exited() (bool, string) {
	for i, p := range f.procs {
		select {
		case <-p.done:
			return true, fmt.Sprintf("simulator %d exited (%v): %s", i, p.cmd.ProcessState, p.stderr.String())
		default:
		}
	}
	return false, ""
}

// wait polls the summed reports until cond holds (true), timeout passes
// or the progress cond reports has not grown for stall (false). A
// simulator that exits fails the benchmark.
func (f *simFleet) wait(b *testing.B, what string, timeout, stall time.Duration, cond func(simReport) (bool, int)) bool {
	b.Helper()
	deadline := time.Now().Add(timeout)
	best, bestAt := -1, time.Now()
	said := time.Now()
	tick := time.NewTicker(simReportEvery / 2) // the reports' pace
	defer tick.Stop()
	for {
		if gone, why := f.exited(); gone {
			b.Fatal(why)
		}
		ok, progress := cond(f.sum())
		if ok {
			return true
		}
		if progress > best {
			best, bestAt = progress, time.Now()
		}
		if time.Since(said) > 10*time.Second {
			scaleLog("%s: %d so far", what, progress)
			said = time.Now()
		}
		if time.Now().After(deadline) || time.Since(bestAt) > stall {
			return false
		}
		<-tick.C
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// procStatusKB is a kB field of /proc/<pid>/status (VmRSS, VmHWM).
func procStatusKB(pid int, field string) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}

// etcdDBBytes is the size of a master's etcd database (bbolt, under
// its work dir's etcd member): its pages are mapped, and those touched
// count in the RSS.
func etcdDBBytes(dir string) int64 {
	fi, err := os.Stat(filepath.Join(dir, "etcd", "member", "snap", "db"))
	if err != nil {
		return 0
	}
	return fi.Size()
}

// procCPU is the user+system CPU time of pid so far (/proc/<pid>/stat).
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ, 100 on Linux
}

// openFDs counts pid's open file descriptors.
func openFDs(pid int) int {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}

// scaleReport is the table of make bench-scale.
type scaleReport struct {
	Started               time.Time
	Machine               string
	LoadBefore, LoadAfter string
	Results               []*scaleResult
}

func (rep *scaleReport) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Scale: simulated agents against three masters\n\n")
	fmt.Fprintf(&b, "- started %s; `make bench-scale` (BenchmarkScale, node/e2e/scale_bench_test.go)\n", rep.Started.Format(time.RFC3339))
	fmt.Fprintf(&b, "- machine: %s\n- uptime before: %s\n- uptime after: %s\n", rep.Machine, rep.LoadBefore, rep.LoadAfter)
	fmt.Fprintf(&b, "- three `nodectl up --role=master` processes (embedded etcd, default flags but those noted below) on 127.0.0.1; simulated agents (node/nodetest/simagent) in separate processes at nice 19, each agent on its own TLS connections with one agent certificate per process, registering with the real agent's backoff (%s)\n\n", envOr("NODECTL_SCALE_BACKOFF", "1s"))
	b.WriteString("| figure | goal |")
	for _, r := range rep.Results {
		fmt.Fprintf(&b, " %s agents |", group(r.Agents))
	}
	b.WriteString("\n|---|---|")
	for range rep.Results {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	row := func(figure, goal string, cell func(r *scaleResult) string) {
		fmt.Fprintf(&b, "| %s | %s |", figure, goal)
		for _, r := range rep.Results {
			fmt.Fprintf(&b, " %s |", cell(r))
		}
		b.WriteString("\n")
	}
	dash := "—"
	row("simulator processes", "", func(r *scaleResult) string { return strconv.Itoa(r.Procs) })
	row("every agent registered (from the simulators' start)", "", func(r *scaleResult) string {
		if r.Register == 0 {
			return dash
		}
		return secs(r.Register)
	})
	row("leader RSS before any agent", "", func(r *scaleResult) string { return mib(r.RSSBaseKB) })
	row("leader RSS, agents registered, no task", "", func(r *scaleResult) string { return mib(r.RSSIdleKB) })
	row("launch throughput: tasks launched, FINISHED and acknowledged end to end", "≥ 20,000/s", func(r *scaleResult) string {
		if !r.launchDone {
			return dash
		}
		return fmt.Sprintf("**%s/s** (%s tasks in %s)", group(int(float64(r.LaunchTasks)/r.Launch.Seconds())), group(r.LaunchTasks), secs(r.Launch))
	})
	row("running tasks launched (to TASK_RUNNING, acknowledged)", "", func(r *scaleResult) string {
		if !r.runDone {
			return dash
		}
		if r.RunningTasks == 0 {
			return "none (SCALE_RUNNING_PER_AGENT=0)"
		}
		return fmt.Sprintf("%s in %s (%s/s)", group(r.RunningTasks), secs(r.Running), group(int(float64(r.RunningTasks)/r.Running.Seconds())))
	})
	row("leader RSS with the running tasks (VmRSS; VmHWM)", "≤ 2 GB at 10,000 agents, 300,000 tasks", func(r *scaleResult) string {
		if !r.runDone {
			return dash
		}
		return fmt.Sprintf("**%s** (%s running; HWM %s; anonymous %s, file %s: the etcd database is %s)", mib(r.RSSRunningKB), group(r.RunningTasks), mib(r.HWMKB),
			mib(r.AnonRunningKB), mib(r.FileRunningKB), mib(r.DBBytes/1024))
	})
	row("leader open files with them", "", func(r *scaleResult) string {
		if !r.runDone {
			return dash
		}
		return group(r.LeaderFDs)
	})
	row("simulators' RSS then (all processes)", "", func(r *scaleResult) string {
		if !r.runDone {
			return dash
		}
		return mib(r.SimRSSKB)
	})
	row("leader CPU time since its start: agents registered; launches done", "", func(r *scaleResult) string {
		if !r.runDone {
			return dash
		}
		return fmt.Sprintf("%s; %s", secs(r.LeaderCPUIdle), secs(r.LeaderCPURunning))
	})
	row("GET /state-summary on the leader, p50 / p99", "≤ 200 ms at 10,000 agents", func(r *scaleResult) string {
		if !r.summaryDone {
			return dash
		}
		return fmt.Sprintf("**%d / %d ms** (n=%d, %s KiB)", r.SummaryP50.Milliseconds(), r.SummaryP99.Milliseconds(), r.SummaryN, group(r.SummaryBytes/1024))
	})
	row("kill -9 of the leader → another master elected", "", func(r *scaleResult) string { return dur(r.failoverDone, r.Elected) })
	row("kill -9 of the leader → a new leader accepts a write (PUT /v2/apps)", "≤ 2 s", func(r *scaleResult) string {
		return bold(dur(r.failoverDone, r.Write))
	})
	row("kill -9 of the leader → first agent re-registered", "", func(r *scaleResult) string { return dur(r.failoverDone, r.FirstRe) })
	row("kill -9 of the leader → every agent re-registered", "≤ 30 s", func(r *scaleResult) string {
		if r.failoverDone && r.AllRe == 0 {
			return fmt.Sprintf("%s of %s", group(r.Reregistered), group(r.Agents))
		}
		return bold(dur(r.failoverDone, r.AllRe))
	})
	row("running tasks on the new leader", "all", func(r *scaleResult) string {
		if !r.runningAfterDone {
			return dash
		}
		return fmt.Sprintf("%s of %s", group(int(r.RunningAfter)), group(r.RunningTasks))
	})
	row("apps of one task each made through /v2/apps (on the new leader), all created; all running", "", func(r *scaleResult) string {
		if r.AppsRunning == 0 {
			return dash
		}
		return fmt.Sprintf("%s apps: %s; %s", group(r.Apps), secs(r.AppsCreate), secs(r.AppsRunning))
	})
	row("GET /v2/apps with them, p50 / p99", "p99 ≤ 50 ms with 10,000 apps", func(r *scaleResult) string {
		if r.AppsListN == 0 {
			return dash
		}
		return fmt.Sprintf("**%d / %d ms** (n=%d, %s KiB)", r.AppsListP50.Milliseconds(), r.AppsListP99.Milliseconds(), r.AppsListN, group(r.AppsListBytes/1024))
	})
	var notes []string
	for _, r := range rep.Results {
		for _, n := range r.Notes {
			notes = append(notes, fmt.Sprintf("%s agents: %s", group(r.Agents), n))
		}
	}
	if len(notes) > 0 {
		b.WriteString("\nNotes:\n\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// group writes n with thousands separators.
func group(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return s
	}
	var out []string
	for len(s) > 3 {
		out = append([]string{s[len(s)-3:]}, out...)
		s = s[:len(s)-3]
	}
	return strings.Join(append([]string{s}, out...), ",")
}

func mib(kb int64) string {
	if kb == 0 {
		return "—"
	}
	return fmt.Sprintf("%s MiB", group(int(kb/1024)))
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s" }

func dur(done bool, d time.Duration) string {
	if !done || d == 0 {
		return "—"
	}
	return secs(d)
}

func bold(s string) string {
	if s == "—" {
		return s
	}
	return "**" + s + "**"
}

// ordinal is n written as "1st", "2nd", "3rd", "4th" ….
func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.Itoa(n) + suffix
}
