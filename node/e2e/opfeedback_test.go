package e2e

import (
	"context"
	"os/user"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/callrules"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/controller"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/eventrules"
	"github.com/mesos/mesos-go/api/v1/lib/extras/store"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/apierrors"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/events"
)

// TestClientsMesosGoOperationFeedback: mesos-go's HTTP scheduler library,
// unchanged, with its default protobuf codec, on a real node: a RESERVE
// with an operation id gets UPDATE_OPERATION_STATUS OPERATION_FINISHED
// (with a uuid), which the framework acknowledges;
// RECONCILE_OPERATIONS answers the known operation and OPERATION_UNKNOWN
// for an unknown one; UPDATE_FRAMEWORK renames the framework (as /state
// then shows) and a change of user is refused (400).
func TestClientsMesosGoOperationFeedback(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n, _ := clientsStartNode(t)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	fidStore := store.NewInMemorySingleton()
	cli := callrules.New(callrules.WithFrameworkID(store.GetIgnoreErrors(fidStore))).Caller(mesosCaller(t, n, clientSecret, false))
	principal, role := clientPrincipal, "clients"
	info := &mesos.FrameworkInfo{
		User: me.Username, Name: "mesos-go-opfeedback", Principal: &principal, Roles: []string{role},
		Capabilities: []mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE}},
	}
	var mu sync.Mutex
	var statuses []mesos.OperationStatus
	var callErr error
	reserved := false
	offers := func(ctx context.Context, e *scheduler.Event) error {
		for _, o := range e.GetOffers().GetOffers() {
			mu.Lock()
			first := !reserved
			reserved = true
			mu.Unlock()
			if !first {
				_ = calls.CallNoData(ctx, cli, calls.Decline(o.ID))
				continue
			}
			var alloc *mesos.Resource_AllocationInfo
			for _, r := range o.Resources {
				if r.Name == "cpus" {
					alloc = r.AllocationInfo
				}
			}
			res := mesos.Resource{
				Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 0.1}, AllocationInfo: alloc,
				Reservations: []mesos.Resource_ReservationInfo{{Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: &role, Principal: &principal}},
			}
			op := calls.OpReserve(res)
			op.ID = &mesos.OperationID{Value: "e2e-op-1"}
			if err := calls.CallNoData(ctx, cli, calls.Accept(calls.OfferOperations{op}.WithOffers(o.ID))); err != nil {
				mu.Lock()
				callErr = err
				mu.Unlock()
			}
		}
		return nil
	}
	opStatus := func(_ context.Context, e *scheduler.Event) error {
		mu.Lock()
		defer mu.Unlock()
		statuses = append(statuses, e.GetUpdateOperationStatus().GetStatus())
		return nil
	}
	handler := events.Handlers{
		scheduler.Event_SUBSCRIBED:              eventrules.New(controller.TrackSubscription(fidStore, 0)),
		scheduler.Event_OFFERS:                  events.HandlerFunc(offers),
		scheduler.Event_UPDATE_OPERATION_STATUS: events.HandlerFunc(opStatus),
	}
	tokens := make(chan struct{}, 1)
	tokens <- struct{}{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- controller.Run(ctx, info, cli, controller.WithEventHandler(handler),
			controller.WithFrameworkID(store.GetIgnoreErrors(fidStore)), controller.WithRegistrationTokens(tokens))
	}()
	t.Cleanup(func() { cancel(); <-done })
	seen := func(n int) []mesos.OperationStatus {
		var out []mesos.OperationStatus
		waitFor(t, 60*time.Second, "operation statuses", func() bool {
			mu.Lock()
			defer mu.Unlock()
			if callErr != nil {
				t.Fatalf("ACCEPT: %v", callErr)
			}
			out = append([]mesos.OperationStatus(nil), statuses...)
			return len(out) >= n
		})
		return out
	}
	st := seen(1)[0]
	if st.State != mesos.OPERATION_FINISHED || st.GetOperationID().GetValue() != "e2e-op-1" || st.UUID == nil || st.AgentID == nil || len(st.ConvertedResources) != 1 {
		t.Fatalf("RESERVE with an id: %+v", st)
	}
	if err := calls.CallNoData(ctx, cli, calls.AcknowledgeOperationStatus(st.AgentID.Value, "", st.UUID.Value, "e2e-op-1")); err != nil {
		t.Fatalf("ACKNOWLEDGE_OPERATION_STATUS: %v", err)
	}
	if err := calls.CallNoData(ctx, cli, calls.ReconcileOperations([]calls.ReconcileOperationRequest{{OperationID: "e2e-op-1"}, {OperationID: "nope", AgentID: st.AgentID.Value}})); err != nil {
		t.Fatalf("RECONCILE_OPERATIONS: %v", err)
	}
	// The acknowledged (terminal) operation is forgotten, as in Mesos:
	// both are unknown now.
	all := seen(3)
	for _, s := range all[1:] {
		if s.State != mesos.OPERATION_UNKNOWN || s.UUID != nil {
			t.Errorf("reconciliation answer %+v, want OPERATION_UNKNOWN without uuid", s)
		}
	}

	fid, _ := fidStore.Get()
	updated := *info
	updated.Name = "mesos-go-renamed"
	updated.ID = &mesos.FrameworkID{Value: fid}
	if err := calls.CallNoData(ctx, cli, calls.UpdateFramework(updated)); err != nil {
		t.Fatalf("UPDATE_FRAMEWORK: %v", err)
	}
	waitFor(t, 10*time.Second, "/state shows the new name", func() bool {
		var s struct {
			Frameworks []struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"frameworks"`
		}
		if getJSON(n.url()+"/state", &s) != nil {
			return false
		}
		for _, f := range s.Frameworks {
			if f.ID == fid {
				return f.Name == "mesos-go-renamed"
			}
		}
		return false
	})
	// Last: mesos-go drops its subscription on a 400.
	bad := updated
	bad.User = "someone-else"
	if err := calls.CallNoData(ctx, cli, calls.UpdateFramework(bad)); !apierrors.CodeMalformedRequest.Matches(err) {
		t.Errorf("UPDATE_FRAMEWORK changing user: %v, want a 400", err)
	}
}
