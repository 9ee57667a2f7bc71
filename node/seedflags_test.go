package node

import (
	"bytes"
	"strings"
	"testing"
)

// seedFlags are the 89 master and agent flags of a Mesos 1.x deployment
// guide the customer works from (the flags of
// https://mesos.apache.org/documentation/latest/configuration/ that such
// a guide lists: common, master, agent, and the network isolator's).
var seedFlags = []string{
	"acls", "allocation_interval", "allocator", "attributes", "authenticate", "authenticate_slaves", "authenticatee",
	"authenticators", "cgroups_enable_cfs", "cgroups_hierarchy", "cgroups_limit_swap", "cgroups_root", "cluster",
	"container_disk_watch_interval", "containerizer_path", "containerizers", "credential", "credentials",
	"default_container_image", "default_container_info", "default_role", "disk_watch_interval", "docker",
	"docker_kill_orphans", "docker_mesos_image", "docker_remove_delay", "docker_sandbox_directory", "docker_sock",
	"docker_stop_timeout", "egress_rate_limit_per_container", "enforce_container_disk_quota",
	"ephemeral_ports_per_container", "eth0_name", "executor_registration_timeout", "executor_shutdown_grace_period",
	"external_log_file", "fetcher_cache_dir", "fetcher_cache_size", "firewall_rules", "framework_sorter",
	"frameworks_home", "gc_delay", "gc_disk_headroom", "hadoop_home", "hooks", "hostname", "ip", "isolation",
	"launcher_dir", "lo_name", "log_auto_initialize", "log_dir", "logbufsecs", "logging_level", "master",
	"max_executors_per_slave", "modules", "network_enable_socket_statistics", "offer_timeout", "perf_duration",
	"perf_events", "perf_interval", "port", "quorum", "rate_limits", "recover", "recovery_slave_removal_limit",
	"recovery_timeout", "registration_backoff_factor", "registry", "registry_fetch_timeout", "registry_store_timeout",
	"registry_strict", "resource_monitoring_interval", "resources", "roles", "root_submissions",
	"slave_removal_rate_limit", "slave_reregister_timeout", "slave_subsystems", "strict", "switch_user",
	"user_sorter", "webui_dir", "weights", "whitelist", "work_dir", "zk", "zk_session_timeout",
}

// TestSeedFlagsTable iterates the deployment guide's flags: each is one
// `nodectl up` takes under its Mesos spelling, or one it refuses with its
// reason (exit 2, one line, never "unknown flag"). docs/flags.md has the
// table (TestFlagsDoc).
func TestSeedFlagsTable(t *testing.T) {
	clearMesosEnv(t)
	if len(seedFlags) != 89 {
		t.Fatalf("%d seed flags, want 89", len(seedFlags))
	}
	taken := map[string]bool{}
	for _, f := range upFlags() {
		for _, n := range f.Names() {
			taken[n] = true
		}
	}
	accepted, refused := 0, 0
	for _, name := range seedFlags {
		_, isRefused := refusedFlags[name]
		switch {
		case taken[name] && isRefused:
			t.Errorf("--%s is both taken and refused", name)
		case taken[name]:
			accepted++
		case isRefused:
			refused++
			var out bytes.Buffer
			code := runCLI([]string{"nodectl", "up", "--" + name + "=x"}, &out, &out)
			msg := out.String()
			if code != 2 || strings.Contains(msg, "unknown flag") || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, name) {
				t.Errorf("--%s: exit %d, %q: want exit 2 and one line naming it with its reason", name, code, msg)
			}
		default:
			t.Errorf("--%s is neither taken (under its Mesos spelling) nor refused with a reason", name)
		}
	}
	t.Logf("%d seed flags: %d taken, %d refused with a reason", len(seedFlags), accepted, refused)
}
