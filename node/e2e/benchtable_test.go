package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBenchTable is `make bench`: every figure of the performance table
// (issue 20) measured against its baseline in the same run, interleaved
// (ours, baseline, ours, baseline …), written to $NODECTL_BENCH_OUT
// (table.md and table.json) and printed. Baselines: Debian's `runc run -d`
// and in-process libcontainer create+start (floorbench, built from
// runtime/internal/container/floorbench) for task start; Docker Swarm from
// Debian's docker.io (dockerd in a network namespace of its own, see
// swarmPeer) for the app figures, memory, cold start and kill -9 recovery.
//
// It runs only with NODECTL_BENCH_TABLE=1: it takes minutes and the
// machine. NODECTL_BENCH_ROUNDS (default 15) rounds for the quick figures,
// NODECTL_BENCH_HEAVY_ROUNDS (default 5) for scale 1→50, cold start and
// idle memory, and kill -9 recovery.
func TestBenchTable(t *testing.T) {
	if os.Getenv("NODECTL_BENCH_TABLE") != "1" {
		t.Skip("make bench runs it (NODECTL_BENCH_TABLE=1)")
	}
	out := os.Getenv("NODECTL_BENCH_OUT")
	if out == "" {
		out = t.TempDir()
	}
	rounds := envInt("NODECTL_BENCH_ROUNDS", 15)
	heavy := envInt("NODECTL_BENCH_HEAVY_ROUNDS", 5)
	tab := &benchTable{Started: time.Now().UTC().Format(time.RFC3339), Rounds: rounds, HeavyRounds: heavy, Machine: machine()}
	tab.LoadBefore = loadAvg()

	peer, peerErr := newSwarmPeer(t)
	if peerErr != nil {
		t.Logf("Docker Swarm peer unavailable: %v", peerErr)
	}
	// Each group is a subtest so that its nodes and containers end before
	// the next group measures.
	t.Run("taskstart", func(t *testing.T) { benchTaskStart(t, tab, rounds) })
	t.Run("coldidle", func(t *testing.T) { benchColdIdle(t, tab, heavy, peer, peerErr) })
	var sw *dockerd
	swErr := peerErr
	if swErr == nil {
		if sw, swErr = peer.swarm(); swErr != nil {
			t.Logf("Docker Swarm peer unavailable: %v", swErr)
		}
	}
	t.Run("apps", func(t *testing.T) { benchApps(t, tab, rounds, heavy, sw, swErr) })
	t.Run("kill9", func(t *testing.T) { benchKill9(t, tab, heavy, sw, swErr) })
	t.Run("churn", func(t *testing.T) { benchChurn(t, tab, heavy) })
	t.Run("checkpoint", func(t *testing.T) { benchCheckpoint(t, tab, heavy) })
	t.Run("reattach", func(t *testing.T) { benchTableReattach(t, tab, heavy) })
	t.Run("failover", func(t *testing.T) { benchFailover(t, tab, rounds) })
	benchScaleRows(t, tab, out)

	tab.LoadAfter = loadAvg()
	md := tab.markdown()
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	js, _ := json.MarshalIndent(tab, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "table.json"), append(js, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "table.md"), []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("\n%s\n(written to %s)\n", md, filepath.Join(out, "table.md"))
}

// benchTable is the table and its context (table.json).
type benchTable struct {
	Started     string     `json:"started"`
	Machine     string     `json:"machine"`
	LoadBefore  string     `json:"load_before"` // uptime(1) at the start
	LoadAfter   string     `json:"load_after"`
	Rounds      int        `json:"rounds"`
	HeavyRounds int        `json:"heavy_rounds"`
	Rows        []benchRow `json:"rows"`
}

// benchRow is one figure against one baseline.
type benchRow struct {
	Figure   string    `json:"figure"`
	Unit     string    `json:"unit"`
	Ours     stats     `json:"ours"`
	Baseline string    `json:"baseline"`
	Base     *stats    `json:"baseline_stats,omitempty"`
	BaseErr  string    `json:"baseline_unavailable,omitempty"` // "peer unavailable: why"
	Ratio    float64   `json:"ratio_of_medians,omitempty"`
	Goal     string    `json:"goal"`
	Pass     *bool     `json:"pass,omitempty"` // nil: the goal could not be judged
	Note     string    `json:"note,omitempty"`
	Samples  []float64 `json:"ours_samples"`
	BaseSmp  []float64 `json:"baseline_samples,omitempty"`
	// Published: the baseline is a peer's published figure (one value,
	// not run here), not samples of this run.
	Published bool `json:"baseline_published,omitempty"`
}

// stats summarises samples: min, median, p90 (nearest rank), max.
type stats struct {
	N      int     `json:"n"`
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
	Max    float64 `json:"max"`
}

