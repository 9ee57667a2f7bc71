package node_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nodectl/cluster/api"
	"nodectl/node/nodetest"
)

// BenchmarkTaskPath1000Agents runs the real master (in-process, real
// etcd) with 1,000 simulated agents whose runtime does no work (LAUNCH →
// RUNNING → FINISHED through the real status path, ACKs processed) and
// one framework on the v1 HTTP API launching as fast as offers allow. It
// reports tasks/s finished and acknowledged end to end (b.N tasks; run
// with -benchtime 20000x). Profile with
//
//	go test ./node -run '^$' -bench TaskPath -benchtime 20000x -cpuprofile cpu.out
func BenchmarkTaskPath1000Agents(b *testing.B) {
	benchTaskPath(b, 1000)
}

func benchTaskPath(b *testing.B, agents int) {
	c := nodetest.Start(b, nodetest.Options{AgentPingTimeout: 5 * time.Second})
	client := &http.Client{Transport: agentTLSTransport(b, c, &http.Transport{MaxIdleConns: 4 * agents, MaxIdleConnsPerHost: 4 * agents, IdleConnTimeout: time.Minute})}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	b.Cleanup(func() { cancel(); wg.Wait(); client.CloseIdleConnections() })
	fakes := make([]*fakeAgent, agents)
	for i := range agents {
		a := newFakeAgent(b, client, c.Master.URL(), fmt.Sprintf("sim%04d", i), 10000+i, "cpus:4;mem:4096")
		fakes[i] = a
		wg.Add(1)
		go func() { defer wg.Done(); a.run(ctx) }()
	}
	nodetest.WaitFor(b, 60*time.Second, "simulated agents active", func() bool { return c.Metric("master/slaves_active") == float64(agents) })

	b.ResetTimer()
	start := time.Now()
	fw := newBenchFramework(b, client, c.Master.URL(), b.N)
	fw.run(ctx)
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "tasks/s")
	var launches, acks int64
	for _, a := range fakes {
		launches += a.launches.Load()
		acks += a.acks.Load()
	}
	if launches != int64(b.N) {
		b.Errorf("agents got %d launches, want %d", launches, b.N)
	}
	b.ReportMetric(float64(acks)/float64(b.N), "acks/task")
}

// benchFramework launches want tasks of cpus:0.1;mem:32, filling every
// offer, and acknowledges every update, with a pool of HTTP callers.
type benchFramework struct {
	b        *testing.B
	client   *http.Client
	url      string
	want     int
	launched int
	finished atomic.Int64
	streamID string
	id       string
	calls    chan api.Call
}

func newBenchFramework(b *testing.B, client *http.Client, master string, want int) *benchFramework {
	return &benchFramework{b: b, client: client, url: master + api.PathScheduler, want: want, calls: make(chan api.Call, 4096)}
}

func (f *benchFramework) post(ctx context.Context, call api.Call) {
	body, _ := json.Marshal(call)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(api.StreamIDHeader, f.streamID)
	resp, err := f.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			f.b.Errorf("%s: %v", call.Type, err)
		}
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		f.b.Errorf("%s: %s", call.Type, resp.Status)
	}
}

func (f *benchFramework) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	body := `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"bench","user":"root","failover_timeout":60}}}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil || resp.StatusCode != 200 {
		f.b.Fatalf("subscribe: %v %v", err, resp)
	}
	defer resp.Body.Close()
	f.streamID = resp.Header.Get(api.StreamIDHeader)
	var callers sync.WaitGroup
	for range 16 {
		callers.Add(1)
		go func() {
			defer callers.Done()
			for call := range f.calls {
				call.FrameworkID = &api.ID{Value: f.id}
				f.post(ctx, call)
			}
		}()
	}
	defer func() { close(f.calls); callers.Wait() }()
	br := bufio.NewReader(resp.Body)
	zero := 0.0
	for f.finished.Load() < int64(f.want) {
		rec, err := api.ReadRecord(br, 64<<20)
		if err != nil {
			f.b.Fatalf("event stream: %v", err)
		}
		var ev api.Event
		if err := json.Unmarshal(rec, &ev); err != nil {
			f.b.Fatal(err)
		}
		switch ev.Type {
		case api.EventSubscribed:
			f.id = ev.Subscribed.FrameworkID.Value
		case api.EventOffers:
			for _, o := range ev.Offers.Offers {
				n := int(min(o.Resources.Scalar("cpus")/0.1, o.Resources.Scalar("mem")/32))
				n = min(n, f.want-f.launched)
				var tasks []api.TaskInfo
				for range n {
					tasks = append(tasks, api.TaskInfo{
						Name: "t", TaskID: api.ID{Value: fmt.Sprintf("t%d", f.launched)}, AgentID: o.AgentID,
						Resources: api.Resources{api.ScalarResource("cpus", 0.1), api.ScalarResource("mem", 32)},
						Command:   &api.CommandInfo{Value: "true"},
					})
					f.launched++
				}
				accept := &api.AcceptCall{OfferIDs: []api.ID{o.ID}, Filters: &api.Filters{RefuseSeconds: &zero}}
				if len(tasks) > 0 {
					accept.Operations = []api.Operation{{Type: api.OperationLaunch, Launch: &api.LaunchOperation{TaskInfos: tasks}}}
				}
				f.calls <- api.Call{Type: api.CallAccept, Accept: accept}
			}
			if f.launched >= f.want {
				f.calls <- api.Call{Type: api.CallSuppress}
			}
		case api.EventUpdate:
			st := ev.Update.Status
			if len(st.UUID) > 0 {
				f.calls <- api.Call{Type: api.CallAcknowledge, Acknowledge: &api.AcknowledgeCall{AgentID: *st.AgentID, TaskID: st.TaskID, UUID: st.UUID}}
			}
			switch {
			case st.State == api.TaskFinished:
				f.finished.Add(1)
			case st.State.Terminal() || st.State == api.TaskLost:
				f.b.Fatalf("task %s: %s %s %s", st.TaskID.Value, st.State, st.Reason, st.Message)
			}
		}
	}
}
