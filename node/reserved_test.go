package node

import (
	goruntime "runtime"
	"strings"
	"testing"

	"nodectl/cluster/api"
)

func TestReservedDefaults(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		host, want string
	}{
		// Small hosts: half a CPU, half the memory and disk.
		{"cpus:2;mem:1024;disk:4000", "cpus:0.5;mem:512;disk:2000"},
		// 5% of 32 CPUs; memory and disk capped at 1 GiB and 5 GiB.
		{"cpus:32;mem:65536;disk:100000", "cpus:1.6;mem:1024;disk:5120"},
		{"cpus:1;mem:1025;disk:1", "cpus:0.5;mem:512"},
	} {
		got := defaultReserved(mustResources(t, c.host))
		if !got.Equal(mustResources(t, c.want)) {
			t.Errorf("defaultReserved(%s) = %s, want %s", c.host, got, c.want)
		}
	}
}

func TestReservedFor(t *testing.T) {
	t.Parallel()
	host := mustResources(t, "cpus:4;mem:8192;disk:20000;ports:[31000-32000]")
	for _, c := range []struct {
		given, want, advertised string
	}{
		{"", "cpus:0.5;mem:1024;disk:5120", "cpus:3.5;mem:7168;disk:14880;ports:[31000-32000]"},
		// Named resources replace their defaults, the others keep theirs.
		{"cpus:1.5", "cpus:1.5;mem:1024;disk:5120", "cpus:2.5;mem:7168;disk:14880;ports:[31000-32000]"},
		{"cpus:0;mem:256;disk:0", "mem:256", "cpus:4;mem:7936;disk:20000;ports:[31000-32000]"},
		{"ports:[31000-31009]", "cpus:0.5;mem:1024;disk:5120;ports:[31000-31009]", "cpus:3.5;mem:7168;disk:14880;ports:[31010-32000]"},
	} {
		got, err := reservedFor(host, mustResources(t, c.given), resourceNames(c.given))
		if err != nil {
			t.Errorf("reservedFor(%q): %v", c.given, err)
			continue
		}
		if !got.Equal(mustResources(t, c.want)) {
			t.Errorf("reservedFor(%q) = %s, want %s", c.given, got, c.want)
		}
		if adv := host.Subtract(got); !adv.Equal(mustResources(t, c.advertised)) {
			t.Errorf("advertised with %q = %s, want %s", c.given, adv, c.advertised)
		}
	}
	for _, bad := range []string{"cpus:5", "mem:9000", "cpus(web):1"} {
		if _, err := reservedFor(host, mustResources(t, bad), resourceNames(bad)); err == nil {
			t.Errorf("reservedFor(%q): no error", bad)
		}
	}
}

func mustResources(t *testing.T, s string) api.Resources {
	t.Helper()
	rs, err := api.ParseResources(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return rs
}

func TestConfigReservedResources(t *testing.T) {
	dir := t.TempDir()
	cfg, err := parse(t, nil, "--work-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	host := hostResources(dir)
	wantCPUs := max(0.5, float64(goruntime.NumCPU())*0.05)
	if got := cfg.ReservedResources.Scalar("cpus"); got != wantCPUs {
		t.Errorf("default reserved cpus = %v, want %v", got, wantCPUs)
	}
	if got, want := cfg.Resources.Scalar("cpus"), host.Scalar("cpus")-wantCPUs; got != want {
		t.Errorf("advertised cpus = %v, want %v", got, want)
	}
	if cfg.CgroupsRoot != "nodectl" {
		t.Errorf("default cgroups root %q", cfg.CgroupsRoot)
	}
	if cfg.Flags["reserved-resources"] != cfg.ReservedResources.String() {
		t.Errorf("flags show reserved-resources %q, want %q", cfg.Flags["reserved-resources"], cfg.ReservedResources.String())
	}
	// Validate is idempotent.
	if err := cfg.Validate(); err != nil || cfg.Resources.Scalar("cpus") != host.Scalar("cpus")-wantCPUs {
		t.Errorf("second Validate: %v, cpus %v", err, cfg.Resources.Scalar("cpus"))
	}

	cfg, err = parse(t, nil, "--work-dir", dir, "--reserved_resources", "cpus:0.25;mem:300")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ReservedResources.Scalar("cpus") != 0.25 || cfg.ReservedResources.Scalar("mem") != 300 ||
		cfg.Resources.Scalar("mem") != host.Scalar("mem")-300 {
		t.Errorf("--reserved_resources cpus:0.25;mem:300: reserved %s, advertised %s", cfg.ReservedResources, cfg.Resources)
	}

	// Explicit --resources: advertised as given, nothing reserved; what
	// it does not name is detected, as Mesos' agent does (disk less the
	// node's share, ports 31000-32000); a zero amount stays zero.
	cfg, err = parse(t, nil, "--work-dir", dir, "--resources", "cpus:2;mem:1024")
	wantDisk := host.Scalar("disk") - defaultReserved(host).Scalar("disk")
	if err != nil || cfg.Resources.Scalar("cpus") != 2 || cfg.Resources.Scalar("mem") != 1024 || cfg.Resources.Scalar("disk") != wantDisk ||
		cfg.Resources.RangesOf("ports") == nil || cfg.ReservedResources != nil {
		t.Errorf("--resources: %v %s reserved %s", err, cfg.Resources, cfg.ReservedResources)
	}
	cfg, err = parse(t, nil, "--work-dir", dir, "--resources", "cpus:2;mem:1024;disk:0;ports:[40000-40001]")
	if err != nil || !cfg.Resources.Equal(mustResources(t, "cpus:2;mem:1024;ports:[40000-40001]")) {
		t.Errorf("--resources with disk:0: %v %s", err, cfg.Resources)
	}

	for _, args := range [][]string{
		{"--resources", "cpus:2", "--reserved-resources", "cpus:1"},
		{"--reserved-resources", "cpus:100000"},
		{"--reserved-resources", "cpus:x"},
		{"--cgroups-root", "/abs"},
		{"--cgroups-root", "a/../b"},
	} {
		_, err := parse(t, nil, append([]string{"--work-dir", dir}, args...)...)
		if err == nil || !strings.Contains(err.Error(), strings.Split(args[len(args)-2], "-")[2]) {
			t.Errorf("%v: %v", args, err)
		}
	}
}
