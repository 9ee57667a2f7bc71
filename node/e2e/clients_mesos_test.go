package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/callrules"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/controller"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/eventrules"
	"github.com/mesos/mesos-go/api/v1/lib/extras/store"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/apierrors"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/events"
	"google.golang.org/protobuf/encoding/protowire"

	"nodectl/cluster/api/mesospb"
)

// clientsFramework is what the mesos-go framework of the test saw.
type clientsFramework struct {
	mu         sync.Mutex
	subscribed *scheduler.Event_Subscribed
	launched   string // the task id, once an offer was accepted
	agent      string // its agent
	states     []mesos.TaskState
	acked      int
	err        error // the first error of a call the handlers made
}

func (f *clientsFramework) snapshot() clientsFramework {
	f.mu.Lock()
	defer f.mu.Unlock()
	return clientsFramework{subscribed: f.subscribed, launched: f.launched, agent: f.agent, states: append([]mesos.TaskState(nil), f.states...), acked: f.acked, err: f.err}
}

func (f *clientsFramework) saw(s mesos.TaskState) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range f.states {
		if x == s {
			return true
		}
	}
	return false
}

// mesosCaller is mesos-go's HTTP scheduler client as its example scheduler
// builds it: the library's default codec (protobuf) unless opts say
// otherwise, HTTP Basic through the library's own httpcli.BasicAuth, TLS
// with the cluster CA.
func mesosCaller(t *testing.T, n node, secret string, json bool, opts ...httpsched.Option) calls.Caller {
	cfg := []httpcli.Opt{
		httpcli.Endpoint(n.url() + "/api/v1/scheduler"),
		httpcli.Do(httpcli.With(
			httpcli.TLSConfig(clientsTLS(t, n)),
			httpcli.BasicAuth(clientPrincipal, secret),
		)),
	}
	if json {
		cfg = append(cfg, httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeJSON]))
	}
	return httpsched.NewCaller(httpcli.New(cfg...), opts...)
}

// mesos-go's v1 scheduler library with HTTP Basic and its JSON codec:
// SUBSCRIBE, an offer, LAUNCH of a short command task, TASK_RUNNING and
// TASK_FINISHED (acknowledged by the library's AckStatusUpdates),
// TEARDOWN; the SUBSCRIBED event's master_info decodes into Mesos'
// MasterInfo. A wrong secret cannot subscribe.
func TestClientsMesosGoScheduler(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	runMesosGo(t, true)
}

// The same library unchanged, with its default codec: protobuf calls and
// RecordIO-framed protobuf events. The task runs until the framework
// kills it (KILL, TASK_KILLED acknowledged), then TEARDOWN.
func TestClientsMesosGoSchedulerProtobuf(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	runMesosGo(t, false)
}

