package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
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
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/events"
)

// benchLaunchTasks is how many tasks one batch launches.
const benchLaunchTasks = 24

// BenchmarkSchedulerLaunchProtobufVsJSON: launch throughput of the v1
// scheduler API through mesos-go's HTTP scheduler library (vendored under
// testdata/thirdparty), with its default protobuf codec and with JSON, in
// the same run against the same node. Each iteration runs one batch per
// codec (which goes first alternates): a fresh framework subscribes, then
// launches benchLaunchTasks short tasks (`true`), one LAUNCH per ACCEPT,
// acknowledging every update, until all have reached TASK_FINISHED; the
// clock runs from SUBSCRIBED to the last TASK_FINISHED. Reported: tasks/s
// for each codec and protobuf/JSON. The tasks' containers dominate the
// time, so the ratio says how much the codec costs a real framework.
func BenchmarkSchedulerLaunchProtobufVsJSON(b *testing.B) {
	n := newNode(b)
	creds := filepath.Join(b.TempDir(), "credentials.json")
	cb, _ := json.Marshal(map[string]any{"credentials": []map[string]string{{"principal": clientPrincipal, "secret": clientSecret}}})
	if err := os.WriteFile(creds, cb, 0o600); err != nil {
		b.Fatal(err)
	}
	start(b, n.args("all", "--quiet", "--credentials", creds, "--resources", "cpus:4;mem:4096;disk:1024;ports:[31000-31999]")...)
	waitFor(b, 30*time.Second, "agent active", func() bool {
		s := slaves(b, n.url())
		return len(s) == 1 && s[0].Active
	})
	var took = map[bool]time.Duration{}
	b.ResetTimer()
	for i := range b.N {
		order := []bool{true, false}
		if i%2 == 1 { // alternate which codec goes first
			order = []bool{false, true}
		}
		for _, useJSON := range order {
			took[useJSON] += launchBatch(b, n, useJSON, fmt.Sprintf("bench-%d-%t", i, useJSON))
		}
	}
	b.StopTimer()
	total := float64(b.N * benchLaunchTasks)
	jsonRate, protoRate := total/took[true].Seconds(), total/took[false].Seconds()
	b.ReportMetric(jsonRate, "tasks/s-json")
	b.ReportMetric(protoRate, "tasks/s-protobuf")
	b.ReportMetric(protoRate/jsonRate, "protobuf/json")
}

// launchBatch runs one framework through benchLaunchTasks launches and
// returns the time from SUBSCRIBED to the last TASK_FINISHED.
func launchBatch(b *testing.B, n node, useJSON bool, prefix string) time.Duration {
	me, err := user.Current()
	if err != nil {
		b.Fatal(err)
	}
	cfg := []httpcli.Opt{
		httpcli.Endpoint(n.url() + "/api/v1/scheduler"),
		httpcli.Do(httpcli.With(httpcli.TLSConfig(clientsTLS(b, n)), httpcli.BasicAuth(clientPrincipal, clientSecret))),
	}
	if useJSON {
		cfg = append(cfg, httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeJSON]))
	}
	fidStore := store.NewInMemorySingleton()
	cli := callrules.New(callrules.WithFrameworkID(store.GetIgnoreErrors(fidStore))).Caller(httpsched.NewCaller(httpcli.New(cfg...)))
	principal := clientPrincipal
	info := &mesos.FrameworkInfo{User: me.Username, Name: prefix, Principal: &principal}

	var mu sync.Mutex
	var began, ended time.Time
	launched, finished := 0, 0
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	shell := true
	cmd := "true"
	offers := func(ctx context.Context, e *scheduler.Event) error {
		for _, o := range e.GetOffers().GetOffers() {
			mu.Lock()
			next := launched
			if next < benchLaunchTasks {
				launched++
			}
			mu.Unlock()
			if next >= benchLaunchTasks {
				if err := calls.CallNoData(ctx, cli, calls.Decline(o.ID).With(calls.RefuseSeconds(time.Hour))); err != nil {
					fail(err)
				}
				continue
			}
			var rs []mesos.Resource
			for _, r := range o.Resources {
				want := map[string]float64{"cpus": 0.05, "mem": 32}[r.Name]
				if want == 0 || r.Scalar == nil || r.Scalar.Value < want {
					continue
				}
				r.Scalar = &mesos.Value_Scalar{Value: want}
				rs = append(rs, r)
			}
			id := fmt.Sprintf("%s-%d", prefix, next)
			task := mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID, Resources: rs,
				Command: &mesos.CommandInfo{Shell: &shell, Value: &cmd}}
			// The rest of the offer comes straight back for the next task.
			accept := calls.Accept(calls.OfferOperations{calls.OpLaunch(task)}.WithOffers(o.ID)).With(calls.RefuseSeconds(0))
			if err := calls.CallNoData(ctx, cli, accept); err != nil {
				fail(err)
			}
		}
		return nil
	}
	update := func(_ context.Context, e *scheduler.Event) error {
		st := e.GetUpdate().GetStatus()
		mu.Lock()
		defer mu.Unlock()
		switch st.GetState() {
		case mesos.TASK_FINISHED:
			finished++
			if finished == benchLaunchTasks {
				ended = time.Now()
			}
		case mesos.TASK_RUNNING, mesos.TASK_STARTING:
		default:
			if firstErr == nil {
				firstErr = fmt.Errorf("task %s: %s %s", st.TaskID.Value, st.GetState(), st.GetMessage())
			}
		}
		return nil
	}
	subscribed := func(context.Context, *scheduler.Event) error {
		mu.Lock()
		defer mu.Unlock()
		began = time.Now()
		return nil
	}
	handler := events.Handlers{
		scheduler.Event_SUBSCRIBED: eventrules.New(controller.TrackSubscription(fidStore, 0)).HandleF(subscribed),
		scheduler.Event_OFFERS:     events.HandlerFunc(offers),
		scheduler.Event_UPDATE:     controller.AckStatusUpdates(cli).AndThen().HandleF(update),
	}
	tokens := make(chan struct{}, 1)
	tokens <- struct{}{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- controller.Run(ctx, info, cli, controller.WithEventHandler(handler),
			controller.WithFrameworkID(store.GetIgnoreErrors(fidStore)), controller.WithRegistrationTokens(tokens))
	}()
	defer func() { cancel(); <-done }()
	waitFor(b, 5*time.Minute, "every task of the batch finished", func() bool {
		mu.Lock()
		defer mu.Unlock()
		if firstErr != nil {
			b.Fatalf("%s: %v", prefix, firstErr)
		}
		return !ended.IsZero()
	})
	if err := calls.CallNoData(ctx, cli, &scheduler.Call{Type: scheduler.Call_TEARDOWN}); err != nil {
		b.Fatalf("TEARDOWN: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return ended.Sub(began)
}
