package node

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"nodectl/runtime"
)

// Mesos compatibility of `nodectl up`'s flags
// (http://mesos.apache.org/documentation/latest/configuration/master/ and
// .../configuration/agent/):
//
//   - every flag is also read from MESOS_<NAME> for each of its spellings
//     (MESOS_HOSTNAME, MESOS_WORK_DIR, MESOS_GC_DELAY, ...), as Mesos reads
//     its flags from the environment; NODECTL_<NAME> wins over them, and a
//     command-line flag over both;
//   - the flags of Mesos that nodectl does not take are refused with the
//     reason and what to use instead (refusedFlags), on the command line
//     and in MESOS_* variables alike, never as an unknown flag.

// mesosEnvName is Mesos' environment variable of a flag spelling.
func mesosEnvName(spelling string) string {
	return "MESOS_" + strings.ToUpper(strings.ReplaceAll(spelling, "-", "_"))
}

// withMesosEnv adds MESOS_<NAME> for every spelling of every flag after
// its NODECTL_ variable (the first set variable wins).
func withMesosEnv(flags []cli.Flag) []cli.Flag {
	for _, f := range flags {
		names := f.Names()
		if names[0] == "config" {
			continue
		}
		var env *[]string
		switch t := f.(type) {
		case *cli.StringFlag:
			if t.Hidden {
				continue
			}
			env = &t.EnvVars
		case *cli.IntFlag:
			env = &t.EnvVars
		case *cli.Int64Flag:
			env = &t.EnvVars
		case *cli.Float64Flag:
			env = &t.EnvVars
		case *cli.GenericFlag:
			env = &t.EnvVars
		case *cli.BoolFlag:
			if t.Hidden {
				continue
			}
			env = &t.EnvVars
		default:
			continue
		}
		for _, n := range names {
			if e := mesosEnvName(n); !slices.Contains(*env, e) {
				*env = append(*env, e)
			}
		}
	}
	return flags
}

// sandboxGCFlags are the agent's sandbox garbage collection flags, with
// Mesos' names and defaults (runtime/gc.go).
func sandboxGCFlags() []cli.Flag {
	return []cli.Flag{
		&cli.GenericFlag{Name: "gc-delay", Aliases: []string{"gc_delay"}, Value: &durationFlag{D: runtime.DefaultGCDelay},
			Usage: "agent: the sandbox of a finished executor is removed this long after its last activity (sooner as the disk fills, see --gc-disk-headroom); Mesos duration syntax (1weeks, 3days, 30secs)", EnvVars: []string{envName("gc-delay")}},
		&cli.Float64Flag{Name: "gc-disk-headroom", Aliases: []string{"gc_disk_headroom"}, Value: runtime.DefaultGCDiskHeadroom,
			Usage: "agent: free-disk headroom in [0, 1]: sandboxes older than gc_delay × max(0, 1 − headroom − disk usage) are removed", EnvVars: []string{envName("gc-disk-headroom")}},
		&cli.GenericFlag{Name: "disk-watch-interval", Aliases: []string{"disk_watch_interval"}, Value: &durationFlag{D: runtime.DefaultDiskWatchInterval},
			Usage: "agent: how often disk usage is checked and old sandboxes collected", EnvVars: []string{envName("disk-watch-interval")}},
		imageGCFlag(), // imagegc_flag.go
	}
}

// sandboxGC is the Config of the sandbox garbage collector.
type sandboxGC struct {
	GCDelay           time.Duration
	GCDiskHeadroom    float64
	DiskWatchInterval time.Duration
	ImageGC           runtime.ImageGCConfig // imagegc_flag.go
}

// loadMesosFlags reads the flags of this file into cfg and refuses Mesos
// flags given through MESOS_* variables that nodectl does not take.
func loadMesosFlags(c *cli.Context, cfg *Config) error {
	if err := refusedEnv(os.Getenv); err != nil {
		return err
	}
	cfg.SandboxGC = sandboxGC{
		GCDelay:           c.Generic("gc-delay").(*durationFlag).D,
		GCDiskHeadroom:    c.Float64("gc-disk-headroom"),
		DiskWatchInterval: c.Generic("disk-watch-interval").(*durationFlag).D,
	}
	var err error
	if cfg.SandboxGC.ImageGC, err = parseImageGCConfig(c.String("image-gc-config")); err != nil {
		return err
	}
	if err := loadRoleFlags(c, cfg); err != nil { // roles_flags.go
		return err
	}
	if err := loadDNSFlags(c, cfg); err != nil { // dns_flags.go
		return err
	}
	if err := loadNetworkFlags(c, cfg); err != nil { // network_flags.go
		return err
	}
	g := cfg.SandboxGC
	switch {
	case g.GCDelay <= 0:
		return fmt.Errorf("%w: --gc-delay: must be positive", ErrConfig)
	case g.GCDiskHeadroom < 0 || g.GCDiskHeadroom > 1:
		return fmt.Errorf("%w: --gc-disk-headroom: %v is not in [0, 1]", ErrConfig, g.GCDiskHeadroom)
	case g.DiskWatchInterval <= 0:
		return fmt.Errorf("%w: --disk-watch-interval: must be positive", ErrConfig)
	}
	return nil
}

