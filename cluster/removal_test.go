package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"nodectl/cluster/api"
)

func TestParseRateLimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want RateLimit
		bad  bool
	}{
		{"", RateLimit{}, false},
		{"1/10mins", RateLimit{1, 10 * time.Minute}, false},
		{"2/1m", RateLimit{2, time.Minute}, false},
		{" 5/20secs ", RateLimit{5, 20 * time.Second}, false},
		{"1", RateLimit{}, true},
		{"0/1mins", RateLimit{}, true},
		{"x/1mins", RateLimit{}, true},
		{"1/0s", RateLimit{}, true},
		{"1/soon", RateLimit{}, true},
	} {
		got, err := ParseRateLimit(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseRateLimit(%q) = %v, %v; want %v, bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
		if err != nil && !errors.Is(err, ErrBadFlag) {
			t.Errorf("ParseRateLimit(%q) error %v does not wrap ErrBadFlag", tc.in, err)
		}
	}
	if d := (RateLimit{3, 30 * time.Second}).Interval(); d != 10*time.Second {
		t.Errorf("interval of 3/30s = %s", d)
	}
	for in, want := range map[string]float64{"100%": 1, "50%": 0.5, "0%": 0, "12.5": 0.125} {
		if got, err := ParsePercentage(in); err != nil || got != want {
			t.Errorf("ParsePercentage(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "101%", "-1%", "half"} {
		if _, err := ParsePercentage(in); err == nil {
			t.Errorf("ParsePercentage(%q) accepted", in)
		}
	}
	for _, cfg := range []Config{
		{Port: 1, AgentRemovalRateLimit: "fast"},
		{Port: 1, RecoveryAgentRemovalLimit: "200%"},
		{Port: 1, AgentReregisterTimeout: -time.Second},
	} {
		if _, err := newMaster(cfg); err == nil {
			t.Errorf("newMaster accepted %+v", cfg)
		}
	}
}

// registryEntry reads an agent's registry entry from the store.
func (h *harness) registryEntry(id string) (agent, bool) {
	h.t.Helper()
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	b, ok := h.st.data[keyAgentsPrefix+id]
	if !ok {
		return agent{}, false
	}
	var a agent
	must(h.t, json.Unmarshal(b, &a))
	return a, true
}

func (h *harness) wantMetrics(want map[string]float64) {
	h.t.Helper()
	for name, v := range want {
		if got := h.metric(name); got != v {
			h.t.Errorf("%s = %v, want %v", name, got, v)
		}
	}
}

// Agents whose pings stop are marked unreachable one permit at a time
// (--agent_removal_rate_limit 1/10mins); each marking is in the registry
// before the framework hears TASK_LOST. An agent that re-registers while
// waiting is not marked. The markings survive a leader change.
func TestUnreachableRateLimited(t *testing.T) {
	h := newHarness(t, shortPings, func(c *Config) { c.AgentRemovalRateLimit = "1/10mins" })
	fw := h.subscribe(api.FrameworkInfo{Name: "f"})
	var ags []string
	for i, host := range []string{"a1", "a2", "a3"} {
		ag := h.agent(host, "cpus:1;mem:256")
		fw.running(ag, fmt.Sprintf("t%d", i+1))
		ags = append(ags, ag)
	}
	lost := func() []string {
		var out []string
		for _, st := range fw.updates() {
			out = append(out, st.TaskID.Value+" "+string(st.State)+" "+st.Reason)
		}
		return out
	}

	h.advance(5*time.Second + time.Millisecond) // all three silent
	wantStrings(t, "updates at once", lost(), []string{"t1 TASK_LOST REASON_SLAVE_REMOVED"})
	h.wantMetrics(map[string]float64{
		"master/slave_unreachable_scheduled": 3, "master/slave_unreachable_completed": 1,
		"master/slaves_unreachable": 1, "master/slaves_inactive": 3, "master/slave_removals": 1,
		"master/slave_removals/reason_unhealthy": 1,
	})
	if e, ok := h.registryEntry(ags[0]); !ok || e.UnreachableTime == nil || !e.UnreachableTime.Equal(h.now) {
		t.Errorf("registry entry of the marked agent: %+v", e)
	}
	if e, _ := h.registryEntry(ags[1]); e.UnreachableTime != nil {
		t.Error("second agent in the registry as unreachable before its permit")
	}

	h.advance(10*time.Minute - time.Second)
	wantStrings(t, "updates before the next permit", lost(), nil)
	h.advance(time.Second)
	wantStrings(t, "updates at the next permit", lost(), []string{"t2 TASK_LOST REASON_SLAVE_REMOVED"})

	// The third comes back before its turn: its marking is cancelled.
	h.reregister(ags[2], "a3", "cpus:1;mem:256", api.AgentTask{FrameworkID: api.ID{Value: fw.id()}, Task: mkTask("t3", "cpus:0.1;mem:32"), State: api.TaskRunning})
	h.advance(time.Millisecond)
	h.wantMetrics(map[string]float64{
		"master/slave_unreachable_canceled": 1, "master/slave_unreachable_completed": 2,
		"master/slaves_unreachable": 2, "master/slaves_active": 1,
	})
	if got := h.taskState(fw.id(), "t3"); got != api.TaskRunning {
		t.Errorf("t3 %s", got)
	}

	// A new leader recovers the unreachable agents as unreachable: only
	// a3 is waited for.
	h.restart()
	h.wantMetrics(map[string]float64{"master/slaves_unreachable": 2, "master/slaves_active": 1, "master/slaves_inactive": 2})
	for _, id := range []string{"t1", "t2"} {
		if got := h.taskState(fw.id(), id); got != api.TaskLost {
			t.Errorf("%s %s after the leader change", id, got)
		}
	}
	if err := h.m.ping(ags[0]); !errors.Is(err, ErrUnknownAgent) {
		t.Errorf("ping of an unreachable agent: %v, want ErrUnknownAgent (re-register)", err)
	}
}

// After a failover, recovered agents that do not re-register within
// --agent_reregister_timeout are marked unreachable; the ping window does
// not apply to them.
func TestReregisterTimeoutAfterFailover(t *testing.T) {
	h := newHarness(t)
	fw := h.subscribe(api.FrameworkInfo{Name: "f", FailoverTimeout: 3600, Capabilities: []api.Capability{{Type: api.CapabilityPartitionAware}}})
	a1 := h.agent("a1", "cpus:1;mem:256")
	fw.running(a1, "t1")
	a2 := h.agent("a2", "cpus:1;mem:256")
	fw.running(a2, "t2")
	short := func(c *Config) {
		c.AgentReregisterTimeout = time.Minute
		c.AgentPingTimeout, c.MaxAgentPingTimeouts = time.Second, 5
	}
	h.restart(short)
	f2 := h.subscribe(api.FrameworkInfo{Name: "f", FailoverTimeout: 3600, ID: &api.ID{Value: fw.id()}, Capabilities: []api.Capability{{Type: api.CapabilityPartitionAware}}})
	h.reregister(a1, "a1", "cpus:1;mem:256", api.AgentTask{FrameworkID: api.ID{Value: fw.id()}, Task: mkTask("t1", "cpus:0.1;mem:32"), State: api.TaskRunning})
	for range 59 {
		must(t, h.m.ping(a1))
		h.advance(time.Second)
	}
	if us := f2.updates(); len(us) != 0 || h.metric("master/slave_unreachable_scheduled") != 0 {
		t.Fatalf("before the timeout: updates %v", us)
	}
	must(t, h.m.ping(a1))
	h.advance(time.Second)
	if st := f2.update(); st.TaskID.Value != "t2" || st.State != api.TaskUnreachable || st.Reason != api.ReasonAgentRemoved {
		t.Fatalf("update %s", fmtStatus(st))
	}
	h.wantMetrics(map[string]float64{"master/slave_unreachable_completed": 1, "master/slaves_unreachable": 1, "master/slave_removals/reason_unhealthy": 0})
	if e, _ := h.registryEntry(a2); e.UnreachableTime == nil {
		t.Error("registry entry not marked unreachable")
	}
	if got := h.taskState(fw.id(), "t1"); got != api.TaskRunning {
		t.Errorf("t1 on the re-registered agent: %s", got)
	}
}

// If more than --recovery_agent_removal_limit of the recovered agents fail
// to re-register, the leader marks none and gives up.
func TestRecoveryRemovalLimit(t *testing.T) {
	for _, tc := range []struct {
		limit    string
		exceeded bool
	}{{"100%", false}, {"50%", false}, {"49%", true}, {"", false}} {
		t.Run(tc.limit, func(t *testing.T) {
			h := newHarness(t)
			fw := h.subscribe(api.FrameworkInfo{Name: "f", FailoverTimeout: 3600})
			a1 := h.agent("a1", "cpus:1;mem:256")
			a2 := h.agent("a2", "cpus:1;mem:256")
			fw.running(a2, "t2")
			h.restart(func(c *Config) { c.AgentReregisterTimeout = time.Minute; c.RecoveryAgentRemovalLimit = tc.limit })
			h.reregister(a1, "a1", "cpus:1;mem:256")
			h.now = h.now.Add(time.Minute)
			err := h.m.tick(context.Background())
			if tc.exceeded {
				if !errors.Is(err, ErrRecoveryRemovalLimit) {
					t.Fatalf("tick: %v, want ErrRecoveryRemovalLimit", err)
				}
				h.wantMetrics(map[string]float64{"master/slave_unreachable_scheduled": 0, "master/slaves_unreachable": 0})
				if got := h.taskState(fw.id(), "t2"); got != api.TaskRunning {
					t.Errorf("t2 %s: acted although the limit was exceeded", got)
				}
				return
			}
			must(t, err)
			h.wantMetrics(map[string]float64{"master/slave_unreachable_completed": 1, "master/slaves_unreachable": 1})
			if got := h.taskState(fw.id(), "t2"); got != api.TaskLost {
				t.Errorf("t2 %s", got)
			}
		})
	}
}

// The real leader loops: the removal limit ends the term (and Run) once
// the re-register timeout passes; the rate limiter spaces markings in time.
func TestRemovalLoops(t *testing.T) {
	logger := func(t *testing.T) *slog.Logger {
		return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError + 1}))
	}
	// seed registers n agents in st through a first leader.
	seed := func(t *testing.T, st *memStore, n int) {
		m, err := newMaster(Config{Port: 5050, Logger: logger(t)})
		must(t, err)
		must(t, m.becomeLeader(t.Context(), st, nil))
		for i := range n {
			_, err := m.register(api.RegisterRequest{Agent: api.AgentInfo{Hostname: fmt.Sprint("a", i), Port: 1, Resources: mustRes(t, "cpus:1")}})
			must(t, err)
		}
		m.stepDown()
	}
	t.Run("limit", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			st := newMemStore()
			seed(t, st, 2)
			m, err := newMaster(Config{Port: 5050, AgentReregisterTimeout: time.Minute, RecoveryAgentRemovalLimit: "50%", Logger: logger(t)})
			must(t, err)
			must(t, m.becomeLeader(t.Context(), st, nil))
			defer m.stepDown()
			start := time.Now()
			err = m.lead(t.Context())
			if !errors.Is(err, ErrRecoveryRemovalLimit) {
				t.Fatalf("lead: %v", err)
			}
			if d := time.Since(start); d < time.Minute || d > time.Minute+time.Second {
				t.Errorf("gave up after %s, want just after the 1m re-register timeout", d)
			}
		})
	})
	t.Run("rate", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			st := newMemStore()
			m, err := newMaster(Config{Port: 5050, AgentPingTimeout: time.Second, MaxAgentPingTimeouts: 3, AgentRemovalRateLimit: "1/1mins", Logger: logger(t)})
			must(t, err)
			ctx, cancel := context.WithCancel(t.Context())
			must(t, m.becomeLeader(ctx, st, nil))
			done := make(chan error, 1)
			go func() { done <- m.lead(ctx) }()
			for i := range 3 {
				_, err := m.register(api.RegisterRequest{Agent: api.AgentInfo{Hostname: fmt.Sprint("a", i), Port: 1, Resources: mustRes(t, "cpus:1")}})
				must(t, err)
			}
			unreachable := func() float64 { return m.metrics.Snapshot()["master/slaves_unreachable"] }
			start := time.Now()
			for _, want := range []struct {
				at time.Duration
				n  float64
			}{{3500 * time.Millisecond, 1}, {63 * time.Second, 1}, {64 * time.Second, 2}, {123 * time.Second, 2}, {124 * time.Second, 3}} {
				time.Sleep(want.at - time.Since(start))
				synctest.Wait()
				if got := unreachable(); got != want.n {
					t.Errorf("at %s: %v agents unreachable, want %v", want.at, got, want.n)
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("lead: %v", err)
			}
			m.stepDown()
		})
	})
}

