package ociconf

import (
	"os"
	"slices"
	"testing"

	"github.com/opencontainers/runc/libcontainer/configs"

	"nodectl/runtime/internal/container/internal/shimapi"
)

func TestConfig(t *testing.T) {
	image := &shimapi.Request{
		Spec: shimapi.Spec{
			ID: "c1", Rootfs: "/images/c1", SandboxDir: "/sb", SandboxTarget: "/mnt/mesos/sandbox",
			Cwd: "/mnt/mesos/sandbox", Args: []string{"true"},
			CPUs: 0.5, MemBytes: 64 << 20, PidsLimit: 10, Hostname: "h",
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
		HostRootDir: t.TempDir() + "/rootfs",
		HiddenPaths: []string{"/run/nodectl"},
	}
	cfg, err = Config(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Rootfs != cmd.HostRootDir || !cfg.Readonlyfs || !slices.Contains(cfg.MaskPaths, "/run/nodectl") {
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

func TestHide(t *testing.T) {
	work := t.TempDir()
	sandbox := work + "/slaves/s1/runs/c1"
	if err := os.MkdirAll(sandbox, 0o755); err != nil {
		t.Fatal(err)
	}
	req := &shimapi.Request{
		Spec:        shimapi.Spec{ID: "c3", SandboxDir: sandbox, SandboxTarget: sandbox, Cwd: sandbox, Args: []string{"true"}},
		HostRootDir: t.TempDir() + "/rootfs",
		HiddenPaths: []string{work, work + "/runtime", "/srv/secret"},
	}
	cfg, err := Config(req)
	if err != nil {
		t.Fatal(err)
	}
	// The work dir holds the sandbox: a tmpfs over it before the sandbox
	// bind, read-only afterwards; not masked (that would hide the sandbox).
	tmpfsAt, sandboxAt := -1, -1
	for i, m := range cfg.Mounts {
		switch {
		case m.Destination == work && m.Device == "tmpfs":
			tmpfsAt = i
		case m.Destination == sandbox:
			sandboxAt = i
		}
	}
	if tmpfsAt < 0 || sandboxAt < tmpfsAt {
		t.Errorf("tmpfs over the work dir at %d, sandbox bind at %d: want the tmpfs first", tmpfsAt, sandboxAt)
	}
	if !slices.Contains(cfg.ReadonlyPaths, work) || slices.Contains(cfg.MaskPaths, work) || slices.Contains(cfg.MaskPaths, work+"/runtime") {
		t.Errorf("readonly %v masked %v", cfg.ReadonlyPaths, cfg.MaskPaths)
	}
	for _, p := range []string{"/srv/secret", "/etc/shadow", "/etc/gshadow", "/root"} {
		if !slices.Contains(cfg.MaskPaths, p) {
			t.Errorf("%s not masked: %v", p, cfg.MaskPaths)
		}
	}
}
