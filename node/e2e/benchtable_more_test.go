package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"nodectl/cluster/api"
	"nodectl/storage"
)

// The figures of issue 20 that are not about one node's task start:
// checkpointed status updates, reattach after an agent's kill -9, leader
// failover of three masters, and (from the last `make bench-scale`) the
// leader at 1,000 and 10,000 agents.

// benchCheckpoint: status updates per second checkpointed by the agent's
// store (storage.Store: sqlite in WAL mode, fsync at every commit, group
// commit), 64 tasks updating at once, against the same store taking one
// update at a time (one fsync each), interleaved.
func benchCheckpoint(t *testing.T, tab *benchTable, rounds int) {
	const d = 2 * time.Second
	var ours, base []float64
	for range rounds {
		ours = append(ours, checkpointRate(t, 64, d))
		base = append(base, checkpointRate(t, 1, d))
	}
	tab.add("checkpointed status updates (agent store: sqlite WAL, fsync at commit), 64 tasks updating at once", "updates/s",
		ours, "the same store, one update at a time (one fsync each)", base, nil, minGoal(20000, "≥ 20,000/s"), "")
}

// checkpointRate appends status updates to 512 tasks of a fresh store
// from writers goroutines for d; it returns the updates acknowledged by
// the store (durable) per second.
func checkpointRate(tb testing.TB, writers int, d time.Duration) float64 {
	tb.Helper()
	ctx := context.Background()
	s, err := storage.Open(ctx, storage.Config{Path: filepath.Join(tb.TempDir(), "meta.db"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	const tasks, fw = 512, "5d1c1a4e-2b7f-4a8e-9c3d-0f6e7a8b9c0d-0000"
	info := func(v any) []byte { b, _ := json.Marshal(v); return b }
	for i := range tasks {
		id := fmt.Sprintf("bench.%d", i)
		if err := s.LaunchTask(ctx, storage.Launch{
			Framework: storage.Framework{ID: fw, Info: info(map[string]any{"id": map[string]string{"value": fw}, "checkpoint": true}), Checkpoint: true},
			Executor: storage.Executor{ExecutorID: id, ContainerID: "ctr-" + id, Sandbox: "/var/lib/nodectl/sandbox/" + id,
				Info: info(map[string]any{"executor_id": map[string]string{"value": id}})},
			Task: storage.Task{TaskID: id, Info: info(map[string]any{"task_id": map[string]string{"value": id}, "name": id}), State: "TASK_STAGING"},
		}); err != nil {
			tb.Fatal(err)
		}
	}
	var done atomic.Int64
	var failed atomic.Pointer[error] // the first append that failed
	began := time.Now()
	stop := began.Add(d)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := w; time.Now().Before(stop); i += writers {
				id := fmt.Sprintf("bench.%d", i%tasks)
				uuid := make([]byte, 16)
				_, _ = rand.Read(uuid)
				// The update the agent checkpoints (runtime/tasks.go
				// checkpointUpdate): its struct, encoded.
				agent := api.ID{Value: "0b7e4f2a-6c1d-4e3b-8a9f-2d5c7e1b3a4f-S0"}
				u := api.StatusUpdate{AgentID: agent, FrameworkID: api.ID{Value: fw},
					Status: api.TaskStatus{TaskID: api.ID{Value: id}, State: api.TaskRunning, Source: api.SourceExecutor,
						AgentID: &agent, ExecutorID: &api.ID{Value: id},
						Timestamp: float64(time.Now().UnixNano()) / 1e9, UUID: uuid,
						ContainerStatus: &api.ContainerStatus{ContainerID: &api.ID{Value: "ctr-" + id}, ExecutorPID: 4242 + i}},
					LatestState: api.TaskRunning}
				body, err := json.Marshal(u)
				if err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				if _, err := s.AppendUpdate(ctx, storage.Update{FrameworkID: fw, TaskID: id, UUID: uuid, State: "TASK_RUNNING", Body: body}); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		tb.Fatalf("checkpoint: %v", *err)
	}
	return float64(done.Load()) / time.Since(began).Seconds()
}

// benchTableReattach: kill -9 of a --role=all node running 100 and 1,000
// checkpointed tasks, then its restart, until the re-registered agent and
// the master both report every task RUNNING (each with its original
// process). Mesos' agent waits up to --executor_reregistration_timeout
// (2 s by default, https://mesos.apache.org/documentation/latest/configuration/agent/)
// for its executors to re-register: the published figure beside ours.
func benchTableReattach(t *testing.T, tab *benchTable, rounds int) {
	for _, c := range []struct {
		count int
		goal  goal
	}{
		{100, absGoal(1000, "≤ 1 s (the goal for 1,000)")},
		{1000, absGoal(1000, "≤ 1 s")},
	} {
		t.Run(strconv.Itoa(c.count), func(t *testing.T) {
			f := newReattach(t, c.count)
			var took []float64
			for range rounds {
				ms, _ := f.kill9Restart(t)
				took = append(took, ms)
			}
			f.p.kill(syscall.SIGKILL)
			tab.addPublished(fmt.Sprintf("reattach after the node's kill -9, %s tasks: restart → all RUNNING again (same processes)", group(c.count)), "ms",
				took, "Mesos agent: --executor_reregistration_timeout default", 2000, c.goal, "")
		})
	}
}

// benchFailover: three masters (haFlags: Raft heartbeat 50 ms, election
// 500 ms), kill -9 of the leader until a survivor accepts a write (PUT
// /v2/apps, as BenchmarkHAFailover), against three bare etcd members (the
// etcd nodectl embeds, built as its own binary: NODECTL_BENCH_ETCD) with
// the same Raft timers: kill -9 of the etcd leader until a survivor
// accepts a put. Interleaved.
func benchFailover(t *testing.T, tab *benchTable, rounds int) {
	ms := haThree(t, haFlags)
	bare, bareErr := newBareEtcd(t)
	var ours, base []float64
	for i := range rounds {
		l := haWaitLeader(t, ms)
		haWrite(t, ms, i%2, 10*time.Second)
		l.p.kill(syscall.SIGKILL)
		ours = append(ours, float64(haWrite(t, ms, (i+1)%2, 10*time.Second).Microseconds())/1000)
		l.p = start(t, l.n.args("master", haFlags...)...)
		for _, m := range ms {
			if m != l {
				haWaitVoters(t, m.n.url(), 3)
				break
			}
		}
		if bareErr == nil {
			var ms float64
			if ms, bareErr = bare.failover(t); bareErr == nil {
				base = append(base, ms)
			}
		}
	}
	for _, m := range ms {
		m.p.kill(syscall.SIGKILL)
	}
	tab.add("leader failover, 3 masters: kill -9 of the leader → a write accepted", "ms", ours,
		"bare etcd 3 members (the version embedded), same Raft timers: kill -9 of the leader → a put accepted", base, bareErr,
		absGoal(500, "p50 ≤ 500 ms"), fmt.Sprintf("ours p50 %s ms", num(summarize(ours).Median)))
}

// bareEtcd is three etcd processes on 127.0.0.1 ports.
type bareEtcd struct {
	args  [][]string
	procs []*proc
	urls  []string // client URLs
	cmd   string
}

func newBareEtcd(t *testing.T) (*bareEtcd, error) {
	cmd := os.Getenv("NODECTL_BENCH_ETCD")
	if cmd == "" {
		return nil, errors.New("no bare etcd: NODECTL_BENCH_ETCD is unset (make bench builds it)")
	}
	if _, err := os.Stat(cmd); err != nil {
		return nil, fmt.Errorf("no bare etcd: %w", err)
	}
	e := &bareEtcd{cmd: cmd}
	var peers []string
	type member struct{ name, dir, client, peer string }
	var members []member
	for i := range 3 {
		m := member{name: fmt.Sprintf("e%d", i), dir: t.TempDir(),
			client: fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), peer: fmt.Sprintf("http://127.0.0.1:%d", freePort(t))}
		members = append(members, m)
		peers = append(peers, m.name+"="+m.peer)
	}
	for _, m := range members {
		args := []string{"--name", m.name, "--data-dir", m.dir, "--listen-client-urls", m.client, "--advertise-client-urls", m.client,
			"--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer, "--initial-cluster", strings.Join(peers, ","),
			"--initial-cluster-state", "new", "--initial-cluster-token", "bench", "--heartbeat-interval", "50", "--election-timeout", "500"}
		e.args = append(e.args, args)
		e.urls = append(e.urls, m.client)
		e.procs = append(e.procs, startCmd(t, exec.Command(cmd, args...), append([]string{"(etcd)"}, args...)))
	}
	t.Cleanup(func() {
		for _, p := range e.procs {
			p.kill(syscall.SIGKILL)
		}
	})
	if _, err := e.leader(30 * time.Second); err != nil {
		return nil, err
	}
	return e, nil
}

// leader is the index of the member every live member names as leader.
func (e *bareEtcd) leader(timeout time.Duration) (int, error) {
	l := -1
	if !pollUntil(timeout, func() bool { var ok bool; l, ok = e.agreedLeader(); return ok }) {
		return -1, fmt.Errorf("bare etcd: no leader all three members agree on within %s", timeout)
	}
	return l, nil
}

func (e *bareEtcd) agreedLeader() (int, bool) {
	var leaderID uint64
	at := -1
	for i, u := range e.urls {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{u}, DialTimeout: time.Second, Logger: zap.NewNop()})
		if err != nil {
			return -1, false
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := cli.Status(ctx, u)
		cancel()
		cli.Close()
		if err != nil || st.Leader == 0 || (leaderID != 0 && st.Leader != leaderID) {
			return -1, false
		}
		leaderID = st.Leader
		if st.Header.MemberId == st.Leader {
			at = i
		}
	}
	return at, at >= 0
}

// failover kills the leader with SIGKILL and measures until a survivor
// accepts a put; then it restarts the killed member and waits until all
// three agree on a leader again.
func (e *bareEtcd) failover(t *testing.T) (float64, error) {
	l, err := e.leader(30 * time.Second)
	if err != nil {
		return 0, err
	}
	var survivors []string
	for i, u := range e.urls {
		if i != l {
			survivors = append(survivors, u)
		}
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: survivors, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		return 0, fmt.Errorf("bare etcd client: %w", err)
	}
	defer cli.Close()
	put := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := cli.Put(ctx, "/probe", time.Now().String())
		return err
	}
	if err := put(); err != nil {
		return 0, fmt.Errorf("bare etcd: put before the kill: %w", err)
	}
	e.procs[l].kill(syscall.SIGKILL)
	began := time.Now()
	if !pollUntil(10*time.Second, func() bool { err = put(); return err == nil }) {
		return 0, fmt.Errorf("bare etcd: no survivor accepted a put within 10 s: %w", err)
	}
	took := msSince(began)
	e.procs[l] = startCmd(t, exec.Command(e.cmd, e.args[l]...), append([]string{"(etcd)"}, e.args[l]...))
	if _, err := e.leader(30 * time.Second); err != nil {
		return 0, err
	}
	return took, nil
}

