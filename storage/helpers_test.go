package storage

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// testLogger sends the store's logs to the test's output.
func testLogger(tb testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tb.Output(), nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// openTest opens a store in a fresh temporary directory, closed at cleanup.
func openTest(tb testing.TB) *Store {
	tb.Helper()
	return openAt(tb, filepath.Join(tb.TempDir(), "agent.db"))
}

func openAt(tb testing.TB, path string) *Store {
	tb.Helper()
	s, err := Open(context.Background(), Config{Path: path, Logger: testLogger(tb)})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

var uuidSeq atomic.Uint64

// newUUID returns a unique 16-byte uuid.
func newUUID() []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b[8:], uuidSeq.Add(1))
	b[0] = 0xaa
	return b
}

func jsonf(format string, args ...any) []byte { return fmt.Appendf(nil, format, args...) }

// launchOf is a command task: one executor run per task, first update
// TASK_STARTING.
func launchOf(fw, task string) Launch {
	return Launch{
		Framework: Framework{ID: fw, Info: jsonf(`{"id":{"value":%q},"checkpoint":true}`, fw), Checkpoint: true},
		Executor: Executor{ExecutorID: task, ContainerID: "ctr-" + fw + "-" + task, Sandbox: "/work/sandbox/" + task,
			Info: jsonf(`{"executor_id":{"value":%q}}`, task)},
		Task:   Task{TaskID: task, Info: jsonf(`{"task_id":{"value":%q}}`, task), State: "TASK_STAGING"},
		Update: updateOf(fw, task, "TASK_STARTING", false),
	}
}

func updateOf(fw, task, state string, terminal bool) *Update {
	return &Update{FrameworkID: fw, TaskID: task, UUID: newUUID(), State: state, Terminal: terminal,
		Body: jsonf(`{"status":{"task_id":{"value":%q},"state":%q}}`, task, state)}
}

func mustLaunch(tb testing.TB, s *Store, fw, task string) Launch {
	tb.Helper()
	l := launchOf(fw, task)
	if err := s.LaunchTask(context.Background(), l); err != nil {
		tb.Fatalf("launch %s/%s: %v", fw, task, err)
	}
	return l
}

func mustAppend(tb testing.TB, s *Store, u *Update) int64 {
	tb.Helper()
	seq, err := s.AppendUpdate(context.Background(), *u)
	if err != nil {
		tb.Fatalf("append: %v", err)
	}
	return seq
}

func mustLoad(tb testing.TB, s *Store) State {
	tb.Helper()
	st, err := s.LoadState(context.Background(), true)
	if err != nil {
		tb.Fatalf("load: %v", err)
	}
	return st
}
