package runtime

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"nodectl/cluster/api"
)

func TestGCMaxAge(t *testing.T) {
	week := 7 * 24 * time.Hour
	for _, c := range []struct {
		headroom, usage float64
		want            time.Duration
	}{
		{0.1, 0, time.Duration(0.9 * float64(week))},
		{0.1, 0.5, time.Duration(0.4 * float64(week))},
		{0.1, 0.95, 0},
		{0, 0, week},
	} {
		if got := gcMaxAge(week, c.headroom, c.usage); got != c.want {
			t.Errorf("gcMaxAge(1week, %v, %v) = %v, want %v", c.headroom, c.usage, got, c.want)
		}
	}
}

// TestGCCollectsFinishedSandboxes: a finished executor's sandbox older than
// the cutoff is removed (and its empty framework dir); a live task's, a
// recent one and one with a mount under it stay.
func TestGCCollectsFinishedSandboxes(t *testing.T) {
	wd := t.TempDir()
	a := &Agent{cfg: Config{WorkDir: wd}, log: slog.New(slog.NewTextHandler(io.Discard, nil)), metrics: api.NewMetrics()}
	a.tasks.live = map[streamKey]*task{}
	mk := func(fw, ex string, age time.Duration) string {
		run := sandboxDir(wd, "a1", fw, ex, "c-"+ex)
		if err := os.MkdirAll(run, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(run, "stdout"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-age)
		for _, p := range []string{filepath.Join(run, "stdout"), run, filepath.Dir(run), filepath.Dir(filepath.Dir(run))} {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
		return filepath.Dir(filepath.Dir(run))
	}
	done := mk("fw1", "done", time.Hour)
	running := mk("fw2", "running", time.Hour)
	recent := mk("fw2", "recent", time.Second)
	a.tasks.live[streamKey{"fw2", "running"}] = &task{id: "running", frameworkID: "fw2", executorID: "running"}

	a.collectSandboxes(time.Now().Add(-time.Minute))
	if _, err := os.Stat(done); !os.IsNotExist(err) {
		t.Errorf("finished sandbox %s still there (err %v)", done, err)
	}
	if _, err := os.Stat(filepath.Dir(filepath.Dir(done))); !os.IsNotExist(err) {
		t.Errorf("empty framework dir of %s still there", done)
	}
	for _, d := range []string{running, recent} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("sandbox %s removed: %v", d, err)
		}
	}
	if got := a.metrics.Snapshot()["slave/gc_sandboxes_removed"]; got != 1 {
		t.Errorf("slave/gc_sandboxes_removed = %v, want 1", got)
	}
	if !mountedUnder([]string{running + "/runs/x/vol"}, running) || mountedUnder([]string{running + "x"}, running) {
		t.Error("mountedUnder")
	}
}
