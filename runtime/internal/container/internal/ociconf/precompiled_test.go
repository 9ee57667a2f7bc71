package ociconf

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/runc/libcontainer/configs"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"nodectl/runtime/internal/container/internal/shimapi"
)

// TestLoadProgramCache: a captured program is kept and read back, a damaged
// file is captured again, and a capture that failed is not tried again for
// the same profile (libcontainer compiles in the init instead).
func TestLoadProgramCache(t *testing.T) {
	calls := 0
	var fail error
	prog := &program{insns: bytes.Repeat([]byte{6, 0, 0, 0, 0, 0, 0xff, 0x7f}, 3)} // ret ALLOW ×3
	capture = func([]byte) (*program, error) {
		calls++
		if fail != nil {
			return nil, fail
		}
		return &program{insns: bytes.Clone(prog.insns)}, nil
	}
	t.Cleanup(func() { capture = captureProgram })
	s := &configs.Seccomp{Flags: nil}
	req := &shimapi.Request{Seccomp: []byte(`{"defaultAction":"SCMP_ACT_ALLOW"}`), SeccompCacheDir: filepath.Join(t.TempDir(), "seccomp")}

	for i := range 2 {
		p, err := loadProgram(req, s)
		if err != nil || !bytes.Equal(p.insns, prog.insns) {
			t.Fatalf("load %d: %v, %v", i, p, err)
		}
	}
	if calls != 1 {
		t.Fatalf("%d captures for two loads, want 1 (the second from the cache)", calls)
	}
	files, _ := filepath.Glob(filepath.Join(req.SeccompCacheDir, "*.bpf"))
	if len(files) != 1 {
		t.Fatalf("cache files %v", files)
	}
	if err := os.WriteFile(files[0], []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadProgram(req, s); err != nil || calls != 2 {
		t.Fatalf("damaged cache: %v, %d captures, want a second", err, calls)
	}

	other := &shimapi.Request{Seccomp: []byte(`{"defaultAction":"SCMP_ACT_KILL"}`), SeccompCacheDir: req.SeccompCacheDir}
	fail = errors.New("PTRACE_SECCOMP_GET_FILTER: invalid argument")
	for i := range 2 {
		if _, err := loadProgram(other, s); err == nil {
			t.Fatalf("load %d of a profile that cannot be captured: no error", i)
		}
	}
	if calls != 3 {
		t.Fatalf("%d captures, want one failed one and then none", calls)
	}
	if _, err := loadProgram(other, &configs.Seccomp{Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}}); err == nil {
		t.Fatal("flags the helper cannot pass: no error")
	}
}
