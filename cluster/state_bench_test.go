package cluster

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"nodectl/cluster/api"
)

// BenchmarkStateSummary answers GET /state-summary on a leader with
// agents × 30 running tasks of one framework (the bench-scale shape:
// 10,000 agents and 300,000 tasks is the goal's size).
//
//	go test -run '^$' -bench StateSummary -benchtime 5x ./cluster/
func BenchmarkStateSummary(b *testing.B) {
	for _, agents := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("agents=%d", agents), func(b *testing.B) {
			h := busyCluster(b, agents)
			var w countingWriter
			for b.Loop() {
				w = countingWriter{header: http.Header{}}
				h.m.handleStateSummary(&w, httptest.NewRequest("GET", "/state-summary", nil))
			}
			b.ReportMetric(float64(w.n)/(1<<20), "MiB")
		})
	}
}

// BenchmarkMetricsSnapshot is one /metrics/snapshot of a leader with 30
// running tasks on each agent.
func BenchmarkMetricsSnapshot(b *testing.B) {
	for _, agents := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("agents=%d", agents), func(b *testing.B) {
			h := busyCluster(b, agents)
			for b.Loop() {
				h.m.metrics.Snapshot()
			}
		})
	}
}

// busyCluster is a leader with the given agents, each running 30 tasks of
// one framework; the timer starts after it.
func busyCluster(b *testing.B, agents int) *harness {
	h := newHarness(b)
	for i := range agents {
		h.agent(fmt.Sprintf("host-%05d", i), "cpus:32;mem:65536")
	}
	f := h.subscribe(api.FrameworkInfo{Name: "bench"})
	n := 0
	for _, o := range f.offers() {
		tasks := make([]api.TaskInfo, 30)
		for j := range tasks {
			tasks[j] = mkTask(fmt.Sprintf("t%07d", n), "cpus:0.1;mem:32")
			n++
		}
		f.launch(o, tasks...)
		for _, t := range tasks {
			h.report(o.AgentID.Value, f.id(), t.TaskID.Value, api.TaskRunning)
		}
	}
	h.flush()
	b.ReportMetric(float64(n), "tasks")
	b.ResetTimer()
	return h
}

// countingWriter is a ResponseWriter that keeps only the answer's size, as
// a socket would keep nothing.
type countingWriter struct {
	header http.Header
	n      int
}

func (w *countingWriter) Header() http.Header { return w.header }
func (w *countingWriter) WriteHeader(int)     {}
func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

// BenchmarkBecomeLeader is a standby taking over: its decoded copy of the
// state (agents × 30 running tasks) installed as a leader's
// (becomeLeaderFrom with the standby's records; decoding them is not
// timed). kill -9 of a 10,000-agent leader → the new one's first write
// is mostly this, under the master's lock.
//
//	go test -run '^$' -bench BecomeLeader -benchtime 3x ./cluster/
func BenchmarkBecomeLeader(b *testing.B) {
	for _, agents := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("agents=%d", agents), func(b *testing.B) {
			h := busyCluster(b, agents)
			h.flush()
			cfg := h.m.cfg
			h.m.stepDown()
			for b.Loop() {
				b.StopTimer()
				rec, err := loadState(context.Background(), h.st, nil)
				if err != nil {
					b.Fatal(err)
				}
				m, err := newMaster(cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := m.becomeLeaderFrom(context.Background(), h.st, nil, func() *recoveredState { return &rec }); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				m.stepDown()
				b.StartTimer()
			}
		})
	}
}
