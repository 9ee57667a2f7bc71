package apps

import (
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"nodectl/cluster/api"
)

// BenchmarkOfferManyApps: one offer that fits nothing, handled by a
// framework running 200 apps of 20 tasks each. Each offer asks every app
// for its tasks (what to launch, the spread); that used to scan all 4,000
// tasks per app, 800,000 visits per offer (tasksOfLocked now reads an
// index by app).
func BenchmarkOfferManyApps(b *testing.B) {
	h := newHarness(b)
	h.a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	const apps, per = 200, 20
	for i := range apps {
		if code := h.do("POST", "/v2/apps", fmt.Sprintf(`{"id":"/many/a%03d","cmd":"sleep 1000","instances":%d,"cpus":0.01,"mem":1,"portDefinitions":[]}`, i, per), nil); code != 201 {
			b.Fatalf("create app %d: %d", i, code)
		}
	}
	for len(h.fake.launched()) < apps*per {
		before := len(h.fake.launched())
		h.offerFrom(fmt.Sprint("h", before), "cpus:100;mem:100000;disk:1000")
		if len(h.fake.launched()) == before {
			b.Fatalf("placement stalled at %d tasks", before)
		}
	}
	h.runAll()
	b.ResetTimer()
	for b.Loop() {
		h.offerFrom("small", "cpus:0.001;mem:0.1")
	}
}

// BenchmarkListManyApps: GET /v2/apps (with embedded counts) of a
// framework running 10,000 apps of one task each (issue 20: p99 ≤ 50 ms
// at that size), as a new leader would load them.
func BenchmarkListManyApps(b *testing.B) {
	h := newHarness(b)
	h.a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	const apps = 10000
	for i := range apps {
		if code := h.do("POST", "/v2/apps", fmt.Sprintf(`{"id":"/list/a%05d","cmd":"sleep 1000","instances":1,"cpus":0.01,"mem":1,"portDefinitions":[]}`, i), nil); code != 201 {
			b.Fatalf("create app %d: %d", i, code)
		}
	}
	h.a.mu.Lock()
	snap := snapshot{frameworkID: "fw-1", versions: map[string][]string{}}
	for _, st := range h.a.apps {
		snap.apps = append(snap.apps, st.def)
		snap.tasks = append(snap.tasks, &task{ID: taskPrefix(st.def.ID) + ".t", AppID: st.def.ID, Version: st.def.Version,
			ConfigVersion: st.def.VersionInfo.LastConfigChangeAt, AgentID: "agent-h", Host: "h", State: api.TaskRunning,
			StagedAt: h.now, StartedAt: h.now})
	}
	h.a.resetLocked()
	h.a.restoreLocked(snap)
	h.a.subscribed, h.a.ready = true, true
	h.a.reconciling = map[string]bool{}
	h.a.mu.Unlock()
	var out struct {
		Apps []map[string]any `json:"apps"`
	}
	if code := h.do("GET", "/v2/apps", "", &out); code != 200 || len(out.Apps) != apps {
		b.Fatalf("GET /v2/apps: %d, %d apps", code, len(out.Apps))
	}
	// CPU time as well as wall time: on a shared machine it is the
	// steadier figure.
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	n := 0
	for b.Loop() {
		h.do("GET", "/v2/apps", "", nil)
		n++
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(cpu.Milliseconds())/float64(n), "cpu-ms/op")
}
