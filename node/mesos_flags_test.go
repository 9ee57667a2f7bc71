package node

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// clearMesosEnv unsets every MESOS_* variable for the test.
func clearMesosEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "MESOS_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

// TestMesosEnv: MESOS_<FLAG> sets a flag under any of its spellings,
// NODECTL_* wins over it and the command line over both.
func TestMesosEnv(t *testing.T) {
	clearMesosEnv(t)
	wd := t.TempDir()
	cfg, err := parse(t, map[string]string{
		"MESOS_HOSTNAME": "mesos-host", "MESOS_WORK_DIR": wd, "MESOS_SLAVE_PING_TIMEOUT": "42secs",
		"MESOS_GC_DELAY": "3secs", "MESOS_GC_DISK_HEADROOM": "0.25", "MESOS_DISK_WATCH_INTERVAL": "2secs",
		"MESOS_PORT": "6000", "NODECTL_PORT": "6001",
	}, "--resources", "cpus:1;mem:64")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Hostname != "mesos-host" || cfg.WorkDir != wd || cfg.AgentPingTimeout != 42*time.Second {
		t.Errorf("MESOS_* ignored: hostname %q work dir %q ping timeout %v", cfg.Hostname, cfg.WorkDir, cfg.AgentPingTimeout)
	}
	if cfg.Port != 6001 {
		t.Errorf("port %d, want NODECTL_PORT's 6001 over MESOS_PORT", cfg.Port)
	}
	if g := cfg.SandboxGC; g.GCDelay != 3*time.Second || g.GCDiskHeadroom != 0.25 || g.DiskWatchInterval != 2*time.Second {
		t.Errorf("sandbox GC %+v", g)
	}
	cfg, err = parse(t, map[string]string{"MESOS_HOSTNAME": "mesos-host"}, "--work-dir", wd, "--hostname", "flag-host", "--resources", "cpus:1;mem:64")
	if err != nil || cfg.Hostname != "flag-host" {
		t.Errorf("--hostname under MESOS_HOSTNAME: %q, %v", cfg.Hostname, err)
	}
}

// TestSandboxGCDefaults: Mesos' defaults (1weeks, 0.1, 1mins) and bounds.
func TestSandboxGCDefaults(t *testing.T) {
	clearMesosEnv(t)
	cfg, err := parse(t, nil, "--work-dir", t.TempDir(), "--resources", "cpus:1;mem:64")
	if err != nil {
		t.Fatal(err)
	}
	if g := cfg.SandboxGC; g.GCDelay != 7*24*time.Hour || g.GCDiskHeadroom != 0.1 || g.DiskWatchInterval != time.Minute {
		t.Errorf("defaults %+v", g)
	}
	for _, args := range [][]string{{"--gc_delay", "0secs"}, {"--gc_disk_headroom", "1.5"}, {"--disk_watch_interval", "-1secs"}} {
		if _, err := parse(t, nil, append(args, "--work-dir", t.TempDir())...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// TestRefusedMesosFlags: a Mesos flag nodectl does not take is refused
// with its reason, exit 2, one line, never "unknown flag"; in MESOS_* too.
// No refused flag is one nodectl takes.
func TestRefusedMesosFlags(t *testing.T) {
	clearMesosEnv(t)
	for k := range refusedFlags {
		for _, f := range upFlags() {
			for _, n := range f.Names() {
				if strings.ReplaceAll(n, "-", "_") == k {
					t.Errorf("--%s is both taken and refused", k)
				}
			}
		}
	}
	for _, args := range [][]string{{"--zk=zk://127.0.0.1:2181/mesos"}, {"--zk", "zk://h:2181/mesos"}, {"--no-registry_strict"}, {"--docker-sock=/x"}} {
		var out bytes.Buffer
		code := runCLI(append([]string{"nodectl", "up"}, args...), &out, &out)
		msg := out.String()
		if code != 2 || strings.Contains(msg, "unknown flag") || strings.Count(msg, "\n") != 1 {
			t.Errorf("%v: exit %d, %q", args, code, msg)
		}
	}
	var out bytes.Buffer
	runCLI([]string{"nodectl", "up", "--zk=zk://127.0.0.1:2181/mesos"}, &out, &out)
	if !strings.Contains(out.String(), "etcd is built in; use --join") {
		t.Errorf("--zk refusal: %q", out.String())
	}
	_, err := parse(t, map[string]string{"MESOS_ZK": "zk://h:2181/mesos"}, "--work-dir", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "MESOS_ZK") || !strings.Contains(err.Error(), "--join") {
		t.Errorf("MESOS_ZK: %v", err)
	}
}
