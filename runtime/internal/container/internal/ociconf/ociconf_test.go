package ociconf

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runc/libcontainer/configs"

	"nodectl/runtime/internal/container/internal/hostroot"
	"nodectl/runtime/internal/container/internal/shimapi"
)

func TestConfig(t *testing.T) {
	image := &shimapi.Request{
		Spec: shimapi.Spec{
			ID: "c1", Rootfs: "/images/c1", SandboxDir: "/sb", SandboxTarget: "/mnt/mesos/sandbox",
			Cwd: "/mnt/mesos/sandbox", Args: []string{"true"},
			CPUs: 0.5, CPUHardLimit: true, MemBytes: 64 << 20, PidsLimit: 10, Hostname: "h",
			Mounts: []shimapi.Mount{{Source: "/vol", Destination: "/data", ReadOnly: true}},
		},
		CgroupPath: "/nodectl/c1",
	}
	cfg, err := Config(image)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Cgroups.Resources
	if r.CpuShares != 512 || r.CpuQuota != 50_000 || r.CpuPeriod != 100_000 || r.Memory != 64<<20 || r.PidsLimit == nil || *r.PidsLimit != 10 {
		t.Errorf("resources = %+v", r)
	}
	// Without the hard limit (Mesos' default) cpus are shares only.
	soft := *image
	soft.Spec.CPUHardLimit = false
	if sc, err := Config(&soft); err != nil || sc.Cgroups.Resources.CpuShares != 512 || sc.Cgroups.Resources.CpuQuota != 0 {
		t.Errorf("soft cpus: %v %+v", err, sc.Cgroups.Resources)
	}
	if swapAccounting() && r.MemorySwap != 64<<20 {
		t.Errorf("swap = %d, want = memory", r.MemorySwap)
	}
	if cfg.Cgroups.Path != "/nodectl/c1" || cfg.Rootfs != "/images/c1" || cfg.Readonlyfs || cfg.Hostname != "h" || !cfg.NoNewPrivileges {
		t.Errorf("config = %+v", cfg)
	}
	for _, ns := range []configs.NamespaceType{configs.NEWPID, configs.NEWNS, configs.NEWIPC, configs.NEWUTS} {
		if !cfg.Namespaces.Contains(ns) {
			t.Errorf("missing namespace %s", ns)
		}
	}
	if cfg.Namespaces.Contains(configs.NEWNET) {
		t.Error("network namespace: want host networking")
	}
	if !slices.Contains(cfg.MaskPaths, "/proc/kcore") || !slices.Contains(cfg.ReadonlyPaths, "/proc/sys") {
		t.Errorf("masked %v readonly %v", cfg.MaskPaths, cfg.ReadonlyPaths)
	}
	if got := cfg.Capabilities.Bounding; !slices.Equal(got, []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}) {
		t.Errorf("capabilities = %v, want runc's defaults", got)
	}
	dests := map[string]*configs.Mount{}
	for _, m := range cfg.Mounts {
		dests[m.Destination] = m
	}
	for _, d := range []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/sys", "/mnt/mesos/sandbox", "/data"} {
		if dests[d] == nil {
			t.Errorf("no mount on %s", d)
		}
	}
	if m := dests["/data"]; m != nil && (m.RecAttr == nil || m.Flags&1 == 0) {
		t.Errorf("read-only volume mount = %+v, want ro and recursive ro", m)
	}

	cmd := &shimapi.Request{
		Spec:        shimapi.Spec{ID: "c2", SandboxDir: "/sb", SandboxTarget: "/sb", Cwd: "/sb", Args: []string{"true"}},
		CgroupPath:  "/nodectl/c2",
		HostRootDir: skeleton(t),
		RunDir:      t.TempDir(),
		HiddenPaths: []string{"/run/nodectl"},
	}
	cfg, err = Config(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Rootfs != cmd.HostRootDir || !cfg.Readonlyfs {
		t.Errorf("command task config: rootfs %q ro %v masked %v", cfg.Rootfs, cfg.Readonlyfs, cfg.MaskPaths)
	}
	var usr, tmp *configs.Mount
	for _, m := range cfg.Mounts {
		switch m.Destination {
		case "/usr":
			usr = m
		case "/tmp":
			tmp = m
		}
	}
	if usr == nil || usr.RecAttr == nil || usr.Source != "/usr" {
		t.Errorf("/usr mount = %+v, want a recursive read-only bind", usr)
	}
	if tmp == nil || tmp.Device != "tmpfs" {
		t.Errorf("/tmp mount = %+v, want tmpfs", tmp)
	}
}

// skeleton makes a root skeleton of this host's top level.
func skeleton(t *testing.T) string {
	t.Helper()
	entries, err := hostroot.List()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := hostroot.Ensure(t.TempDir(), entries)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestHide(t *testing.T) {
	// Outside /tmp: command tasks get their own /tmp, which would hide it anyway.
	work, err := os.MkdirTemp("/var/tmp", "nodectl-hide-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	sandbox := work + "/slaves/s1/runs/c1"
	secretDir, secretFile := work+"-etc", work+"-key"
	for _, d := range []string{sandbox, secretDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.RemoveAll(secretDir) })
	if err := os.WriteFile(secretFile, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(secretFile) })
	run := t.TempDir()
	req := &shimapi.Request{
		Spec:        shimapi.Spec{ID: "c3", SandboxDir: sandbox, SandboxTarget: sandbox, Cwd: sandbox, Args: []string{"true"}},
		HostRootDir: skeleton(t),
		RunDir:      run,
		HiddenPaths: []string{work, work + "/runtime", work + "-*", "/srv/absent"},
	}
	cfg, err := Config(req)
	if err != nil {
		t.Fatal(err)
	}
	at := map[string]int{}
	byDest := map[string]*configs.Mount{}
	for i, m := range cfg.Mounts {
		at[m.Destination] = i
		byDest[m.Destination] = m
	}
	// The work dir holds the sandbox: a tmpfs over it before the sandbox
	// bind, read-only afterwards (masking it would hide the sandbox).
	if m := byDest[work]; m == nil || m.Device != "tmpfs" || at[sandbox] < at[work] {
		t.Errorf("work dir mount %+v at %d, sandbox bind at %d: want a tmpfs first", m, at[work], at[sandbox])
	}
	if !slices.Contains(cfg.ReadonlyPaths, work) || slices.Contains(cfg.MaskPaths, work) {
		t.Errorf("readonly %v masked %v", cfg.ReadonlyPaths, cfg.MaskPaths)
	}
	// Other hidden directories: an unreadable read-only tmpfs; files: a
	// bind of an empty mode-0000 file.
	if m := byDest[secretDir]; m == nil || m.Device != "tmpfs" || !slices.Contains(strings.Split(m.Data, ","), "mode=000") || m.Flags&1 == 0 {
		t.Errorf("hidden directory mount = %+v", m)
	}
	for _, f := range []string{secretFile, "/etc/shadow"} {
		m := byDest[f]
		if m == nil || m.Source != run+"/hidden" {
			t.Errorf("hidden file %s mount = %+v", f, m)
		}
	}
	if st, err := os.Stat(run + "/hidden"); err != nil || st.Mode().Perm() != 0 || st.Size() != 0 {
		t.Errorf("blank file: %v %v", st, err)
	}
	if _, ok := byDest["/srv/absent"]; ok {
		t.Error("an absent path was mounted over")
	}
}