// An agent marked gone: its tasks end, its entry moves to the gone list,
// and every request naming its id is refused with 410 and the shutdown
// body, also after a leader change. Registering anew, it gets a new id and
// the tasks it still reports are killed, never adopted.
func TestMarkGoneFencesAgent(t *testing.T) {
	h, srv := newHTTPHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024")
	plain := h.subscribe(api.FrameworkInfo{Name: "plain"})
	plain.running(ag, "p1")
	pa := h.subscribe(api.FrameworkInfo{Name: "pa", Capabilities: []api.Capability{{Type: api.CapabilityPartitionAware}}})
	h.advance(5 * time.Second)
	pa.running(ag, "q1")

	stream, err := http.Get(srv.URL + api.PathStream + "?agent_id=" + ag)
	must(t, err)
	defer stream.Body.Close()
	if stream.StatusCode != 200 {
		t.Fatalf("stream: %s", stream.Status)
	}

	resp := post(t, srv.URL+"/master/agents/nope/gone", "", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("gone of an unknown agent: %s", resp.Status)
	}
	resp = post(t, srv.URL+"/master/agents/"+ag+"/gone", "", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("gone: %s", resp.Status)
	}
	if _, err := io.Copy(io.Discard, stream.Body); err != nil {
		t.Errorf("stream: %v", err)
	} // ends: the stream was closed
	if st := plain.update(); st.TaskID.Value != "p1" || st.State != api.TaskLost || st.Reason != api.ReasonAgentRemoved {
		t.Errorf("plain update %s", fmtStatus(st))
	}
	if st := pa.update(); st.TaskID.Value != "q1" || st.State != api.TaskGoneByOperator || st.Reason != api.ReasonAgentRemoved {
		t.Errorf("pa update %s", fmtStatus(st))
	}
	h.flush()
	if _, ok := h.registryEntry(ag); ok {
		t.Error("gone agent still among the registry's agents")
	}
	wantStrings(t, "gone list", h.st.keys(keyGonePrefix), []string{keyGonePrefix + ag})
	h.wantMetrics(map[string]float64{"master/slave_removals": 1, "master/tasks_gone_by_operator": 1, "master/cpus_used": 0})
	resp = post(t, srv.URL+"/master/agents/"+ag+"/gone", "", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("gone again: %s", resp.Status)
	}

	wantBody := `{"message":"agent ` + ag + ` has been removed: register anew","shutdown":true}` + "\n"
	check := func(what string, resp *http.Response) {
		t.Helper()
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != api.StatusAgentRemoved || string(body) != wantBody {
			t.Errorf("%s: %s %s, want 410 %s", what, resp.Status, body, wantBody)
		}
	}
	reg := `{"agent":{"id":"` + ag + `","hostname":"a1","ip":"10.0.0.1","port":5051,"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":2}}]},
		"tasks":[{"framework_id":{"value":"` + pa.id() + `"},"task":{"name":"q1","task_id":{"value":"q1"}},"state":"TASK_RUNNING"}]}`
	check("re-register", post(t, srv.URL+api.PathRegister, reg, nil))
	check("ping", post(t, srv.URL+api.PathPing, `{"agent_id":"`+ag+`"}`, nil))
	check("status", post(t, srv.URL+api.PathStatus, `{"agent_id":{"value":"`+ag+`"},"framework_id":{"value":"`+pa.id()+`"},"status":{"task_id":{"value":"q1"},"state":"TASK_RUNNING","uuid":"AAAAAAAAAAAAAAAAAAAAAQ=="}}`, nil))
	s, err := http.Get(srv.URL + api.PathStream + "?agent_id=" + ag)
	must(t, err)
	check("stream", s)
	var removed api.AgentRemoved
	must(t, json.Unmarshal([]byte(wantBody), &removed))
	if !removed.Shutdown {
		t.Error("AgentRemoved.Shutdown does not decode")
	}
	if got := h.taskState(pa.id(), "q1"); got != api.TaskGoneByOperator {
		t.Errorf("q1 %s after the fenced agent's requests", got)
	}

	// Still fenced under a new leader.
	h.restart()
	if _, err := h.m.register(api.RegisterRequest{Agent: api.AgentInfo{ID: ag, Hostname: "a1", Port: 5051}}); !errors.Is(err, ErrAgentGone) {
		t.Fatalf("re-register after a leader change: %v, want ErrAgentGone", err)
	}
	// Registering anew, reporting the old tasks: they are killed.
	pa2 := h.subscribe(api.FrameworkInfo{Name: "pa", ID: &api.ID{Value: pa.id()}, Capabilities: []api.Capability{{Type: api.CapabilityPartitionAware}}})
	nu := h.agent("a1", "cpus:2;mem:1024", api.AgentTask{FrameworkID: api.ID{Value: pa.id()}, Task: mkTask("q1", "cpus:0.1;mem:32"), State: api.TaskRunning},
		api.AgentTask{FrameworkID: api.ID{Value: pa.id()}, Task: mkTask("q9", "cpus:0.1;mem:32"), State: api.TaskRunning})
	if nu == ag || strings.TrimSpace(nu) == "" {
		t.Fatalf("new id %q", nu)
	}
	wantStrings(t, "messages to the new agent", msgTypes(h.messages(nu)), []string{"KILL q1", "KILL q9"})
	if got := h.taskState(pa.id(), "q1"); got != api.TaskGoneByOperator {
		t.Errorf("q1 %s: re-adopted", got)
	}
	if got := h.taskState(pa.id(), "q9"); got != "" {
		t.Errorf("q9 %s: adopted from a new agent", got)
	}
	if us := pa2.updates(); len(us) != 0 {
		t.Errorf("updates %v", us)
	}
	// Reconciliation of an unknown task on the gone agent (https://mesos.apache.org/documentation/latest/reconciliation/, an unknown task).
	must(t, h.m.Reconcile(pa2.sub, api.ReconcileCall{Tasks: []api.ReconcileTask{{TaskID: api.ID{Value: "zz"}, AgentID: &api.ID{Value: ag}}}}))
	if st := pa2.update(); st.State != api.TaskGoneByOperator || st.Reason != api.ReasonReconciliation {
		t.Errorf("reconcile on a gone agent: %s", fmtStatus(st))
	}
	if got := h.metric("master/cpus_used"); got != 0 {
		t.Errorf("cpus_used %v", got)
	}
}

