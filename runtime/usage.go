package runtime

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"nodectl/cluster/api"
)

// Resource history (docs/runtime.md "Resource history").
//
// /monitor/statistics answers with the counters of this instant; to see a
// task's usage over time the agent samples every running container every
// Config.UsageInterval (cgroup v2: cpu.stat, memory.current, through the
// container driver; the sandbox's disk usage; the network counters of the
// task's own network namespace) and keeps the last Config.UsageHistory of
// samples per task in a ring, and a ring of the agent's sums (used vs
// allocated). Memory is bounded: at most maxUsageSeries task series of
// UsageHistory/UsageInterval samples each; the series of an ended task is
// kept for one history span (its page still shows its last hour), and
// the oldest ended series go first when the bound is reached.
//
//	GET /monitor/history?task=ID  → api.TaskUsage
//	GET /monitor/summary          → api.AgentUsage
//
// The latest summary sample also rides on every ping, so the master keeps
// the cluster's utilisation without asking every agent.

// Defaults of Config.UsageInterval and Config.UsageHistory.
const (
	DefaultUsageInterval = 10 * time.Second
	DefaultUsageHistory  = time.Hour
)

// maxUsageSeries bounds the task series kept (live and ended).
const maxUsageSeries = 1000

// ring is a fixed-capacity FIFO: pushing onto a full ring drops the oldest.
type ring[T any] struct {
	buf   []T
	start int // index of the oldest element
	n     int
}

func newRing[T any](capacity int) *ring[T] { return &ring[T]{buf: make([]T, max(1, capacity))} }

func (r *ring[T]) push(v T) {
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = v
		r.n++
		return
	}
	r.buf[r.start] = v
	r.start = (r.start + 1) % len(r.buf)
}

// items are the elements, oldest first, in a new slice.
func (r *ring[T]) items() []T {
	out := make([]T, r.n)
	for i := range r.n {
		out[i] = r.buf[(r.start+i)%len(r.buf)]
	}
	return out
}

func (r *ring[T]) last() (T, bool) {
	if r.n == 0 {
		var zero T
		return zero, false
	}
	return r.buf[(r.start+r.n-1)%len(r.buf)], true
}

// taskSeries is one task's history and the counters of its last sample,
// from which the next one's rates are computed.
type taskSeries struct {
	frameworkID string
	allocated   api.UsageAllocation
	samples     *ring[api.UsageSample]
	ended       time.Time // zero while the task runs

	lastAt       time.Time
	lastCPUSecs  float64
	lastRx       uint64
	lastTx       uint64
	hasNet, seen bool
}

// usageState is the agent's sampled history.
type usageState struct {
	mu      sync.Mutex // guards the fields below
	tasks   map[string]*taskSeries
	summary *ring[api.UsageSample]
}

func (a *Agent) usageCapacity() int {
	return max(2, int(a.cfg.UsageHistory/a.cfg.UsageInterval))
}

// sampleUsage samples every UsageInterval until ctx ends.
//
// The first sample is taken one interval after the agent starts, not at
// once: a restarted agent is then re-registering its recovered tasks, and
// reading every task's cgroup files (0.6 s of CPU with 1,000 tasks on 2
// cores) delayed that by as much.
func (a *Agent) sampleUsage(ctx context.Context) {
	t := time.NewTicker(a.cfg.UsageInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.takeUsageSample(time.Now())
	}
}

// measured is one task's reading at one instant.
type measured struct {
	t           *task
	cpuSecs     float64
	memBytes    uint64
	diskBytes   int64
	rx, tx      uint64
	hasNet, ok  bool
	allocated   api.UsageAllocation
	frameworkID string
}

