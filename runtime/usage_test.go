package runtime

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"nodectl/cluster/api"
)

func TestRingKeepsNewest(t *testing.T) {
	r := newRing[int](3)
	if _, ok := r.last(); ok {
		t.Fatal("empty ring has a last element")
	}
	for i := 1; i <= 5; i++ {
		r.push(i)
	}
	if got := r.items(); !slices.Equal(got, []int{3, 4, 5}) {
		t.Fatalf("items = %v, want [3 4 5]", got)
	}
	if l, _ := r.last(); l != 5 {
		t.Fatalf("last = %d", l)
	}
}

// Samples are rates against the previous reading, the agent's sum adds
// the tasks and carries the allocation, a series is bounded by the
// history, and an ended task's series goes after one history span.
func TestRecordUsage(t *testing.T) {
	a := &Agent{cfg: Config{UsageInterval: 10 * time.Second, UsageHistory: 30 * time.Second}}
	a.tasks.live = map[streamKey]*task{}
	t1 := &task{id: "t1", frameworkID: "fw", state: api.TaskRunning, info: api.TaskInfo{Resources: api.Resources{api.ScalarResource("cpus", 0.5), api.ScalarResource("mem", 64)}}}
	a.tasks.live[streamKey{"fw", "t1"}] = t1
	t0 := time.Unix(1000, 0)
	for i := range 5 {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		a.recordUsage(at, []measured{{t: t1, ok: true, cpuSecs: float64(i) * 5, memBytes: 1 << 20, allocated: allocationOf(t1.info.Resources), frameworkID: "fw"}})
	}
	s := a.usage.tasks["t1"]
	got := s.samples.items()
	if len(got) != 3 { // 30 s of history at 10 s
		t.Fatalf("%d samples kept, want 3", len(got))
	}
	if got[2].T != 1040 || got[2].CPUs != 0.5 || got[2].MemBytes != 1<<20 {
		t.Fatalf("last sample %+v, want t=1040 cpus=0.5 (5 cpu-seconds in 10 s)", got[2])
	}
	sum, _ := a.usage.summary.last()
	if sum.CPUs != 0.5 || sum.AllocCPUs != 0.5 || sum.AllocMemMB != 64 {
		t.Fatalf("summary %+v", sum)
	}
	if u := a.latestUsage(); u == nil || u.T != 1040 {
		t.Fatalf("latestUsage = %+v", u)
	}
	// The task ends: its series stays a history span, then goes.
	a.recordUsage(t0.Add(50*time.Second), nil)
	if a.usage.tasks["t1"] == nil || a.usage.tasks["t1"].ended.IsZero() {
		t.Fatal("an ended task's series was dropped at once or not marked ended")
	}
	a.recordUsage(t0.Add(90*time.Second), nil)
	if a.usage.tasks["t1"] != nil {
		t.Fatal("an ended task's series outlived the history span")
	}
}

func TestParseNetDev(t *testing.T) {
	p := filepath.Join(t.TempDir(), "dev")
	body := `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  999999      10    0    0    0     0          0         0   999999      10    0    0    0     0       0          0
  eth0:    1000      10    0    0    0     0          0         0     2000      20    0    0    0     0       0          0
  eth1:     500       5    0    0    0     0          0         0      100       1    0    0    0     0       0          0
`
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rx, tx, ok := parseNetDev(f)
	if !ok || rx != 1500 || tx != 2100 {
		t.Fatalf("parseNetDev = %d %d %v, want 1500 2100 (lo left out)", rx, tx, ok)
	}
}
