package runtime

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"nodectl/cluster/api"
)

type sentLog struct {
	mu   sync.Mutex
	sent []api.StatusUpdate
}

func (s *sentLog) send(_ context.Context, u api.StatusUpdate) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, u)
	return nil
}

func (s *sentLog) states() []api.TaskState {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []api.TaskState
	for _, u := range s.sent {
		out = append(out, u.Status.State)
	}
	return out
}

func upd(task string, st api.TaskState, id byte) api.StatusUpdate {
	return api.StatusUpdate{FrameworkID: api.ID{Value: "fw"}, Status: api.TaskStatus{TaskID: api.ID{Value: task}, State: st, UUID: []byte{id}}}
}

func equalStates(a, b []api.TaskState) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Only the head of a task's stream is in flight; it is retried at 10s then
// 20s until acknowledged; an ACK releases the next; the terminal ACK ends
// the stream.
func TestStatusManagerOrderAndRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log sentLog
		var done []string
		m := newStatusManager(log.send, func(fw, task string) { done = append(done, task) }, slog.New(slog.NewTextHandler(io.Discard, nil)))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go m.run(ctx)

		m.enqueue(upd("a", api.TaskStarting, 1))
		m.enqueue(upd("a", api.TaskRunning, 2))
		m.enqueue(upd("a", api.TaskFinished, 3))
		synctest.Wait()
		if got := log.states(); len(got) != 0 {
			t.Fatalf("sent %v while offline", got)
		}
		m.setOnline(true)
		synctest.Wait()
		want := []api.TaskState{api.TaskStarting}
		if got := log.states(); !equalStates(got, want) {
			t.Fatalf("after going online sent %v, want %v", got, want)
		}
		time.Sleep(10 * time.Second) // fake time: the first retry is due
		synctest.Wait()
		want = append(want, api.TaskStarting)
		if got := log.states(); !equalStates(got, want) {
			t.Fatalf("after 10s sent %v, want %v", got, want)
		}
		time.Sleep(15 * time.Second) // the second retry waits 20s
		synctest.Wait()
		if got := log.states(); !equalStates(got, want) {
			t.Fatalf("retried before 20s: %v", got)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		want = append(want, api.TaskStarting)
		if got := log.states(); !equalStates(got, want) {
			t.Fatalf("after 30s sent %v, want %v", got, want)
		}
		if m.ack("fw", "a", []byte{9}) {
			t.Error("ack with a wrong uuid accepted")
		}
		if !m.ack("fw", "a", []byte{1}) {
			t.Fatal("ack of the head refused")
		}
		synctest.Wait()
		want = append(want, api.TaskRunning)
		if got := log.states(); !equalStates(got, want) {
			t.Fatalf("after ack sent %v, want %v", got, want)
		}
		m.ack("fw", "a", []byte{2})
		synctest.Wait()
		m.ack("fw", "a", []byte{3})
		synctest.Wait()
		if len(done) != 1 || done[0] != "a" || m.unacked() != 0 {
			t.Errorf("done=%v unacked=%d after the terminal ack", done, m.unacked())
		}
	})
}

// Re-registration (going online again) re-sends every unacknowledged head.
func TestStatusManagerResendOnReconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log sentLog
		m := newStatusManager(log.send, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go m.run(ctx)
		m.setOnline(true)
		m.enqueue(upd("a", api.TaskRunning, 1))
		m.enqueue(upd("b", api.TaskRunning, 2))
		synctest.Wait()
		m.setOnline(false)
		m.setOnline(true)
		synctest.Wait()
		if got := len(log.states()); got != 4 {
			t.Errorf("sent %d updates, want 2 then 2 again after reconnecting", got)
		}
	})
}

// A retried head carries the newest state queued behind it as latest_state:
// a task that ended behind an update nobody acknowledges (a detached
// framework, an ACK lost to a kill -9) still reaches the master's view.
func TestStatusManagerRetryCarriesLatestState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log sentLog
		m := newStatusManager(log.send, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go m.run(ctx)
		m.setOnline(true)
		running := upd("a", api.TaskRunning, 1)
		running.LatestState = api.TaskRunning // stamped when it was queued
		m.enqueue(running)
		synctest.Wait()
		finished := upd("a", api.TaskFinished, 2)
		finished.LatestState = api.TaskFinished
		m.enqueue(finished)
		time.Sleep(10 * time.Second) // fake time: the retry is due
		synctest.Wait()
		log.mu.Lock()
		defer log.mu.Unlock()
		if len(log.sent) != 2 {
			t.Fatalf("sent %d updates, want the head then its retry", len(log.sent))
		}
		if got := log.sent[0].LatestState; got != api.TaskRunning {
			t.Errorf("first send: latest_state %s, want TASK_RUNNING", got)
		}
		if u := log.sent[1]; u.Status.State != api.TaskRunning || u.LatestState != api.TaskFinished {
			t.Errorf("retry: %s with latest_state %s, want TASK_RUNNING with TASK_FINISHED", u.Status.State, u.LatestState)
		}
	})
}

// The heads due together go out in one batch when the manager has a batch
// sender (one head per task: a task's next update waits for its ACK);
// a single head goes alone.
func TestStatusManagerBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var single sentLog
		var mu sync.Mutex
		var batches [][]api.StatusUpdate
		m := newStatusManager(single.send, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
		m.sendBatch = func(_ context.Context, us []api.StatusUpdate) error {
			mu.Lock()
			defer mu.Unlock()
			batches = append(batches, us)
			return nil
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go m.run(ctx)
		m.enqueue(upd("a", api.TaskStarting, 1))
		m.enqueue(upd("a", api.TaskRunning, 2))
		m.enqueue(upd("b", api.TaskStarting, 3))
		m.enqueue(upd("c", api.TaskStarting, 4))
		m.setOnline(true)
		synctest.Wait()
		mu.Lock()
		if len(batches) != 1 || len(batches[0]) != 3 {
			t.Fatalf("batches %v, want one of the three heads", batches)
		}
		seen := map[string]api.TaskState{}
		for _, u := range batches[0] {
			seen[u.Status.TaskID.Value] = u.Status.State
		}
		mu.Unlock()
		if seen["a"] != api.TaskStarting || seen["b"] != api.TaskStarting || seen["c"] != api.TaskStarting {
			t.Errorf("batch heads %v", seen)
		}
		// a's ACK releases its RUNNING: one head, sent alone.
		m.ack("fw", "a", []byte{1})
		synctest.Wait()
		if got := single.states(); len(got) != 1 || got[0] != api.TaskRunning {
			t.Errorf("single sends %v, want a's RUNNING", got)
		}
	})
}