// An unreachable agent may re-register, also with a new leader: tasks of
// partition-aware frameworks resume (UNREACHABLE → RUNNING), the others
// (told TASK_LOST) are killed.
func TestUnreachableAgentReturnsAfterFailover(t *testing.T) {
	h := newHarness(t, shortPings)
	ag := h.agent("a1", "cpus:2;mem:1024")
	plain := h.subscribe(api.FrameworkInfo{Name: "plain", FailoverTimeout: 3600})
	plain.running(ag, "p1")
	pa := h.subscribe(api.FrameworkInfo{Name: "pa", FailoverTimeout: 3600, Capabilities: []api.Capability{{Type: api.CapabilityPartitionAware}}})
	h.advance(5 * time.Second)
	must(t, h.m.ping(ag))
	pa.running(ag, "q1")
	h.advance(5*time.Second + time.Millisecond)
	if h.metric("master/slaves_unreachable") != 1 {
		t.Fatal("agent not marked unreachable")
	}
	h.restart(shortPings)
	pa2 := h.subscribe(api.FrameworkInfo{Name: "pa", FailoverTimeout: 3600, ID: &api.ID{Value: pa.id()}, Capabilities: []api.Capability{{Type: api.CapabilityPartitionAware}}})
	h.reregister(ag, "a1", "cpus:2;mem:1024",
		api.AgentTask{FrameworkID: api.ID{Value: plain.id()}, Task: mkTask("p1", "cpus:0.1;mem:32"), State: api.TaskRunning},
		api.AgentTask{FrameworkID: api.ID{Value: pa.id()}, Task: mkTask("q1", "cpus:0.1;mem:32"), State: api.TaskRunning})
	wantStrings(t, "messages", msgTypes(h.messages(ag)), []string{"KILL p1"})
	if st := pa2.update(); st.TaskID.Value != "q1" || st.State != api.TaskRunning {
		t.Errorf("pa update %s", fmtStatus(st))
	}
	if e, _ := h.registryEntry(ag); e.UnreachableTime != nil {
		t.Error("registry still holds the agent as unreachable")
	}
	h.wantMetrics(map[string]float64{"master/slaves_unreachable": 0, "master/slaves_active": 1, "master/tasks_running": 1})
	if got := h.taskState(plain.id(), "p1"); got != api.TaskLost {
		t.Errorf("p1 %s until the agent reports the kill", got)
	}
	h.report(ag, plain.id(), "p1", api.TaskKilled)
	if got := h.taskState(plain.id(), "p1"); got != api.TaskKilled {
		t.Errorf("p1 %s", got)
	}
}