// benchScaleRows adds the leader-at-scale figures of the last `make
// bench-scale` run ($NODECTL_BENCH_OUT/scale.json): they take a 3-master
// cluster and up to 10,000 simulated agents, too long for this table's
// run, so each row names when they were measured.
func benchScaleRows(t *testing.T, tab *benchTable, out string) {
	var rep scaleReport
	b, err := os.ReadFile(filepath.Join(out, "scale.json"))
	if err == nil {
		err = json.Unmarshal(b, &rep)
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = errors.New("run make bench-scale first")
		}
		tab.add("the leader at 1,000 and 10,000 simulated agents (make bench-scale)", "—", nil, "—", nil, nil,
			absGoal(0, "see docs/performance.md"), "not measured: "+err.Error())
		return
	}
	when := "make bench-scale " + rep.Started.Format(time.RFC3339)
	for _, r := range rep.Results {
		at := group(r.Agents) + " agents"
		if r.Launch > 0 {
			tab.addPublished("launch throughput, "+at+": short tasks FINISHED and acknowledged end to end", "tasks/s",
				[]float64{float64(r.LaunchTasks) / r.Launch.Seconds()}, "Nomad 0.3.1 C1M, 5 servers (HashiCorp)", 3750,
				minGoal(20000, "≥ 20,000/s"), when)
		}
		if r.RSSRunningKB > 0 {
			tab.add(fmt.Sprintf("leader RSS, %s with %s running tasks", at, group(r.RunningTasks)), "MiB",
				[]float64{float64(r.RSSRunningKB) / 1024}, "—", nil, nil, absGoal(2e9/(1<<20), "≤ 2 GB (1,907 MiB) at 10,000 agents"), when)
		}
		if r.AppsListN > 0 {
			tab.add(fmt.Sprintf("GET /v2/apps with %s running apps on the leader, %s, p99 (p50 in the note)", group(r.Apps), at), "ms",
				[]float64{float64(r.AppsListP99.Microseconds()) / 1000}, "—", nil, nil, absGoal(50, "p99 ≤ 50 ms"),
				fmt.Sprintf("p50 %s ms, %s KiB; %s", num(float64(r.AppsListP50.Microseconds())/1000), group(r.AppsListBytes/1024), when))
		}
		if r.SummaryN > 0 {
			tab.add("GET /state-summary on the leader, "+at+", p50 (p99 in the note)", "ms",
				[]float64{float64(r.SummaryP50.Microseconds()) / 1000}, "—", nil, nil, absGoal(200, "≤ 200 ms"),
				fmt.Sprintf("p99 %s ms; %s", num(float64(r.SummaryP99.Microseconds())/1000), when))
		}
		if r.Write > 0 {
			tab.add("leader kill -9 → a write accepted, "+at, "s", []float64{r.Write.Seconds()}, "—", nil, nil, absGoal(2, "≤ 2 s"), when)
		}
		if r.AllRe > 0 {
			tab.add("leader kill -9 → every agent re-registered, "+at, "s", []float64{r.AllRe.Seconds()}, "—", nil, nil, absGoal(30, "≤ 30 s"), when)
		}
	}
}

