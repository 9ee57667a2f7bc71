package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Sandbox garbage collection, as the Mesos agent does it
// (http://mesos.apache.org/documentation/latest/configuration/agent/:
// --gc_delay, --gc_disk_headroom, --disk_watch_interval; Mesos'
// src/slave/gc.cpp and Slave::checkDiskUsage in src/slave/slave.cpp).
//
// The sandbox of an executor (every run under
// <work_dir>/slaves/<agent>/frameworks/<fw>/executors/<ex>) is removed
// once none of its tasks is live (running, launching, or terminal with an
// update not yet acknowledged: such a task is still recoverable) and its
// last activity (the newest modification time of a run directory or the
// files directly in it) is older than the allowed age. The allowed age is
// Mesos' formula, evaluated every --disk_watch_interval from the work
// dir's filesystem usage:
//
//	max age = gc_delay × max(0, 1 − gc_disk_headroom − usage)
//
// so sandboxes go sooner as the disk fills. A sandbox with anything
// mounted under it (a volume a container left mounted) is never removed,
// and neither is the framework directory of a framework that still has
// executors. Removals count in slave/gc_sandboxes_removed (and failures in
// slave/gc_sandboxes_failed).

// Mesos' defaults for the agent's GC flags.
const (
	DefaultGCDelay           = 7 * 24 * time.Hour // 1weeks
	DefaultGCDiskHeadroom    = 0.1
	DefaultDiskWatchInterval = time.Minute // 1mins
)

// minGCInterval bounds how often the collector scans.
const minGCInterval = 100 * time.Millisecond

// gcMetrics counts the collector's work.
type gcMetrics struct {
	once              sync.Once
	removed, failed   prometheus.Counter
	lastMaxAgeSeconds prometheus.Gauge
}

func (a *Agent) gcCounters() *gcMetrics {
	a.gc.once.Do(func() {
		a.gc.removed = a.metrics.Counter("slave/gc_sandboxes_removed", "sandboxes of finished executors removed by the garbage collector")
		a.gc.failed = a.metrics.Counter("slave/gc_sandboxes_failed", "sandboxes the garbage collector failed to remove")
		a.gc.lastMaxAgeSeconds = a.metrics.Gauge("slave/gc_max_allowed_age_secs", "the sandbox age beyond which the last collection removed sandboxes")
	})
	return &a.gc
}

// gcMaxAge is Mesos' maximum allowed sandbox age for a filesystem usage
// (a fraction of its size).
func gcMaxAge(delay time.Duration, headroom, usage float64) time.Duration {
	f := 1 - headroom - usage
	if f < 0 {
		f = 0
	}
	return time.Duration(float64(delay) * f)
}

// runGC collects sandboxes every min(disk_watch_interval, gc_delay) until
// ctx ends.
func (a *Agent) runGC(ctx context.Context) {
	done := make(chan struct{})
	go func() { // imagegc.go: its waits for the image store's lock must not hold up sandboxes
		defer close(done)
		a.runImageGC(ctx)
	}()
	defer func() { <-done }()
	m := a.gcCounters()
	every := min(a.cfg.DiskWatchInterval, a.cfg.GCDelay)
	every = max(every, minGCInterval)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		maxAge := gcMaxAge(a.cfg.GCDelay, a.cfg.GCDiskHeadroom, a.diskUsage())
		m.lastMaxAgeSeconds.Set(maxAge.Seconds())
		a.collectSandboxes(time.Now().Add(-maxAge))
	}
}

// diskUsage is the used fraction of the work dir's filesystem (0 when it
// cannot be measured), as Mesos measures it for GC (stout's fs::usage:
// (f_blocks − f_bfree) / f_blocks, blocks reserved for root counting as
// free).
func (a *Agent) diskUsage() float64 {
	a.checkDiskSpace()
	a.space.mu.Lock()
	defer a.space.mu.Unlock()
	if a.space.err != nil || a.space.size == 0 {
		return 0
	}
	return float64(a.space.size-a.space.free) / float64(a.space.size)
}

// liveExecutors are the framework/executor ids of every live task and
// running custom executor (executor.go).
func (a *Agent) liveExecutors() map[string]bool {
	live := map[string]bool{}
	for _, e := range a.execs.all() { // before a.tasks.mu: execs.mu comes first
		live[e.key.framework+"/"+e.key.executor] = true
	}
	a.tasks.mu.Lock()
	defer a.tasks.mu.Unlock()
	for _, t := range a.tasks.live {
		live[t.frameworkID+"/"+t.executorID] = true
	}
	return live
}

// executorKey is the framework/executor ids of an executor directory
// (.../frameworks/<fw>/executors/<ex>).
func executorKey(ex string) string {
	return filepath.Base(filepath.Dir(filepath.Dir(ex))) + "/" + filepath.Base(ex)
}

// collectSandboxes removes the executor directories with no live task
// whose last activity is before cutoff, and frameworks' directories left
// empty.
func (a *Agent) collectSandboxes(cutoff time.Time) {
	m := a.gcCounters()
	executors, _ := filepath.Glob(filepath.Join(a.cfg.WorkDir, "slaves", "*", "frameworks", "*", "executors", "*"))
	if len(executors) == 0 {
		return
	}
	live := a.liveExecutors()
	mounts := mountPoints()
	for _, ex := range executors {
		if live[executorKey(ex)] || lastActivity(ex).After(cutoff) || mountedUnder(mounts, ex) {
			continue
		}
		// A launch may have created the directory since live was read:
		// read it again just before removing.
		if a.liveExecutors()[executorKey(ex)] {
			continue
		}
		if err := os.RemoveAll(ex); err != nil {
			m.failed.Inc()
			a.log.Warn("sandbox garbage collection failed", "dir", ex, "err", err)
			continue
		}
		m.removed.Inc()
		a.log.Info("removed the sandbox of a finished executor", "dir", ex)
		fwDir := filepath.Dir(filepath.Dir(ex))
		if ents, err := os.ReadDir(filepath.Join(fwDir, "executors")); err == nil && len(ents) == 0 {
			_ = os.Remove(filepath.Join(fwDir, "executors"))
			_ = os.Remove(fwDir) // fails, harmlessly, if anything else is there
		}
	}
}

// lastActivity is the newest modification time of an executor directory,
// its runs and the entries directly in each run (stdout, stderr, ...).
// A "latest" symlink is not followed.
func lastActivity(ex string) time.Time {
	var newest time.Time
	see := func(p string) {
		if st, err := os.Lstat(p); err == nil && st.ModTime().After(newest) {
			newest = st.ModTime()
		}
	}
	see(ex)
	runs, _ := os.ReadDir(filepath.Join(ex, "runs"))
	for _, r := range runs {
		run := filepath.Join(ex, "runs", r.Name())
		see(run)
		if r.Type()&os.ModeSymlink != 0 || !r.IsDir() {
			continue
		}
		ents, _ := os.ReadDir(run)
		for _, e := range ents {
			see(filepath.Join(run, e.Name()))
		}
	}
	return newest
}

// mountPoints are the mount points of this mount namespace.
func mountPoints() []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 {
			out = append(out, unescapeMount(f[4]))
		}
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes of space, tab, newline
// and backslash.
func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// mountedUnder reports whether a mount point is dir or inside it.
func mountedUnder(mounts []string, dir string) bool {
	for _, mp := range mounts {
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			return true
		}
	}
	return false
}
