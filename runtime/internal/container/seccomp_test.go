package container_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nodectl/runtime/internal/container"
	"nodectl/runtime/internal/container/containertest"
)

func TestLoadSeccompProfile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ok.json", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}`)
	write("docker.json", `{"defaultAction": "SCMP_ACT_ERRNO", "archMap": []}`)
	write("noaction.json", `{"syscalls": []}`)
	for _, tt := range []struct {
		dir, name string
		ok        bool
	}{
		{dir, "ok.json", true},
		{dir, "docker.json", false},
		{dir, "noaction.json", false},
		{dir, "missing.json", false},
		{dir, "../ok.json", false},
		{"", "ok.json", false},
	} {
		_, err := container.LoadSeccompProfile(tt.dir, tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("LoadSeccompProfile(%q, %q) = %v, want ok %v", tt.dir, tt.name, err, tt.ok)
		}
	}
	if _, err := container.LoadSeccompProfile(dir, "ok.json"); err != nil {
		t.Fatal(err)
	}
}

// TestSeccompProfiles: the built-in default filters, unconfined does not,
// and a named profile replaces the default (here it denies only mkdir).
func TestSeccompProfiles(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "nomkdir.json"),
		[]byte(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	e.cfg.SeccompDir = dir
	d, err := container.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	e.d = d
	script := `grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; if mkdir d 2>/dev/null; then echo mkdir-ok; else echo mkdir-denied; fi`
	for _, tt := range []struct {
		name       string
		set        func(*container.Spec)
		want, deny string
	}{
		{"default", func(*container.Spec) {}, "Seccomp:\t2", "mkdir-denied"},
		{"unconfined", func(s *container.Spec) { s.SeccompUnconfined = true }, "Seccomp:\t0", "mkdir-denied"},
		{"named", func(s *container.Spec) { s.SeccompProfile = "nomkdir.json" }, "mkdir-denied", "mkdir-ok"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := e.spec(t, "seccomp-"+tt.name, "", "/bin/sh", "-c", script)
			tt.set(&spec)
			wait(t, e.start(t, spec))
			out := containertest.ReadFile(sandboxFile(spec, "stdout"))
			if !strings.Contains(out, tt.want) || strings.Contains(out, tt.deny) || !strings.Contains(out, "NoNewPrivs:\t1") {
				t.Errorf("output %q: want %q and NoNewPrivs 1, not %q", out, tt.want, tt.deny)
			}
		})
	}
}
