package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
		send(api.Event{Type: api.EventSubscribed, Subscribed: &api.SubscribedEvent{FrameworkID: api.ID{Value: "fw"}}})
		if first {
			rs, _ := api.ParseResources("cpus:1;mem:64")
			send(api.Event{Type: api.EventOffers, Offers: &api.OffersEvent{Offers: []api.Offer{{ID: api.ID{Value: "o1"}, AgentID: api.ID{Value: "a1"}, Hostname: "h", Resources: rs}}}})
			<-f.accepted
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
		ch := f.stream
		f.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		for _, rt := range call.Reconcile.Tasks {
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
	f := &forgetfulMaster{accepted: make(chan struct{})}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cl, err := client.New(client.Config{Server: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := api.ParseResources("cpus:0.1;mem:32")
	spec := executeSpec{name: "lost", resources: rs, command: api.CommandInfo{Value: "true"}, checkpoint: true}
	var out bytes.Buffer
	err = runExecute(context.Background(), context.Background(), &masterAPI{c: cl}, spec, &out)
	var ee *exitError
	if err == nil || !errors.As(err, &ee) || ee.code != 1 {
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
}
