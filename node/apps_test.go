package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"nodectl/cluster"
	"nodectl/cluster/apps"
	"nodectl/embed"
	"nodectl/node/nodetest"
)

// appsStack is a real master (real etcd, real allocator) with the apps
// framework mounted as node/up.go mounts it, and fake agents.
type appsStack struct {
	t      *testing.T
	url    string
	master *cluster.Master
	etcd   *clientv3.Client
	log    *slog.Logger
	agents []*fakeAgent

	swap        func(http.Handler)
	maxVersions int        // apps.Config.MaxVersions of the next startApps
	mu          sync.Mutex // guards appsStop
	appsStop    func()
}

func startAppsStack(t *testing.T, agents int) *appsStack {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	cport, pport := nodetest.FreePort(t), nodetest.FreePort(t)
	srv, err := embed.New(embed.Config{
		Name: "apps-test", Dir: t.TempDir(),
		ClientURL: fmt.Sprintf("http://127.0.0.1:%d", cport), PeerURL: fmt.Sprintf("http://127.0.0.1:%d", pport),
		ListenClientURL: fmt.Sprintf("http://127.0.0.1:%d", cport), ListenPeerURL: fmt.Sprintf("http://127.0.0.1:%d", pport),
		Logger: log.With("component", "etcd"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	master, err := cluster.New(cluster.Config{
		Etcd: cli, Hostname: "127.0.0.1", IP: "127.0.0.1", Port: port,
		AgentPingTimeout: time.Second, MaxAgentPingTimeouts: 5, Logger: log.With("component", "master"),
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &appsStack{t: t, url: fmt.Sprintf("http://127.0.0.1:%d", port), master: master, etcd: cli, log: log}
	// The apps handler is swapped on a simulated leader change.
	var hmu sync.Mutex
	var appsHandler http.Handler = http.NotFoundHandler()
	s.appsStop = func() {}
	setHandler := func(h http.Handler) { hmu.Lock(); appsHandler = h; hmu.Unlock() }
	appsRoute := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hmu.Lock()
		h := appsHandler
		hmu.Unlock()
		h.ServeHTTP(w, r)
	})
	mux := http.NewServeMux()
	mux.Handle("/v2/", appsRoute)
	mux.Handle("GET /ping", appsRoute)
	mux.Handle("/", master.Handler())
	// A generous header timeout: at load 17 (make test-under-load) the
	// test process was starved long enough for a 5 s one to close a
	// request's connection (connection reset by peer).
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = hs.Serve(ln) }()
	go func() { defer wg.Done(); _ = master.Run(ctx) }()
	t.Cleanup(func() {
		s.stopApps()
		_ = hs.Close()
		cancel()
		wg.Wait()
	})
	nodetest.WaitFor(t, 20*time.Second, "master elected", master.IsLeader)
	s.startApps(setHandler)
	for i := range agents {
		a := newFakeAgent(t, http.DefaultClient, s.url, fmt.Sprintf("fake%d", i), 6100+i, "cpus:2;mem:1024;ports:[31000-31010]")
		s.agents = append(s.agents, a)
		actx, acancel := context.WithCancel(context.Background())
		var aw sync.WaitGroup
		aw.Add(1)
		go func() { defer aw.Done(); a.run(actx) }()
		t.Cleanup(func() { acancel(); aw.Wait() })
	}
	nodetest.WaitFor(t, 10*time.Second, "fake agents active", func() bool {
		var m map[string]float64
		return nodetest.GetJSON(s.url+"/metrics/snapshot", &m) == nil && m["master/slaves_active"] == float64(agents)
	})
	s.swap = setHandler
	return s
}

// startApps starts an apps framework on the master, as a new leader would.
func (s *appsStack) startApps(setHandler func(http.Handler)) {
	a, err := apps.New(apps.Config{
		Scheduler: s.master, Etcd: s.etcd, IsLeader: s.master.IsLeader, Leader: s.master.Leader, Logger: s.log, MaxVersions: s.maxVersions,
		Fence: s.master.Fence, TermEvents: s.master.TermEvents,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	setHandler(a.Handler())
	s.mu.Lock()
	s.appsStop = func() { cancel(); <-done }
	s.mu.Unlock()
}

func (s *appsStack) stopApps() {
	s.mu.Lock()
	stop := s.appsStop
	s.appsStop = func() {}
	s.mu.Unlock()
	stop()
}

func (s *appsStack) req(method, path, body string, out any) int {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.url+path, bytes.NewBufferString(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func (s *appsStack) running(id string) int {
	var out struct {
		App struct {
			TasksRunning int `json:"tasksRunning"`
		} `json:"app"`
	}
	if s.req("GET", "/v2/apps"+id, "", &out) != 200 {
		return -1
	}
	return out.App.TasksRunning
}

// deployments is the number of deployments in progress, -1 when unreadable.
func (s *appsStack) deployments() int {
	var ds []any
	if s.req("GET", "/v2/deployments", "", &ds) != 200 {
		return -1
	}
	return len(ds)
}

func (s *appsStack) launches() int64 {
	var n int64
	for _, a := range s.agents {
		n += a.launches.Load()
	}
	return n
}

// TestAppsOnRealMaster: create, place with UNIQUE, scale (constrained),
// survive an apps-framework failover without restarts, delete.
func TestAppsOnRealMaster(t *testing.T) {
	t.Parallel()
	s := startAppsStack(t, 2)
	if code := s.req("POST", "/v2/apps", `{"id":"/prod/web","instances":2,"cmd":"sleep 1000","cpus":0.1,"mem":16,"constraints":[["hostname","UNIQUE"]]}`, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	// The deployment ends a moment after its tasks run: a change before
	// then would meet it (409).
	nodetest.WaitFor(t, 10*time.Second, "2 running, deployment done", func() bool {
		return s.running("/prod/web") == 2 && s.deployments() == 0
	})
	var tasks struct {
		Tasks []struct {
			ID    string `json:"id"`
			Host  string `json:"host"`
			Ports []int  `json:"ports"`
		} `json:"tasks"`
	}
	s.req("GET", "/v2/apps/prod/web/tasks", "", &tasks)
	if len(tasks.Tasks) != 2 || tasks.Tasks[0].Host == tasks.Tasks[1].Host || len(tasks.Tasks[0].Ports) != 1 {
		t.Fatalf("tasks %+v: want 2 on distinct hosts with a port each", tasks.Tasks)
	}

	// UNIQUE on 2 agents: a third instance stays queued.
	if code := s.req("PUT", "/v2/apps/prod/web", `{"instances":3}`, nil); code != 200 {
		t.Fatalf("scale: %d", code)
	}
	nodetest.WaitFor(t, 5*time.Second, "queued instance", func() bool {
		var q struct {
			Queue []struct {
				Count int `json:"count"`
			} `json:"queue"`
		}
		s.req("GET", "/v2/queue", "", &q)
		return len(q.Queue) == 1 && q.Queue[0].Count == 1
	})
	if code := s.req("PUT", "/v2/apps/prod/web", `{"instances":2}`, nil); code != 409 {
		t.Errorf("change during a stuck deployment: %d, want 409", code)
	}
	if code := s.req("PUT", "/v2/apps/prod/web?force=true", `{"instances":2}`, nil); code != 200 {
		t.Fatalf("forced scale: %d", code)
	}
	nodetest.WaitFor(t, 5*time.Second, "deployments done", func() bool { return s.deployments() == 0 })

	// A new apps framework (as after a leader change) resumes from etcd
	// with the same framework id and restarts nothing.
	before := s.launches()
	s.stopApps()
	s.startApps(s.swap)
	nodetest.WaitFor(t, 10*time.Second, "2 running after failover", func() bool { return s.running("/prod/web") == 2 })
	time.Sleep(time.Second) // give a wrong relaunch the chance to happen
	if after := s.launches(); after != before {
		t.Errorf("launches went %d → %d across the framework failover", before, after)
	}
	var fws struct {
		Frameworks []struct {
			Name string `json:"name"`
		} `json:"frameworks"`
	}
	_ = nodetest.GetJSON(s.url+"/state", &fws)
	if n := len(fws.Frameworks); n != 1 {
		t.Errorf("%d frameworks registered, want 1 (same id)", n)
	}

	if code := s.req("DELETE", "/v2/apps/prod/web", "", nil); code != 200 {
		t.Fatalf("delete: %d", code)
	}
	if code := s.req("GET", "/v2/apps/prod/web", "", nil); code != 404 {
		t.Errorf("after delete: %d", code)
	}
	nodetest.WaitFor(t, 10*time.Second, "tasks killed", func() bool {
		for _, a := range s.agents {
			for _, tk := range tasks.Tasks {
				if st := a.taskState(fwID(t, s), tk.ID); st != "" && !st.Terminal() {
					return false
				}
			}
		}
		return true
	})
}

func fwID(t *testing.T, s *appsStack) string {
	var info struct {
		FrameworkID string `json:"frameworkId"`
	}
	s.req("GET", "/v2/info", "", &info)
	return info.FrameworkID
}
