package node

import (
	"context"
	"log/slog"
	"os"
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
// instead of memory. An operator's GOGC (the environment variable) is
// left alone.
const (
	gcHeadroom   = 512 << 20
	gcMinPercent = 50
	gcTuneEvery  = 10 * time.Second
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

// tuneGC sets GOGC from the live heap every gcTuneEvery until ctx ends.
func tuneGC(ctx context.Context, log *slog.Logger) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	current := 100
	t := time.NewTicker(gcTuneEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return
		}
		live := sample[0].Value.Uint64()
		if p := gcPercentFor(live); p != current {
			debug.SetGCPercent(p)
			log.Info("GOGC set for the live heap", "gogc", p, "live_heap_mib", live>>20)
			current = p
		}
	}
}
