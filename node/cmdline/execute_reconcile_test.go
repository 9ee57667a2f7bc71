package cmdline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"nodectl/cluster/api"
	"nodectl/cluster/client"
)

// forgetfulMaster is a scheduler endpoint whose leader fails over right
// after it accepted a launch it never recorded: the new one sends nothing
// for the task until asked (RECONCILE), then answers TASK_LOST, as a
// Mesos master does for a task unknown to a registered agent.
type forgetfulMaster struct {
	// stale: the first RECONCILE after the failover is not answered (the
	// agent is still re-registering); the agent's re-sent TASK_STARTING
	// comes instead, and only later RECONCILEs are answered TASK_LOST.
	stale bool
	// silent: the first leader hangs after the launch (a stream that stays
	// open, with no event); SUBSCRIBED names a heartbeat of heartbeat s.
	silent    bool
	heartbeat float64

	mu         sync.Mutex
	subscribes int
	reconciled []api.ReconcileCall
	stream     chan api.Event // the live subscription's events
	accepted   chan struct{}
}

func (f *forgetfulMaster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/slaves" {
		_, _ = w.Write([]byte(`{"slaves":[]}`))
		return
	}
	var call api.Call
	if err := json.NewDecoder(r.Body).Decode(&call); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch call.Type {
	case api.CallSubscribe:
		f.mu.Lock()
		f.subscribes++
		first := f.subscribes == 1
		ch := make(chan api.Event, 8)
		f.stream = ch
		f.mu.Unlock()
		w.Header().Set(api.StreamIDHeader, "s")
		send := func(ev api.Event) bool {
			b, _ := json.Marshal(ev)
			if api.WriteRecord(w, b) != nil {
				return false
			}
			w.(http.Flusher).Flush()
			return true
		}
		send(api.Event{Type: api.EventSubscribed, Subscribed: &api.SubscribedEvent{FrameworkID: api.ID{Value: "fw"}, HeartbeatIntervalSeconds: f.heartbeat}})
		if first {
			rs, _ := api.ParseResources("cpus:1;mem:64")
			send(api.Event{Type: api.EventOffers, Offers: &api.OffersEvent{Offers: []api.Offer{{ID: api.ID{Value: "o1"}, AgentID: api.ID{Value: "a1"}, Hostname: "h", Resources: rs}}}})
			<-f.accepted
			if f.silent {
				<-r.Context().Done() // hung: open, silent, until the client leaves
			}
			return // the leader dies: the stream ends
		}
		for {
			select {
			case ev := <-ch:
				if !send(ev) {
					return
				}
			case <-r.Context().Done():
				return
			}
		}
	case api.CallAccept:
		w.WriteHeader(http.StatusAccepted)
		close(f.accepted)
	case api.CallReconcile:
		f.mu.Lock()
		f.reconciled = append(f.reconciled, *call.Reconcile)
		n := len(f.reconciled)
		ch := f.stream
		f.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		for _, rt := range call.Reconcile.Tasks {
			if f.stale && n == 1 {
				ch <- api.Event{Type: api.EventUpdate, Update: &api.UpdateEvent{Status: api.TaskStatus{
					TaskID: rt.TaskID, AgentID: rt.AgentID, State: api.TaskStarting, Source: api.SourceExecutor,
					UUID: bytes.Repeat([]byte{1}, 16)}}}
				continue
			}
			ch <- api.Event{Type: api.EventUpdate, Update: &api.UpdateEvent{Status: api.TaskStatus{
				TaskID: rt.TaskID, AgentID: rt.AgentID, State: api.TaskLost, Source: api.SourceMaster,
				Reason: api.ReasonReconciliation, Message: "Reconciliation: task is unknown to the agent"}}}
		}
	default:
		w.WriteHeader(http.StatusAccepted)
	}
}

// A launch the failed-over master forgot ends TASK_LOST through explicit
// reconciliation after the re-subscription, instead of waiting forever.
func TestExecuteReconcilesAfterResubscribe(t *testing.T) {
	runForgotten(t, &forgetfulMaster{accepted: make(chan struct{})})
}

// The window of issue 16's vanished TestKill9Loop task: after a kill -9
// right after TASK_STARTING, the restarted master has no record of the
// task, forwards the agent's re-sent TASK_STARTING, and says TASK_LOST
// only when asked again once the agent re-registered without it. execute
// used to stop reconciling at the first update for its task and waited
// until its caller's timeout.
func TestExecuteKeepsReconcilingPastAStaleUpdate(t *testing.T) {
	f := runForgotten(t, &forgetfulMaster{accepted: make(chan struct{}), stale: true})
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reconciled) < 2 {
		t.Errorf("%d RECONCILE calls, want a retry after the stale TASK_STARTING", len(f.reconciled))
	}
}

// A subscription that goes silent (no event, not even a HEARTBEAT, for
// five heartbeat intervals) is given up and re-subscribed, as the Mesos
// scheduler HTTP API asks, instead of being waited on forever.
func TestExecuteResubscribesASilentStream(t *testing.T) {
	runForgotten(t, &forgetfulMaster{accepted: make(chan struct{}), silent: true, heartbeat: 0.05})
}

// runForgotten runs execute against f and checks that it ends TASK_LOST
// after a re-subscription and a reconciliation naming the task's agent.
func runForgotten(t *testing.T, f *forgetfulMaster) *forgetfulMaster {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cl, err := client.New(client.Config{Server: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := api.ParseResources("cpus:0.1;mem:32")
	spec := executeSpec{name: "lost", resources: rs, command: api.CommandInfo{Value: "true"}, checkpoint: true}
	var out bytes.Buffer
	err = runExecute(context.Background(), context.Background(), &masterAPI{c: cl}, spec, execIO{stdout: io.Discard, stderr: io.Discard, status: &out})
	var ee *exitError
	if err == nil || !errors.As(err, &ee) || ee.Code != 1 {
		t.Fatalf("execute: %v, want exit 1\n%s", err, out.String())
	}
	for _, want := range []string{"Submitted task 'lost.", "Re-subscribed", "Received status update TASK_LOST", "reason: REASON_RECONCILIATION"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reconciled) == 0 || len(f.reconciled[0].Tasks) != 1 || f.reconciled[0].Tasks[0].AgentID == nil || f.reconciled[0].Tasks[0].AgentID.Value != "a1" {
		t.Errorf("reconcile calls %+v, want one naming the task on agent a1", f.reconciled)
	}
	return f
}