func summarize(xs []float64) stats {
	if len(xs) == 0 {
		return stats{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stats{N: len(s), Min: s[0], Median: med, P90: s[int(math.Ceil(0.9*float64(len(s))))-1], Max: s[len(s)-1]}
}

// goal judges a row from the medians of ours and the baseline (base is 0
// when the baseline is unavailable).
type goal struct {
	text string
	// ratio: the goal is on ours/baseline (needs the baseline); else on
	// ours alone.
	ratio bool
	limit float64
	// atLeast: more is better (a rate); the goal holds at or above limit.
	atLeast bool
}

func ratioGoal(limit float64, text string) goal { return goal{text: text, ratio: true, limit: limit} }
func absGoal(limit float64, text string) goal   { return goal{text: text, limit: limit} }
func minGoal(limit float64, text string) goal   { return goal{text: text, limit: limit, atLeast: true} }

// within reports whether v meets g's limit.
func (g goal) within(v float64) bool {
	if g.atLeast {
		return v >= g.limit
	}
	return v <= g.limit
}

// add records a figure; baseErr non-nil makes the baseline "peer
// unavailable: why".
func (tab *benchTable) add(figure, unit string, ours []float64, baseline string, base []float64, baseErr error, g goal, note string) {
	r := benchRow{Figure: figure, Unit: unit, Ours: summarize(ours), Baseline: baseline, Goal: g.text, Note: note, Samples: ours}
	if baseErr != nil {
		r.BaseErr = "peer unavailable: " + baseErr.Error()
	} else if len(base) > 0 {
		s := summarize(base)
		r.Base, r.BaseSmp = &s, base
		if s.Median > 0 {
			r.Ratio = r.Ours.Median / s.Median
		}
	}
	if len(ours) > 0 {
		switch {
		case g.ratio && r.Base != nil:
			p := g.within(r.Ratio)
			r.Pass = &p
		case !g.ratio:
			p := g.within(r.Ours.Median)
			r.Pass = &p
		}
	}
	tab.Rows = append(tab.Rows, r)
}

// addPublished records a figure against a peer's published value.
func (tab *benchTable) addPublished(figure, unit string, ours []float64, baseline string, value float64, g goal, note string) {
	tab.add(figure, unit, ours, baseline, []float64{value}, nil, g, note)
	tab.Rows[len(tab.Rows)-1].Published = true
}

func (tab *benchTable) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## nodectl performance table (make bench)\n\n")
	fmt.Fprintf(&b, "- started %s; %d rounds (heavy figures %d), ours and the baseline interleaved in one run\n", tab.Started, tab.Rounds, tab.HeavyRounds)
	fmt.Fprintf(&b, "- machine: %s\n", tab.Machine)
	fmt.Fprintf(&b, "- uptime before: %s\n- uptime after: %s\n\n", tab.LoadBefore, tab.LoadAfter)
	b.WriteString("| figure | unit | ours min / median / p90 / max | baseline | baseline min / median / p90 / max | ratio of medians | goal | result |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range tab.Rows {
		base, ratio := "—", "—"
		switch {
		case r.BaseErr != "":
			base = r.BaseErr
		case r.Base != nil && r.Published:
			base = num(r.Base.Median) + " (published, not run here)"
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		case r.Base != nil:
			base = r.Base.cells()
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		res := "not judged"
		if r.Pass != nil {
			res = map[bool]string{true: "pass", false: "**miss**"}[*r.Pass]
		}
		ours := r.Ours.cells()
		if r.Ours.N == 0 {
			ours = "no samples"
		}
		if r.Note != "" {
			res += " (" + r.Note + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Figure, r.Unit, ours, r.Baseline, base, ratio, r.Goal, res)
	}
	return b.String()
}

func (s stats) cells() string {
	return fmt.Sprintf("%s / %s / %s / %s (n=%d)", num(s.Min), num(s.Median), num(s.P90), num(s.Max), s.N)
}

func num(x float64) string {
	if x >= 100 {
		return strconv.FormatFloat(x, 'f', 0, 64)
	}
	return strconv.FormatFloat(x, 'f', 2, 64)
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// machine is nproc, the CPU model and the kernel.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel, _ := exec.Command("uname", "-r").Output()
	return fmt.Sprintf("%d CPUs (nproc), %s, Linux %s, %s", runtime.NumCPU(), model, strings.TrimSpace(string(kernel)), runtime.Version())
}

func loadAvg() string {
	b, err := exec.Command("uptime").Output()
	if err != nil {
		return "uptime: " + err.Error()
	}
	return strings.TrimSpace(string(b))
}

// msSince is the time since t0 in milliseconds.
func msSince(t0 time.Time) float64 { return float64(time.Since(t0).Microseconds()) / 1000 }

// pollUntil calls cond every 10 ms (the same pace for ours and the
// baselines) until it holds or timeout passes.
func pollUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond) // poll pace
	}
}

// pssOf sums the PSS (KiB, from smaps_rollup) of every process whose
// command line names dir: a node and its monitors, or dockerd, containerd
// and its shims; never the tasks' own processes.
func pssOf(dir string) float64 {
	var kib float64
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cl, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(cl), dir) {
			continue
		}
		body, err := os.ReadFile(strings.TrimSuffix(p, "cmdline") + "smaps_rollup")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(body), "\n") {
			if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
				v, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
				kib += v
			}
		}
	}
	return kib
}

// rssOfPids sums VmRSS (MiB) of pids.
func rssOfPids(pids ...int) float64 {
	var mib float64
	for _, pid := range pids {
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
				mib += kb / 1024
			}
		}
	}
	return mib
}
