package storage

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkAppendUpdate measures checkpointed status updates per second:
// each one durable (WAL fsynced) before AppendUpdate returns. serial is
// one writer, so one fsync per update; parallel is many tasks updating at
// once, which group commit folds into shared transactions.
func BenchmarkAppendUpdate(b *testing.B) {
	// A framework id as Mesos makes them (<uuid>-<4 digits>): the keys'
	// length is much of an append's cost.
	const tasks, fw = 512, "5d1c1a4e-2b7f-4a8e-9c3d-0f6e7a8b9c0d-0000"
	for _, bc := range []struct {
		name     string
		parallel int // goroutines per GOMAXPROCS; 0 = serial
	}{
		{"serial", 0},
		{"parallel", 32},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := openTest(b)
			for i := range tasks {
				mustLaunch(b, s, fw, fmt.Sprintf("task-%d", i))
			}
			base := s.Stats()
			ctx := context.Background()
			var next atomic.Int64
			appendOne := func() {
				i := next.Add(1)
				u := updateOf(fw, fmt.Sprintf("task-%d", i%tasks), "TASK_RUNNING", false)
				if _, err := s.AppendUpdate(ctx, *u); err != nil {
					b.Error(err)
				}
			}
			b.ResetTimer()
			if bc.parallel == 0 {
				for b.Loop() {
					appendOne()
				}
			} else {
				b.SetParallelism(bc.parallel)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						appendOne()
					}
				})
			}
			b.StopTimer()
			st := s.Stats()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
			if c := st.Commits - base.Commits; c > 0 {
				b.ReportMetric(float64(st.Writes-base.Writes)/float64(c), "updates/commit")
			}
		})
	}
}