func runMesosGo(t *testing.T, useJSON bool) {
	n, _ := clientsStartNode(t)
	kill := !useJSON
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}

	fidStore := store.NewInMemorySingleton()
	cli := callrules.New(callrules.WithFrameworkID(store.GetIgnoreErrors(fidStore))).Caller(mesosCaller(t, n, clientSecret, useJSON))
	f := &clientsFramework{}
	fail := func(err error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.err == nil {
			f.err = err
		}
	}
	principal := clientPrincipal
	info := &mesos.FrameworkInfo{
		User: me.Username, Name: "mesos-go-e2e", Principal: &principal,
		Roles:        []string{"clients"},
		Capabilities: []mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE}},
	}
	cmd := "sleep 1 # " + appMark(7101)
	if kill {
		cmd = "sleep 600 # " + appMark(7102)
	}

	offers := func(ctx context.Context, e *scheduler.Event) error {
		for _, o := range e.GetOffers().GetOffers() {
			f.mu.Lock()
			launch := f.launched == ""
			id := "clients-task-" + strconv.Itoa(int(time.Now().UnixNano()%1e6))
			if launch {
				f.launched, f.agent = id, o.AgentID.Value
			}
			f.mu.Unlock()
			if !launch {
				if err := calls.CallNoData(ctx, cli, calls.Decline(o.ID)); err != nil {
					fail(err)
				}
				continue
			}
			// cpus 0.1 and mem 32 taken from the offer, with its
			// allocation_info (MULTI_ROLE).
			var rs []mesos.Resource
			for _, r := range o.Resources {
				want := map[string]float64{"cpus": 0.1, "mem": 32}[r.Name]
				if want == 0 || r.Scalar == nil || r.Scalar.Value < want {
					continue
				}
				r.Scalar = &mesos.Value_Scalar{Value: want}
				rs = append(rs, r)
			}
			shell := true
			task := mesos.TaskInfo{
				Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID, Resources: rs,
				Command: &mesos.CommandInfo{Shell: &shell, Value: &cmd},
			}
			accept := calls.Accept(calls.OfferOperations{calls.OpLaunch(task)}.WithOffers(o.ID))
			if err := calls.CallNoData(ctx, cli, accept); err != nil {
				fail(err)
			}
		}
		return nil
	}
	update := func(_ context.Context, e *scheduler.Event) error {
		st := e.GetUpdate().GetStatus()
		f.mu.Lock()
		defer f.mu.Unlock()
		if st.TaskID.Value == f.launched {
			f.states = append(f.states, st.GetState())
			if len(st.GetUUID()) > 0 {
				f.acked++
			}
		}
		return nil
	}
	subscribed := func(_ context.Context, e *scheduler.Event) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.subscribed = e.GetSubscribed()
		return nil
	}
	handler := events.Handlers{
		scheduler.Event_SUBSCRIBED: eventrules.New(controller.TrackSubscription(fidStore, 0)).HandleF(subscribed),
		scheduler.Event_OFFERS:     events.HandlerFunc(offers),
		scheduler.Event_UPDATE:     controller.AckStatusUpdates(cli).AndThen().HandleF(update),
	}

	// One registration token: the controller subscribes once and, once
	// that subscription ends, waits for a token until ctx is done.
	tokens := make(chan struct{}, 1)
	tokens <- struct{}{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var subscriptionErrs []error
	var ended bool
	var errMu sync.Mutex
	go func() {
		done <- controller.Run(ctx, info, cli,
			controller.WithEventHandler(handler),
			controller.WithFrameworkID(store.GetIgnoreErrors(fidStore)),
			controller.WithRegistrationTokens(tokens),
			controller.WithSubscriptionTerminated(func(err error) {
				errMu.Lock()
				defer errMu.Unlock()
				ended = true
				subscriptionErrs = append(subscriptionErrs, err)
			}),
		)
	}()
	t.Cleanup(func() { cancel(); <-done })
	lastErrs := func() []error {
		errMu.Lock()
		defer errMu.Unlock()
		return append([]error(nil), subscriptionErrs...)
	}

	waitFor(t, 30*time.Second, "SUBSCRIBED", func() bool {
		if errs := lastErrs(); len(errs) > 0 {
			t.Fatalf("subscription ended: %v", errs)
		}
		return f.snapshot().subscribed != nil
	})
	sub := f.snapshot().subscribed
	if sub.FrameworkID == nil || sub.FrameworkID.Value == "" || sub.GetHeartbeatIntervalSeconds() <= 0 {
		t.Errorf("SUBSCRIBED: %+v", sub)
	}
	fid, _ := fidStore.Get()
	if fid != sub.FrameworkID.GetValue() {
		t.Errorf("TrackSubscription stored %q, SUBSCRIBED has %q", fid, sub.FrameworkID.GetValue())
	}
	// Mesos' MasterInfo: ip is the IPv4 address as a uint32 in network
	// byte order read as little-endian (Mesos' net::IP); address is the
	// string form with hostname and port.
	mi := sub.MasterInfo
	if mi == nil || mi.ID == "" || mi.GetPort() != uint32(n.port) || mi.Address == nil || mi.Address.GetIP() != "127.0.0.1" || mi.Address.GetPort() != int32(n.port) {
		t.Errorf("SUBSCRIBED master_info: %+v (address %+v)", mi, mi.GetAddress())
	} else {
		ip := make(net.IP, 4)
		binary.LittleEndian.PutUint32(ip, mi.IP)
		if ip.String() != "127.0.0.1" {
			t.Errorf("master_info.ip %d is %s, want 127.0.0.1", mi.IP, ip)
		}
	}

	waitFor(t, 60*time.Second, "TASK_RUNNING then TASK_FINISHED", func() bool {
		s := f.snapshot()
		if s.err != nil {
			t.Fatalf("call from a handler: %v", s.err)
		}
		if errs := lastErrs(); len(errs) > 0 {
			t.Fatalf("subscription ended: %v (seen %v)", errs, s.states)
		}
		if kill {
			return f.saw(mesos.TASK_RUNNING)
		}
		return f.saw(mesos.TASK_RUNNING) && f.saw(mesos.TASK_FINISHED)
	})
	if kill {
		s := f.snapshot()
		if err := calls.CallNoData(ctx, cli, calls.Kill(s.launched, s.agent)); err != nil {
			t.Fatalf("KILL: %v", err)
		}
		waitFor(t, 60*time.Second, "TASK_KILLED", func() bool {
			if errs := lastErrs(); len(errs) > 0 {
				t.Fatalf("subscription ended: %v (seen %v)", errs, f.snapshot().states)
			}
			return f.saw(mesos.TASK_KILLED)
		})
	}
	s := f.snapshot()
	if s.acked == 0 {
		t.Errorf("no update carried a uuid to acknowledge: %v", s.states)
	}

	if !useJSON {
		mesosOperatorProtobuf(t, n, fid)
	}

	// TEARDOWN answers 202, and the master ends the subscription's stream
	// as Mesos does.
	if err := calls.CallNoData(ctx, cli, &scheduler.Call{Type: scheduler.Call_TEARDOWN}); err != nil {
		t.Fatalf("TEARDOWN: %v", err)
	}
	waitFor(t, 30*time.Second, "the subscription's stream ended", func() bool {
		errMu.Lock()
		defer errMu.Unlock()
		return ended
	})
	waitFor(t, 30*time.Second, "the framework completed", func() bool {
		var st struct {
			Frameworks []struct {
				ID string `json:"id"`
			} `json:"frameworks"`
			Completed []struct {
				ID string `json:"id"`
			} `json:"completed_frameworks"`
		}
		if getJSON(n.url()+"/state", &st) != nil {
			return false
		}
		for _, fw := range st.Frameworks {
			if fw.ID == fid {
				return false
			}
		}
		for _, fw := range st.Completed {
			if fw.ID == fid {
				return true
			}
		}
		return false
	})

	// A wrong secret: the SUBSCRIBE call fails (401) through the library.
	// httpsched retries any failed SUBSCRIBE as a leader change, with
	// backoff (9 times by default); none here.
	bad := mesosCaller(t, n, "not-the-secret", useJSON, httpsched.MaxRedirects(0))
	resp, err := bad.Call(context.Background(), calls.Subscribe(info))
	if resp != nil {
		resp.Close()
	}
	if !apierrors.CodeNotAuthenticated.Matches(err) {
		t.Fatalf("SUBSCRIBE with a wrong secret: %v, want mesos-go's CodeNotAuthenticated (401)", err)
	}
}

