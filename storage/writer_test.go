package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	goruntime "runtime"
	"sync"
	"testing"
	"time"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		goruntime.Gosched()
	}
}

// TestGroupCommit holds the writer busy while writes queue up, then checks
// that they all went into one transaction, that the failed ones in that
// batch left no trace, and that the others are durable.
func TestGroupCommit(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	const n = 8
	for i := range n {
		mustLaunch(t, s, "fw", fmt.Sprint("t", i))
	}
	entered, release := make(chan struct{}), make(chan struct{})
	blockerDone := make(chan error)
	go func() {
		blockerDone <- s.write(ctx, func(*wtx) error { close(entered); <-release; return nil })
	}()
	<-entered
	base := s.Stats()

	var wg sync.WaitGroup
	errs := make([]error, n+2)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.AppendUpdate(ctx, *updateOf("fw", fmt.Sprint("t", i), "TASK_RUNNING", false))
		})
	}
	wg.Go(func() { _, errs[n] = s.AppendUpdate(ctx, *updateOf("fw", "unknown", "TASK_RUNNING", false)) })
	wg.Go(func() {
		// Fails after its framework upsert ran: the savepoint undoes that.
		l := launchOf("fw", "t0")
		l.Framework.Info = []byte(`{"changed":true}`)
		errs[n+1] = s.LaunchTask(ctx, l)
	})
	waitFor(t, "writes to queue", func() bool { return len(s.ops) == n+2 })
	close(release)
	if err := <-blockerDone; err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	for i := range n {
		if errs[i] != nil {
			t.Errorf("append %d: %v", i, errs[i])
		}
	}
	if !errors.Is(errs[n], ErrNotFound) || !errors.Is(errs[n+1], ErrTaskExists) {
		t.Errorf("failing writes: %v, %v", errs[n], errs[n+1])
	}
	st := s.Stats()
	if c, w := st.Commits-base.Commits, st.Writes-base.Writes; c != 2 || w != n+1 {
		t.Errorf("%d commits carrying %d writes, want 2 carrying %d (the blocker, then one batch)", c, w, n+1)
	}
	state := mustLoad(t, s)
	for _, task := range state.Tasks {
		if len(task.Updates) != 2 || task.State != "TASK_RUNNING" {
			t.Errorf("task %s: %d updates, state %s", task.TaskID, len(task.Updates), task.State)
		}
	}
	if bytes.Contains(state.Frameworks[0].Info, []byte("changed")) {
		t.Errorf("failed launch replaced the framework info")
	}
}

// TestConcurrentStreams runs many tasks' whole lives at once, with a
// reader loading the state throughout: every snapshot must be consistent.
func TestConcurrentStreams(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	const workers, perWorker = 8, 20
	stop := make(chan struct{})
	var reader sync.WaitGroup
	loads := 0
	reader.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.LoadState(ctx, true); err != nil {
				t.Errorf("load during writes: %v", err)
				return
			}
			loads++
		}
	})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				fw, task := fmt.Sprint("fw", w%3), fmt.Sprintf("w%d-t%d", w, i)
				k := TaskKey{fw, task}
				l := launchOf(fw, task)
				if err := s.LaunchTask(ctx, l); err != nil {
					t.Error(err)
					return
				}
				run, fin := updateOf(fw, task, "TASK_RUNNING", false), updateOf(fw, task, "TASK_FINISHED", true)
				for _, u := range []*Update{run, fin} {
					if _, err := s.AppendUpdate(ctx, *u); err != nil {
						t.Error(err)
						return
					}
				}
				for j, u := range [][]byte{l.Update.UUID, run.UUID, fin.UUID} {
					done, err := s.Ack(ctx, k, u)
					if err != nil || done != (j == 2) {
						t.Errorf("ack %d of %s: done=%v %v", j, k, done, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	reader.Wait()
	st := mustLoad(t, s)
	if len(st.Tasks) != workers*perWorker {
		t.Fatalf("%d tasks, want %d", len(st.Tasks), workers*perWorker)
	}
	for _, task := range st.Tasks {
		if !task.Done || len(task.Updates) != 3 || len(task.Pending()) != 0 {
			t.Fatalf("task %+v not done", task)
		}
	}
	stats := s.Stats()
	t.Logf("%d writes in %d commits (%.1f per commit), %d loads meanwhile",
		stats.Writes, stats.Commits, float64(stats.Writes)/float64(stats.Commits), loads)
}

// TestCancelWhileQueued: a write whose context ends while it waits in the
// queue returns the context's error and is never applied.
func TestCancelWhileQueued(t *testing.T) {
	s := openTest(t)
	bg := context.Background()
	mustLaunch(t, s, "fw", "t1")
	entered, release := make(chan struct{}), make(chan struct{})
	blockerDone := make(chan error)
	go func() {
		blockerDone <- s.write(bg, func(*wtx) error { close(entered); <-release; return nil })
	}()
	<-entered
	ctx, cancel := context.WithCancel(bg)
	appended := make(chan error)
	go func() {
		_, err := s.AppendUpdate(ctx, *updateOf("fw", "t1", "TASK_RUNNING", false))
		appended <- err
	}()
	waitFor(t, "the update to queue", func() bool { return len(s.ops) == 1 })
	cancel()
	if err := <-appended; !errors.Is(err, context.Canceled) {
		t.Fatalf("append: %v, want context.Canceled", err)
	}
	close(release)
	if err := <-blockerDone; err != nil {
		t.Fatal(err)
	}
	// The next write is answered after the cancelled one was skipped.
	mustAppend(t, s, updateOf("fw", "t1", "TASK_FAILED", true))
	if task := mustLoad(t, s).Tasks[0]; len(task.Updates) != 2 || task.State != "TASK_FAILED" {
		t.Fatalf("task %+v: the cancelled update was applied", task)
	}
}