// takeUsageSample reads every running task's counters (outside any lock:
// the reads touch cgroup files and walk sandboxes) and records them.
func (a *Agent) takeUsageSample(now time.Time) {
	a.tasks.mu.Lock()
	var running []*task
	for _, t := range a.tasks.live {
		if t.ctr != nil && !t.state.Terminal() {
			running = append(running, t)
		}
	}
	a.tasks.mu.Unlock()
	ms := make([]measured, 0, len(running))
	for _, t := range running {
		m := measured{t: t, frameworkID: t.frameworkID, allocated: allocationOf(t.info.Resources)}
		st, err := t.ctr.Stats()
		if err != nil {
			continue // it just ended
		}
		m.ok = true
		m.cpuSecs = st.CPUsUserTimeSecs + st.CPUsSystemTimeSecs
		m.memBytes = st.MemTotalBytes
		if m.memBytes == 0 {
			m.memBytes = st.MemRSSBytes
		}
		if t.sandbox != "" {
			if n, err := sandboxUsage(t.sandbox, nil, 0); err == nil {
				m.diskBytes = n
			}
		}
		m.rx, m.tx, m.hasNet = netCounters(t.ctr.Pid())
		ms = append(ms, m)
	}
	a.recordUsage(now, ms)
}

// recordUsage turns readings into samples (rates against each series'
// previous reading) and appends them, with the agent's sum.
func (a *Agent) recordUsage(now time.Time, ms []measured) {
	u := &a.usage
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.tasks == nil {
		u.tasks = map[string]*taskSeries{}
		u.summary = newRing[api.UsageSample](a.usageCapacity())
	}
	sum := api.UsageSample{T: now.Unix()}
	live := map[string]bool{}
	for _, m := range ms {
		if !m.ok {
			continue
		}
		id := m.t.id
		live[id] = true
		s := u.tasks[id]
		if s == nil {
			s = &taskSeries{frameworkID: m.frameworkID, samples: newRing[api.UsageSample](a.usageCapacity())}
			u.tasks[id] = s
		}
		s.allocated, s.ended = m.allocated, time.Time{}
		smp := api.UsageSample{T: now.Unix(), MemBytes: m.memBytes, DiskBytes: max(0, m.diskBytes)}
		if s.seen {
			if dt := now.Sub(s.lastAt).Seconds(); dt > 0 {
				smp.CPUs = max(0, (m.cpuSecs-s.lastCPUSecs)/dt)
				if m.hasNet && s.hasNet && m.rx >= s.lastRx && m.tx >= s.lastTx {
					smp.NetRxBps = float64(m.rx-s.lastRx) / dt
					smp.NetTxBps = float64(m.tx-s.lastTx) / dt
				}
			}
		}
		s.lastAt, s.lastCPUSecs, s.lastRx, s.lastTx, s.hasNet, s.seen = now, m.cpuSecs, m.rx, m.tx, m.hasNet, true
		s.samples.push(smp)
		sum.CPUs += smp.CPUs
		sum.MemBytes += smp.MemBytes
		sum.DiskBytes += smp.DiskBytes
		sum.NetRxBps += smp.NetRxBps
		sum.NetTxBps += smp.NetTxBps
	}
	// Ended series stay one history span, the oldest dropped first when
	// over the bound.
	var ended []string
	for id, s := range u.tasks {
		if live[id] {
			continue
		}
		if s.ended.IsZero() {
			s.ended = now
		}
		if now.Sub(s.ended) > a.cfg.UsageHistory {
			delete(u.tasks, id)
			continue
		}
		ended = append(ended, id)
	}
	if over := len(u.tasks) - maxUsageSeries; over > 0 {
		sort.Slice(ended, func(i, j int) bool { return u.tasks[ended[i]].ended.Before(u.tasks[ended[j]].ended) })
		for _, id := range ended[:min(over, len(ended))] {
			delete(u.tasks, id)
		}
	}
	alloc := allocationOf(a.usedResources())
	sum.AllocCPUs, sum.AllocMemMB, sum.AllocDiskMB = alloc.CPUs, alloc.MemMB, alloc.DiskMB
	u.summary.push(sum)
}

