package container

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
)

func TestExitReason(t *testing.T) {
	tests := []struct {
		exit        Exit
		wantReason  string
		wantSuccess bool
		wantString  string
	}{
		{Exit{}, "", true, "exit code 0"},
		{Exit{Code: 3}, "", false, "exit code 3"},
		{Exit{Code: 137, Signal: 9}, "", false, "killed by signal 9"},
		{Exit{Code: 137, Signal: 9, OOMKilled: true}, ReasonMemoryLimit, false, "killed by signal 9 (OOM killed)"},
	}
	for _, tt := range tests {
		if got := tt.exit.Reason(); got != tt.wantReason {
			t.Errorf("%+v.Reason() = %q, want %q", tt.exit, got, tt.wantReason)
		}
		if got := tt.exit.Success(); got != tt.wantSuccess {
			t.Errorf("%+v.Success() = %v", tt.exit, got)
		}
		if got := tt.exit.String(); got != tt.wantString {
			t.Errorf("%+v.String() = %q, want %q", tt.exit, got, tt.wantString)
		}
	}
}

func TestStatusString(t *testing.T) {
	for s, want := range map[Status]string{Running: "running", Exited: "exited", Lost: "lost", 0: "Status(0)"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(s), s.String(), want)
		}
	}
}

func TestStatsFromCgroups(t *testing.T) {
	now := time.Unix(1700000000, 500_000_000)
	base := func() *cgroups.Stats {
		s := cgroups.NewStats()
		s.CpuStats.CpuUsage.UsageInUsermode = 1_500_000_000
		s.CpuStats.CpuUsage.UsageInKernelmode = 250_000_000
		s.CpuStats.ThrottlingData = cgroups.ThrottlingData{Periods: 10, ThrottledPeriods: 4, ThrottledTime: 2_000_000_000}
		s.PidsStats.Current = 5
		s.MemoryStats.Usage = cgroups.MemoryData{Usage: 1000, Limit: 4096}
		s.MemoryStats.SwapOnlyUsage = cgroups.MemoryData{Usage: 7}
		return s
	}
	v1 := base()
	v1.MemoryStats.Stats = map[string]uint64{
		"total_rss": 600, "total_cache": 300, "total_mapped_file": 50,
		"total_active_anon": 400, "total_inactive_anon": 200,
		"total_active_file": 100, "total_inactive_file": 200, "total_unevictable": 9,
	}
	v2 := base()
	v2.MemoryStats.Stats = map[string]uint64{"anon": 600, "file": 300, "file_mapped": 50, "unevictable": 9}
	unlimited := base()
	unlimited.MemoryStats.Usage.Limit = math.MaxUint64
	unlimited.MemoryStats.Stats = map[string]uint64{}

	common := Stats{
		Timestamp: 1700000000.5, Threads: 5,
		CPUsUserTimeSecs: 1.5, CPUsSystemTimeSecs: 0.25, CPUsLimit: 0.5,
		CPUsNrPeriods: 10, CPUsNrThrottled: 4, CPUsThrottledTimeSecs: 2,
		MemTotalBytes: 1000, MemLimitBytes: 4096, MemSwapBytes: 7,
	}
	wantV1 := common
	wantV1.MemRSSBytes, wantV1.MemCacheBytes, wantV1.MemMappedFileBytes = 600, 300, 50
	wantV1.MemAnonBytes, wantV1.MemFileBytes, wantV1.MemUnevictableBytes = 600, 300, 9
	wantV2 := wantV1
	wantUnlimited := common
	wantUnlimited.MemLimitBytes = 0

	tests := []struct {
		name string
		in   *cgroups.Stats
		want Stats
	}{
		{"nil", nil, Stats{Timestamp: 1700000000.5, CPUsLimit: 0.5}},
		{"cgroup v1", v1, wantV1},
		{"cgroup v2", v2, wantV2},
		{"no memory limit", unlimited, wantUnlimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statsFromCgroups(tt.in, now, 0.5); got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	shim := fakeShim(t)
	d, err := New(Config{Root: t.TempDir(), ShimPath: shim})
	if err != nil {
		t.Fatal(err)
	}
	sandbox := t.TempDir()
	tests := []struct {
		name string
		in   Spec
		want Spec
	}{
		{
			"command task",
			Spec{ID: "a", SandboxDir: sandbox, Args: []string{"true"}},
			Spec{ID: "a", SandboxDir: sandbox, SandboxTarget: sandbox, Cwd: sandbox, Args: []string{"true"}, Env: []string{defaultPath}},
		},
		{
			"image",
			Spec{ID: "b", Rootfs: "/r", SandboxDir: sandbox, Args: []string{"true"}, Env: []string{"PATH=/x"}},
			Spec{ID: "b", Rootfs: "/r", SandboxDir: sandbox, SandboxTarget: DefaultSandboxTarget, Cwd: DefaultSandboxTarget, Args: []string{"true"}, Env: []string{"PATH=/x"}},
		},
		{
			"explicit cwd and target",
			Spec{ID: "c", Rootfs: "/r", SandboxDir: sandbox, SandboxTarget: "/sb", Cwd: "/w", Args: []string{"true"}},
			Spec{ID: "c", Rootfs: "/r", SandboxDir: sandbox, SandboxTarget: "/sb", Cwd: "/w", Args: []string{"true"}, Env: []string{defaultPath}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.normalize(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got.SandboxTarget != tt.want.SandboxTarget || got.Cwd != tt.want.Cwd || !slices.Equal(got.Env, tt.want.Env) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	shim := fakeShim(t)
	noexec := filepath.Join(t.TempDir(), "noexec")
	if err := os.WriteFile(noexec, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	// Not "/nonexistent": a host may have it (nobody's home).
	absent := filepath.Join(t.TempDir(), "absent")
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"ok", Config{Root: root, ShimPath: shim}, true},
		{"relative root", Config{Root: "state", ShimPath: shim}, false},
		{"no shim", Config{Root: root}, false},
		{"missing shim", Config{Root: root, ShimPath: absent}, false},
		{"shim not executable", Config{Root: root, ShimPath: noexec}, false},
		{"missing monitor", Config{Root: root, ShimPath: shim, MonitorPath: absent}, false},
		{"missing seccomp helper", Config{Root: root, ShimPath: shim, SeccompHelperPath: absent}, false},
		{"relative cgroup parent", Config{Root: root, ShimPath: shim, CgroupParent: "nodectl"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("New err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestInstallShim(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bin")
	want, err := shimFS.ReadFile("shimbin/" + ShimName)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(want) == 0) {
		// Plain `go test` without `make build`: the error must say what to do.
		if _, err := InstallShim(dir); !errors.Is(err, ErrNoShim) || !strings.Contains(err.Error(), "make build") {
			t.Fatalf("InstallShim err = %v, want ErrNoShim", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	path, err := InstallShim(dir)
	if err != nil {
		t.Fatal(err)
	}
	st1, err := os.Stat(path)
	if err != nil || st1.Mode().Perm() != 0o755 || st1.Size() != int64(len(want)) {
		t.Fatalf("installed %v, %v", st1, err)
	}
	for _, name := range []string{MonitorName, SeccompHelperName} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Mode().Perm() != 0o755 {
			t.Fatalf("installed %s: %v, %v", name, st, err)
		}
	}
	// Unchanged content: the file is left alone (same inode).
	if _, err := InstallShim(dir); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(path)
	if !os.SameFile(st1, st2) {
		t.Error("unchanged shim was rewritten")
	}
	// Different content: replaced.
	if err := os.WriteFile(path, []byte("old"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := InstallShim(dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); len(b) != len(want) {
		t.Error("stale shim not replaced")
	}
}

// fakeShim creates empty executable shim, monitor and seccomp helper files.
func fakeShim(t *testing.T) string {
	dir := t.TempDir()
	for _, name := range []string{ShimName, MonitorName, SeccompHelperName} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, ShimName)
}
