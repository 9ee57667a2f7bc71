package node

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// A master's heap is mostly its state (agents, frameworks, tasks), which
// grows with the cluster. With Go's default GOGC=100 the heap may grow to
// twice what is live before the next collection: at 10,000 agents and
// 300,000 tasks (~900 MB live) the leader was 2,254–2,284 MiB resident
// (make bench-scale, docs/performance.md), 1,738–1,856 MiB with this
// policy, for up to a fifth more of its CPU. tuneGC caps the
// headroom at gcHeadroom once the live heap passes it, by lowering GOGC
// as the live heap grows (never under gcMinPercent): a small master keeps
// Go's default, a big one spends some CPU on more frequent collections
// instead of memory.
//
// An idle node (any role) allocates little: ~150 KB/s on a fresh
// `--role=all` node, its periodic checks and pings. Its garbage then only
// costs memory, up to as much again as its ~6 MiB live heap, and
// collecting it more often costs next to nothing (a collection every ~10 s
// at gcIdlePercent). So a node whose allocations over a whole gcTuneEvery
// stayed under gcIdleRate runs at gcIdlePercent, and the first collection
// that comes within a burst of work (at least gcBurstBytes allocated since
// the one before, at gcBusyRate or faster) puts the default back: a burst
// pays for one or two extra collections, not for a whole gcTuneEvery of
// them. Becoming
// idle also returns to the system at once what the work before left free.
// An operator's GOGC (the environment variable) is left alone.
const (
	gcHeadroom    = 512 << 20
	gcMinPercent  = 50
	gcTuneEvery   = 10 * time.Second
	gcIdlePercent = 25
	gcIdleRate    = 512 << 10 // bytes/s over a gcTuneEvery
	gcBusyRate    = 4 << 20   // bytes/s
	gcBurstBytes  = 1 << 20
)

// gcPercentFor is the GOGC for a live heap of live bytes: 100 up to
// gcHeadroom, then 100·gcHeadroom/live rounded down to a multiple of 10,
// at least gcMinPercent.
func gcPercentFor(live uint64) int {
	if live <= gcHeadroom {
		return 100
	}
	p := int(100*uint64(gcHeadroom)/live) / 10 * 10
	return max(p, gcMinPercent)
}

// gcPercent is the GOGC for a live heap of live bytes on a node that is
// idle or not.
func gcPercent(live uint64, idle bool) int {
	p := gcPercentFor(live)
	if idle {
		p = min(p, gcIdlePercent)
	}
	return p
}

// gcIdleAfter is whether the node counts as idle after a gcTuneEvery in
// which it allocated rate bytes/s: under gcIdleRate it is, from gcBusyRate
// on it is not, and in between it stays what it was.
func gcIdleAfter(idle bool, rate float64) bool {
	switch {
	case rate >= gcBusyRate:
		return false
	case rate < gcIdleRate:
		return true
	}
	return idle
}

// gcBurst is whether allocating bytes in d between two collections is a
// burst of work: at gcBusyRate or faster, and at least gcBurstBytes (two
// collections close together, one of them forced, are not a burst).
func gcBurst(bytes uint64, d time.Duration) bool {
	return bytes >= gcBurstBytes && float64(bytes) >= gcBusyRate*d.Seconds()
}

// tuneGC sets GOGC from the live heap and the allocation rate every
// gcTuneEvery and after each collection (where only a burst counts),
// until ctx ends.
func tuneGC(ctx context.Context, log *slog.Logger) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/allocs:bytes"}}
	read := func() (live, allocs uint64, ok bool) {
		metrics.Read(samples)
		if samples[0].Value.Kind() != metrics.KindUint64 || samples[1].Value.Kind() != metrics.KindUint64 {
			return 0, 0, false
		}
		return samples[0].Value.Uint64(), samples[1].Value.Uint64(), true
	}
	collected := make(chan struct{}, 1)
	afterEachGC(ctx, func() {
		select {
		case collected <- struct{}{}:
		default:
		}
	})
	_, winAllocs, ok := read()
	if !ok {
		return
	}
	winStart := time.Now()
	gcAllocs, gcAt := winAllocs, winStart // at the last collection
	current, heapPercent, idle := 100, 100, false
	t := time.NewTicker(gcTuneEvery)
	defer t.Stop()
	for {
		window := false
		select {
		case <-ctx.Done():
			return
		case <-collected:
		case <-t.C:
			window = true
		}
		live, allocs, ok := read()
		if !ok {
			return
		}
		now := time.Now()
		if window {
			idle = gcIdleAfter(idle, float64(allocs-winAllocs)/now.Sub(winStart).Seconds())
			winAllocs, winStart = allocs, now
		} else {
			if idle && gcBurst(allocs-gcAllocs, now.Sub(gcAt)) {
				idle = false
			}
			gcAllocs, gcAt = allocs, now
		}
		if p := gcPercentFor(live); p != heapPercent {
			log.Info("GOGC set for the live heap", "gogc", p, "live_heap_mib", live>>20)
			heapPercent = p
		}
		if p := gcPercent(live, idle); p != current {
			debug.SetGCPercent(p)
			log.Debug("GOGC set", "gogc", p, "idle", idle, "live_heap_mib", live>>20)
			current = p
			if idle {
				// What the work before left free goes back to the
				// system now, not at the scavenger's pace.
				debug.FreeOSMemory()
			}
		}
	}
}

// afterEachGC calls f (which must not block) after each garbage
// collection until ctx ends: a cleanup attached to an object nothing
// refers to runs once a collection has found it unreachable, and attaches
// itself to a new one.
func afterEachGC(ctx context.Context, f func()) {
	type sentinel struct{ _ *byte } // a pointer: never one of the tiny allocator's blocks
	var arm func()
	arm = func() {
		runtime.AddCleanup(new(sentinel), func(struct{}) {
			if ctx.Err() == nil {
				f()
				arm()
			}
		}, struct{}{})
	}
	arm()
}
