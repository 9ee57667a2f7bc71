package shimapi

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestOOMCounterFile(t *testing.T) {
	tests := []struct {
		name  string
		paths map[string]string
		want  string
	}{
		{"v1", map[string]string{"memory": "/m", "cpu": "/c"}, "/m/memory.oom_control"},
		{"v2", map[string]string{"": "/u"}, "/u/memory.events"},
		{"hybrid prefers v1 memory", map[string]string{"": "/u", "memory": "/m"}, "/m/memory.oom_control"},
		{"none", map[string]string{"cpu": "/c"}, ""},
	}
	for _, tt := range tests {
		if got := OOMCounterFile(tt.paths); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestOOMKillCount(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		content string
		want    uint64
		wantErr error
	}{
		{"v1", "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", 2, nil},
		{"v2", "memory.events", "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n", 1, nil},
		{"old kernel", "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n", 0, ErrNoOOMCounter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tt.file), []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			key := "memory"
			if tt.file == "memory.events" {
				key = ""
			}
			got, err := OOMKillCount(map[string]string{key: dir})
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %d, %v; want %d, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestWriteJSONAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ExitFile)
	want := Exit{Code: 137, Signal: 9, OOMKilled: true, FinishedAt: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)}
	for _, sync := range []bool{false, true} {
		if err := WriteJSONAtomic(path, want, sync); err != nil {
			t.Fatal(err)
		}
		var got Exit
		if err := ReadJSON(path, &got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temp files left: %v", ents)
	}
	if err := ReadJSON(filepath.Join(dir, "missing"), &want); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file err = %v", err)
	}
}

func TestProcStartTimeAndBootID(t *testing.T) {
	st, err := ProcStartTime(os.Getpid())
	if err != nil || st == 0 {
		t.Fatalf("ProcStartTime = %d, %v", st, err)
	}
	if _, err := ProcStartTime(1 << 30); err == nil {
		t.Fatal("no error for a missing pid")
	}
	if id, err := BootID(); err != nil || len(id) < 32 {
		t.Fatalf("BootID = %q, %v", id, err)
	}
}