// mesosOperatorProtobuf: the operator API (POST /api/v1) in protobuf on a
// real node: GET_HEALTH and GET_AGENTS, a call built byte by byte as Mesos
// numbers it (Call.type is field 1; GET_HEALTH 1, GET_AGENTS 10) and the
// answer's Response.type (field 1) read the same way (in any order), then the whole
// answer decoded; GET_FRAMEWORKS lists the framework fid.
func mesosOperatorProtobuf(t *testing.T, n node, fid string) {
	t.Helper()
	call := func(callType, respType uint64) string {
		body := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), callType)
		req, _ := http.NewRequest("POST", n.url()+"/api/v1", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Accept", "application/x-protobuf")
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Fatalf("operator call %d: %s %v %q", callType, resp.Status, resp.Header, b)
		}
		// Response.type, wherever it is among the top-level fields.
		var got uint64
		for rest := b; len(rest) > 0; {
			num, typ, l := protowire.ConsumeTag(rest)
			if l < 0 {
				t.Fatalf("operator call %d: bad protobuf %x", callType, b)
			}
			rest = rest[l:]
			if num == 1 && typ == protowire.VarintType {
				got, _ = protowire.ConsumeVarint(rest)
			}
			if l = protowire.ConsumeFieldValue(num, typ, rest); l < 0 {
				t.Fatalf("operator call %d: bad protobuf %x", callType, b)
			}
			rest = rest[l:]
		}
		if got != respType {
			t.Fatalf("operator call %d: response type %d, want %d: %x", callType, got, respType, b)
		}
		js, err := mesospb.ToJSON(mesospb.OperatorResponse, b)
		if err != nil {
			t.Fatalf("operator call %d: %v", callType, err)
		}
		return string(js)
	}
	if js := call(1, 1); !strings.Contains(js, `"healthy":true`) {
		t.Errorf("GET_HEALTH: %s", js)
	}
	if js := call(10, 9); !strings.Contains(js, `"agent_info"`) || !strings.Contains(js, `"active":true`) {
		t.Errorf("GET_AGENTS: %s", js)
	}
	if js := call(11, 10); !strings.Contains(js, `"value":"`+fid+`"`) {
		t.Errorf("GET_FRAMEWORKS without %s: %s", fid, js)
	}
}
