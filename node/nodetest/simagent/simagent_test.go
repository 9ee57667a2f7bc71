package simagent_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"nodectl/cluster/api"
	"nodectl/node/nodetest"
	"nodectl/node/nodetest/simagent"
)

// TestSimulatedAgents runs simulated agents and the framework against a
// real master (in-process, real etcd): they register, run short and
// long tasks through the status path (batched updates, acknowledgements),
// and after a restart of the master re-register with their running tasks.
func TestSimulatedAgents(t *testing.T) {
	const agents, short, long = 12, 150, 36
	c := nodetest.Start(t, nodetest.Options{AgentPingTimeout: time.Second})
	tok, err := nodetest.AgentToken(c.Master.URL())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tlsConf, err := simagent.JoinTLS(ctx, c.Master.URL(), tok, t.TempDir(), "simagents")
	if err != nil {
		t.Fatal(err)
	}
	res, err := api.ParseResources("cpus:8;mem:8192")
	if err != nil {
		t.Fatal(err)
	}
	master := strings.TrimPrefix(c.Master.URL(), "https://")
	var sims []*simagent.Agent
	var wg sync.WaitGroup
	actx, stop := context.WithCancel(ctx)
	t.Cleanup(func() { stop(); wg.Wait() })
	for i := range agents {
		a := simagent.New(simagent.Config{Masters: []string{master}, TLS: tlsConf, Hostname: fmt.Sprintf("sim%d", i), Port: 20000 + i,
			Resources: res, BackoffFactor: 50 * time.Millisecond})
		sims = append(sims, a)
		wg.Add(1)
		go func() { defer wg.Done(); a.Run(actx) }()
	}
	registeredWith := func() map[string]int {
		by := map[string]int{}
		for _, a := range sims {
			if s := a.Stats(); s.MasterID != "" {
				by[s.MasterID]++
			}
		}
		return by
	}
	var first string
	nodetest.WaitFor(t, 30*time.Second, "simulated agents registered", func() bool {
		for id, n := range registeredWith() {
			first = id
			return n == agents && c.Metric("master/slaves_active") == agents
		}
		return false
	})

	fw, err := simagent.Subscribe(ctx, simagent.FrameworkConfig{Master: c.Master.URL(), Client: nodetest.Client(0)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Launch(ctx, short, "true", api.TaskFinished, 8); err != nil {
		t.Fatalf("short tasks: %v", err)
	}
	if _, err := fw.Launch(ctx, long, "sleep 3600", api.TaskRunning, 8); err != nil {
		t.Fatalf("long tasks: %v", err)
	}
	if n, msg := fw.CallErrors(); n > 0 {
		t.Errorf("%d calls refused, the first: %s", n, msg)
	}
	var launches int64
	live := 0
	for _, a := range sims {
		s := a.Stats()
		launches += s.Launches
		live += s.Live
	}
	if launches != short+long || live != long {
		t.Errorf("agents got %d launches and run %d tasks, want %d and %d", launches, live, short+long, long)
	}
	nodetest.WaitFor(t, 10*time.Second, "running tasks on the master", func() bool { return c.Metric("master/tasks_running") == long })
	fw.Close()

	// A new master process: every agent registers again, with its tasks.
	if err := c.Master.Stop(); err != nil {
		t.Logf("master stop: %v", err)
	}
	c.Master.Start()
	nodetest.WaitFor(t, 60*time.Second, "agents re-registered with the new master", func() bool {
		by := registeredWith()
		for id, n := range by {
			return id != first && n == agents
		}
		return false
	})
	nodetest.WaitFor(t, 10*time.Second, "running tasks on the new master", func() bool { return c.Metric("master/tasks_running") == long })
	for _, a := range sims {
		if s := a.Stats(); s.Registrations < 2 {
			t.Errorf("agent %s: %d registrations, want 2", a.ID(), s.Registrations)
		}
	}
}
