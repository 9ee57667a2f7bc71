package node

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{100 << 20, 100},
		{gcHeadroom, 100},
		{600 << 20, 80},
		{768 << 20, 60},
		{1 << 30, 50},
		{4 << 30, gcMinPercent},
	} {
		if got := gcPercentFor(c.live); got != c.want {
			t.Errorf("live %d MiB: GOGC %d, want %d", c.live>>20, got, c.want)
		}
	}
}

func TestGCIdle(t *testing.T) {
	for _, c := range []struct {
		name string
		idle bool
		rate float64
		want bool
	}{
		{"a quiet window makes it idle", false, 100 << 10, true},
		{"a window in between keeps it busy", false, 1 << 20, false},
		{"a window in between keeps it idle", true, 1 << 20, true},
		{"a busy window ends idleness", true, gcBusyRate, false},
	} {
		if got := gcIdleAfter(c.idle, c.rate); got != c.want {
			t.Errorf("%s: idle %v, want %v", c.name, got, c.want)
		}
	}
	for _, c := range []struct {
		name  string
		bytes uint64
		d     time.Duration
		want  bool
	}{
		{"a collection within a burst", 2 << 20, 50 * time.Millisecond, true},
		{"an idle node's collection", 2 << 20, 10 * time.Second, false},
		{"a forced collection right after another", 64 << 10, time.Millisecond, false},
	} {
		if got := gcBurst(c.bytes, c.d); got != c.want {
			t.Errorf("%s (%d bytes in %s): burst %v, want %v", c.name, c.bytes, c.d, got, c.want)
		}
	}
	if p := gcPercent(6<<20, true); p != gcIdlePercent {
		t.Errorf("idle, small heap: GOGC %d, want %d", p, gcIdlePercent)
	}
	if p := gcPercent(6<<20, false); p != 100 {
		t.Errorf("busy, small heap: GOGC %d, want 100", p)
	}
	if p := gcPercent(1<<30, false); p != gcMinPercent {
		t.Errorf("busy, 1 GiB live: GOGC %d, want %d", p, gcMinPercent)
	}
}

func TestAfterEachGC(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	afterEachGC(ctx, func() { n.Add(1) })
	// Cleanups run on their own goroutine after the collection that
	// found their object: collect until two have run.
	deadline := time.Now().Add(30 * time.Second)
	for n.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s of collections f ran %d times, want 2", n.Load())
		}
		runtime.GC()
		runtime.Gosched()
	}
	cancel()
	// Once ctx ends f runs no more (but for a call that had checked ctx
	// just before).
	at := n.Load()
	for range 5 {
		runtime.GC()
		runtime.Gosched()
	}
	if got := n.Load(); got > at+1 {
		t.Fatalf("f ran %d more times after ctx ended", got-at)
	}
}
