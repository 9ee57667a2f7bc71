package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestOpenSetsPragmas(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	// Every pool connection (the readers) must have the per-connection
	// pragmas, not only the writer.
	c, err := s.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
		{"user_version", strconv.Itoa(len(migrations))},
		{"wal_autocheckpoint", strconv.Itoa(walAutocheckpoint)},
		{"cache_size", "-2000"}, // sqlite's default: only the writer's is big
	} {
		var got string
		if err := c.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", p.pragma, err)
		}
		if got != p.want {
			t.Errorf("PRAGMA %s = %q, want %q", p.pragma, got, p.want)
		}
	}
	// The writer (idle: nothing was written) has the big page cache.
	var got int
	if err := s.wc.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != -cacheKiB {
		t.Errorf("writer's PRAGMA cache_size = %d, want %d", got, -cacheKiB)
	}
}

func TestOpenConfig(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		path    string
		wantErr string
	}{
		{"empty path", "", "Path is required"},
		{"query in path", filepath.Join(dir, "a?mode=ro"), "must not contain"},
		{"directory", dir, "open checkpoint store"},
		{"creates parent dirs", filepath.Join(dir, "meta", "deep", "agent.db"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(context.Background(), Config{Path: tc.path, Logger: testLogger(t)})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				if err := s.Close(); err != nil {
					t.Fatalf("close: %v", err)
				}
				if _, err := os.Stat(tc.path); err != nil {
					t.Fatalf("database file: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				s.Close()
				t.Fatalf("open %q: err %v, want one containing %q", tc.path, err, tc.wantErr)
			}
			if s != nil {
				t.Fatalf("open failed but returned a store")
			}
		})
	}
}

func TestCloseHalfOpenAndTwice(t *testing.T) {
	var nilStore *Store
	if err := nilStore.Close(); err != nil {
		t.Errorf("nil store: %v", err)
	}
	if err := (&Store{}).Close(); err != nil {
		t.Errorf("zero store: %v", err)
	}
	s := openTest(t)
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	ctx := context.Background()
	if err := s.LaunchTask(ctx, launchOf("fw", "t")); !errors.Is(err, ErrClosed) {
		t.Errorf("write after close: %v, want ErrClosed", err)
	}
	if _, err := s.LoadState(ctx, true); !errors.Is(err, ErrClosed) {
		t.Errorf("load after close: %v, want ErrClosed", err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	s := openAt(t, path)
	mustLaunch(t, s, "fw", "t1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	if st := mustLoad(t, s); len(st.Tasks) != 1 || st.Tasks[0].TaskID != "t1" {
		t.Fatalf("after reopen: %+v", st.Tasks)
	}
}

func TestCancelledContextDoesNotWrite(t *testing.T) {
	s := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.LaunchTask(ctx, launchOf("fw", "t1")); !errors.Is(err, context.Canceled) {
		t.Fatalf("launch with cancelled ctx: %v", err)
	}
	if st := mustLoad(t, s); len(st.Tasks) != 0 {
		t.Fatalf("cancelled launch was stored: %+v", st.Tasks)
	}
}