// refusedFlags are Mesos master and agent flags nodectl does not take,
// each with why and what to use instead. Keys are Mesos' spellings.
var refusedFlags = map[string]string{
	"zk":                               "etcd is built in; use --join to add a master to the cluster",
	"zk_session_timeout":               "etcd is built in (no ZooKeeper); see --etcd-election-timeout and --leader-lease-ttl",
	"quorum":                           "etcd is built in: its quorum is the majority of the masters that joined (nodectl members)",
	"registry":                         "the registry is always kept in the built-in etcd",
	"registry_fetch_timeout":           "the registry is kept in the built-in etcd; there is no separate fetch timeout",
	"registry_store_timeout":           "the registry is kept in the built-in etcd; there is no separate store timeout",
	"registry_strict":                  "the registry is kept in the built-in etcd; agents' re-registration follows --agent-reregister-timeout",
	"log_auto_initialize":              "there is no replicated log: the built-in etcd initializes itself on the first master",
	"allocator":                        "the built-in DRF allocator is the only one",
	"framework_sorter":                 "the built-in allocator always sorts frameworks by DRF",
	"user_sorter":                      "the built-in allocator always sorts by DRF",
	"authenticators":                   "masters authenticate with HTTP Basic (--credentials) and client certificates; nothing else is pluggable",
	"authenticatee":                    "agents authenticate with their certificate of the cluster (nodectl token create --role agent, then --join)",
	"credential":                       "agents authenticate with their certificate of the cluster (nodectl token create --role agent, then --join)",
	"modules":                          "nodectl loads no modules",
	"modules_dir":                      "nodectl loads no modules",
	"hooks":                            "nodectl loads no hook modules",
	"webui_dir":                        "the web UI is built into the binary",
	"cluster":                          "not supported",
	"containerizers":                   "tasks always run in the built-in runtime (images with --insecure-registries); there is no docker or external containerizer",
	"containerizer_path":               "tasks always run in the built-in runtime; there is no external containerizer",
	"isolation":                        "the built-in runtime always isolates with cgroups and namespaces (docs/runtime.md)",
	"launcher_dir":                     "the executor, shim and fetcher are built into the binary",
	"launcher":                         "the built-in runtime always launches through its container shim",
	"docker":                           "images run in the built-in runtime (no docker binary); give --insecure-registries for plain-HTTP registries",
	"docker_mesos_image":               "images run in the built-in runtime; nodectl does not use docker",
	"docker_remove_delay":              "images run in the built-in runtime; sandboxes are collected after --gc-delay",
	"docker_sandbox_directory":         "images run in the built-in runtime; the sandbox is at MESOS_SANDBOX",
	"docker_sock":                      "images run in the built-in runtime; nodectl does not use docker",
	"docker_stop_timeout":              "images run in the built-in runtime; use --executor-shutdown-grace-period",
	"docker_kill_orphans":              "images run in the built-in runtime; orphans are handled by agent recovery (--recover)",
	"default_container_image":          "a task without an image runs on the host's filesystem; give the image in the task",
	"default_container_info":           "give the container in the task",
	"frameworks_home":                  "executors are built into the binary; give command paths in the task",
	"hadoop_home":                      "the fetcher does not fetch hdfs:// URIs",
	"perf_events":                      "perf sampling is not supported",
	"perf_duration":                    "perf sampling is not supported",
	"perf_interval":                    "perf sampling is not supported",
	"resource_monitoring_interval":     "resource usage is measured on demand (/monitor/statistics)",
	"cgroups_hierarchy":                "the built-in runtime uses cgroup v2 at /sys/fs/cgroup; see --cgroups-root",
	"cgroups_limit_swap":               "the built-in runtime always limits memory and swap together",
	"slave_subsystems":                 "nodectl places itself in <cgroups-root>/system; see --cgroups-root",
	"agent_subsystems":                 "nodectl places itself in <cgroups-root>/system; see --cgroups-root",
	"max_executors_per_slave":          "the network isolator is not supported; limit tasks with resources",
	"max_executors_per_agent":          "the network isolator is not supported; limit tasks with resources",
	"ephemeral_ports_per_container":    "the network isolator is not supported",
	"eth0_name":                        "the network isolator is not supported",
	"lo_name":                          "the network isolator is not supported",
	"egress_rate_limit_per_container":  "the network isolator is not supported",
	"network_enable_socket_statistics": "the network isolator is not supported",
}

// refusedFlag is the one-line refusal of a flag name as the parser saw it
// (zk, no-registry_strict, docker-sock), or "" when it is not refused.
func refusedFlag(name string) string {
	key := strings.ReplaceAll(strings.TrimPrefix(strings.TrimLeft(name, "-"), "no-"), "-", "_")
	reason, ok := refusedFlags[key]
	if !ok {
		return ""
	}
	return "--" + key + ": " + reason
}

// refusedEnv refuses a MESOS_* variable naming a refused flag.
func refusedEnv(getenv func(string) string) error {
	keys := make([]string, 0, len(refusedFlags))
	for k := range refusedFlags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if v := getenv(mesosEnvName(k)); v != "" {
			return fmt.Errorf("%w: %s=%s: --%s: %s", ErrConfig, mesosEnvName(k), strconv.Quote(v), k, refusedFlags[k])
		}
	}
	return nil
}