func allocationOf(rs api.Resources) api.UsageAllocation {
	return api.UsageAllocation{CPUs: rs.Scalar("cpus"), MemMB: rs.Scalar("mem"), DiskMB: rs.Scalar("disk")}
}

// latestUsage is the agent's newest summary sample, for pings.
func (a *Agent) latestUsage() *api.UsageSample {
	a.usage.mu.Lock()
	defer a.usage.mu.Unlock()
	if a.usage.summary == nil {
		return nil
	}
	s, ok := a.usage.summary.last()
	if !ok {
		return nil
	}
	return &s
}

// netCounters reads the received and sent bytes of pid's network
// namespace (all interfaces but lo), if it is not the agent's own: a task
// on the host network has no counters of its own.
func netCounters(pid int) (rx, tx uint64, ok bool) {
	if pid <= 0 {
		return 0, 0, false
	}
	self, err1 := os.Readlink("/proc/self/ns/net")
	theirs, err2 := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/net")
	if err1 != nil || err2 != nil || self == theirs {
		return 0, 0, false
	}
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/net/dev")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	return parseNetDev(f)
}

// parseNetDev sums /proc/net/dev's receive and transmit bytes, less lo.
func parseNetDev(f *os.File) (rx, tx uint64, ok bool) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, found := strings.Cut(sc.Text(), ":")
		if !found || strings.TrimSpace(name) == "lo" {
			continue
		}
		fs := strings.Fields(rest)
		if len(fs) < 9 {
			continue
		}
		r, err1 := strconv.ParseUint(fs[0], 10, 64)
		t, err2 := strconv.ParseUint(fs[8], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		rx, tx, ok = rx+r, tx+t, true
	}
	return rx, tx, ok
}

// handleUsageHistory serves GET /monitor/history?task=ID.
func (a *Agent) handleUsageHistory(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("task")
	if id == "" {
		writeJSONStatus(w, http.StatusBadRequest, api.Error{Message: "the task query parameter is required"})
		return
	}
	a.usage.mu.Lock()
	s := a.usage.tasks[id]
	var out api.TaskUsage
	if s != nil {
		out = api.TaskUsage{TaskID: id, FrameworkID: s.frameworkID, AgentID: a.ID(), IntervalSeconds: a.cfg.UsageInterval.Seconds(),
			Allocated: s.allocated, Running: s.ended.IsZero(), Samples: s.samples.items()}
	}
	a.usage.mu.Unlock()
	if s == nil {
		// A task this agent runs but has not sampled yet (it just
		// started) has an empty history, not none.
		a.tasks.mu.Lock()
		var t *task
		for k, lt := range a.tasks.live {
			if k.task == id {
				t = lt
				break
			}
		}
		if t != nil {
			out = api.TaskUsage{TaskID: id, FrameworkID: t.frameworkID, AgentID: a.ID(), IntervalSeconds: a.cfg.UsageInterval.Seconds(),
				Allocated: allocationOf(t.info.Resources), Running: !t.state.Terminal(), Samples: []api.UsageSample{}}
		}
		a.tasks.mu.Unlock()
		if t == nil {
			writeJSONStatus(w, http.StatusNotFound, api.Error{Message: "no resource history for task '" + id + "' on this agent"})
			return
		}
	}
	writeJSON(w, out)
}

// handleUsageSummary serves GET /monitor/summary.
func (a *Agent) handleUsageSummary(w http.ResponseWriter, r *http.Request) {
	out := api.AgentUsage{AgentID: a.ID(), IntervalSeconds: a.cfg.UsageInterval.Seconds(), Total: allocationOf(a.cfg.Resources), Samples: []api.UsageSample{}}
	a.usage.mu.Lock()
	if a.usage.summary != nil {
		out.Samples = a.usage.summary.items()
	}
	out.Tasks = len(a.usage.tasks)
	a.usage.mu.Unlock()
	writeJSON(w, out)
}