// benchChurn: cold start and idle RSS of a node whose work dir has a
// history, against a fresh work dir, interleaved. The history: 1,000
// versions of one app's definition (each a deployment and a version kept
// in etcd), then 20 apps of 3 tasks each started, replaced by a new
// version (3 more tasks) and deleted: task records written at each state
// change and removed, agent checkpoints of 120 tasks. "Flat with
// history" is the goal: the ratio to the fresh work dir.
func benchChurn(t *testing.T, tab *benchTable, rounds int) {
	n := newNode(t)
	t.Cleanup(func() { unmountUnder(n.dir) })
	args := n.args("all", "--quiet", "--resources", "cpus:16;mem:16384;disk:4096;ports:[31000-31999]")
	p := start(t, args...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, n.url()); return len(s) == 1 && s[0].Active })
	began := time.Now()
	const versions, cycles = 1000, 20
	for i := range versions {
		appMust(t, n, "PUT", "/v2/apps/churn/config?force=true", fmt.Sprintf(`{"cmd": "sleep 3600", "instances": 0, "cpus": 0.01,
			"mem": 4, "env": {"N": "%d"}, "labels": {"rev": "%d"}}`, i, i), 200, 201)
	}
	for i := range cycles {
		id := fmt.Sprintf("/churn/c%d", i)
		settled := func() bool {
			a, ok := appGet(n, id)
			d, dok := appDeploymentIDs(n)
			return ok && a.TasksRunning == 3 && dok && len(d) == 0
		}
		appMust(t, n, "POST", "/v2/apps", `{"id": "`+id+`", "cmd": "sleep 3600", "instances": 3, "cpus": 0.01, "mem": 4, "portDefinitions": []}`, 201)
		waitFor(t, 2*time.Minute, id+" running", settled)
		appMust(t, n, "PUT", "/v2/apps"+id+"?force=true", `{"cmd": "sleep 3600", "instances": 3, "cpus": 0.01, "mem": 4, "portDefinitions": [], "env": {"V": "2"}}`, 200, 201)
		waitFor(t, 2*time.Minute, id+" replaced", settled)
		appMust(t, n, "DELETE", "/v2/apps"+id, "", 200)
	}
	waitFor(t, 2*time.Minute, "every churned task gone", func() bool { return appMonitors(n.dir) == 0 })
	// Made in seconds, the history is all within etcd's compaction
	// retention (5 minutes): none of it compacted yet, the worst case.
	note := fmt.Sprintf("history made in %s, none of it compacted yet (etcd keeps 5 minutes); etcd database %.1f MB",
		time.Since(began).Round(time.Second), float64(etcdDBBytes(n.dir))/1e6)
	p.kill(syscall.SIGTERM)

	var cold, idle, fCold, fIdle []float64
	for range rounds {
		c, r := coldIdle(t, n, args)
		cold, idle = append(cold, c), append(idle, r)
		f := newNode(t)
		c, r = coldIdle(t, f, f.args("all", "--quiet", "--resources", "cpus:16;mem:16384;disk:4096;ports:[31000-31999]"))
		fCold, fIdle = append(fCold, c), append(fIdle, r)
	}
	tab.add(fmt.Sprintf("cold start to /health after churn (%s app versions, %d apps of 3 tasks started, replaced, deleted)", group(versions), cycles), "ms",
		cold, "the same node, fresh work dir", fCold, nil, absGoal(300, "≤ 300 ms, flat with history"), note)
	tab.add("idle RSS after churn (the same history; agent registered, 2 s idle)", "MiB",
		idle, "the same node, fresh work dir", fIdle, nil, absGoal(40, "≤ 40 MiB, flat with history"), "")

	// Its steady state, once, as for the fresh node (benchColdIdle).
	p = start(t, args...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, n.url()); return len(s) == 1 && s[0].Active })
	long, peak := steadyRSS(p, func() {})
	tab.add(fmt.Sprintf("idle RSS after churn, %s idle (the steady state)", longIdle), "MiB", []float64{long}, "", nil, nil,
		absGoal(40, "≤ 40 MiB, flat with history"), fmt.Sprintf("the same history, once; the node's highest reading on the way %s MiB", num(peak)))
}
