package node

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"nodectl/cluster/api"
	"nodectl/cluster/apps"
	"nodectl/cluster/auth"
	"nodectl/embed"
	"nodectl/runtime"
)

// ErrConfig wraps every configuration error.
var ErrConfig = errors.New("config")

// Config is everything `nodectl up` needs, after flags, environment, config
// file and defaults have been merged and validated.
type Config struct {
	Role         string // master, agent or all
	WorkDir      string
	IP           string // bind address
	AdvertiseIP  string // address others use to reach this node
	Port         int    // master API
	AgentPort    int
	EtcdPort     int
	EtcdPeerPort int
	Masters      []string // agent: master addresses (host:port)
	Resources    api.Resources
	Attributes   api.Attributes
	// ReservedResources is --reserved-resources: what the node keeps for
	// its own processes out of detected resources. Before Validate, what
	// the operator gave (nil: the defaults); after it, the effective
	// reservation when resources were detected, nil when --resources was
	// given (it is then what tasks may use, as is).
	ReservedResources api.Resources
	UpdateKey         string // --update-key: the public key node upgrades are verified with (node_upgrade.go)
	upgrader          *nodeUpgrader
	// CgroupsRoot is --cgroups-root (Mesos' --cgroups_root): the node's
	// cgroups /<root>/system (nodectl itself) and /<root>/containers (every
	// task's container). Empty (a Config built in code, or
	// --cgroups-root=""): no cgroups of its own; nodectl stays where it was
	// started and containers go under /nodectl.
	CgroupsRoot string
	// reservedApplied: Validate has taken ReservedResources off detected
	// Resources (Validate may run again).
	reservedApplied bool
	// reservedNamed are the resources --reserved-resources names, even
	// with zero amounts (which ReservedResources drops).
	reservedNamed []string
	// resourcesNamed are the resources --resources names (zero amounts
	// included); the agent detects the others of cpus, mem, disk and ports.
	resourcesNamed []string
	Hostname       string

	AgentPingTimeout            time.Duration
	MaxAgentPingTimeouts        int
	AllocationInterval          time.Duration
	OfferTimeout                time.Duration
	AgentRemovalRateLimit       string
	AgentReregisterTimeout      time.Duration
	RecoveryAgentRemovalLimit   string
	RegistrationBackoffFactor   time.Duration
	ExecutorShutdownGrace       time.Duration
	EnforceDiskQuota            bool
	CgroupsEnableCFS            bool
	CgroupsFavorDynMods         bool
	WarmContainers              bool
	AppsRole                    string
	TaskReservationTimeout      time.Duration
	DiskWatchInterval           time.Duration
	UsageInterval, UsageHistory time.Duration // agent resource history (runtime/usage.go)
	InsecureRegistries          []string
	AllowedHostPaths            []runtime.HostPathRule
	TaskHiddenPaths             []string
	SeccompConfigDir            string
	SeccompProfileName          string
	CNIConfigDir, CNIPluginsDir string // agent: --network_cni_config_dir, --network_cni_plugins_dir
	NoSwitchUser                bool   // agent: --switch_user=false (default true, as Mesos)
	AppsUser                    string // master: the built-in Marathon's user (--mesos_user); "" is apps.DefaultUser
	DisableMaintenanceMode      bool   // master: --disable_maintenance_mode (Marathon's)
	DrainingSeconds             int    // master: --draining_seconds (Marathon's)
	Recover                     string
	Strict                      bool
	RecoveryTimeout             time.Duration
	ExecutorRegistrationTimeout time.Duration // agent: custom executors (runtime/executor.go)
	ReconfigurationPolicy       string
	BootID                      string
	// Fetcher is the agent's Mesos fetcher (runtime.FetcherConfig).
	Fetcher runtime.FetcherConfig
	// SandboxGC is the agent's sandbox garbage collection (mesos_flags.go).
	SandboxGC sandboxGC
	// Roles are the role flags (roles_flags.go).
	Roles rolesConfig
	// DNS is the agent's DNS server (dns_flags.go).
	DNS dnsConfig
	// ClusterNetworks are the cluster network flags (network_flags.go).
	ClusterNetworks []api.ClusterNetwork

	// HA masters (docs/ha.md).
	Join                  string // master: URL of a running master to join through
	Token                 string // join token
	WipeRemoved           bool   // master: a removed member wipes its etcd data and joins again
	ClusterReset          bool   // master: restart this member's data as a one-member cluster
	Restore               string // master, with ClusterReset: snapshot file to restore from
	SnapshotInterval      time.Duration
	SnapshotRetention     int
	EtcdHeartbeatInterval time.Duration
	EtcdElectionTimeout   time.Duration
	LeaderLeaseTTL        time.Duration
	// etcd space (docs/ha.md "A full etcd database").
	MaxVersions             int   // master: app versions kept per app (0: apps.DefaultMaxVersions)
	MaxConnections          int   // master and agent ports: open connections per listener
	EtcdQuotaBackendBytes   int64 // master: etcd's database quota (0: etcd's 2 GiB)
	EtcdCompactionRetention time.Duration

	LogDir          string
	LoggingLevel    string
	Quiet           bool
	LogBufSecs      int
	ExternalLogFile string
	LogFormat       string

	// Authentication and authorization (docs/security.md): Mesos' flags,
	// with nodectl's secure defaults.
	Credentials   string // --credentials: JSON or text file (or inline JSON)
	ACLs          string // --acls
	FirewallRules string // --firewall_rules
	RateLimits    string // --rate_limits
	// The zero values are the secure defaults: a Config built in code
	// (tests) authenticates everything.
	AnonymousReadonly   bool // --authenticate_http_readonly=false (nodectl's default true; Mesos' false)
	AnonymousReadwrite  bool // --authenticate_http_readwrite=false (nodectl's default true; Mesos' false)
	AnonymousFrameworks bool // --authenticate_frameworks=false (nodectl's default true; Mesos' false)
	NoRootSubmissions   bool // --root_submissions=false (default true, as Mesos)

	// Flags is every flag's effective value, shown in /state and /flags;
	// secret ones (secretFlags) are <redacted>.
	Flags map[string]string
}

func (c Config) runsMaster() bool { return c.Role == "master" || c.Role == "all" }
func (c Config) runsAgent() bool  { return c.Role == "agent" || c.Role == "all" }

// envName is the environment variable of a flag: NODECTL_<UPPER_SNAKE>.
func envName(flag string) string {
	return "NODECTL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// upFlags are the flags of `nodectl up`. Mesos spellings are aliases.
func upFlags() []cli.Flag {
	str := func(name, def, usage string, aliases ...string) cli.Flag {
		return &cli.StringFlag{Name: name, Value: def, Usage: usage, Aliases: aliases, EnvVars: []string{envName(name)}}
	}
	num := func(name string, def int, usage string, aliases ...string) cli.Flag {
		return &cli.IntFlag{Name: name, Value: def, Usage: usage, Aliases: aliases, EnvVars: []string{envName(name)}}
	}
	dur := func(name string, def time.Duration, usage string, aliases ...string) cli.Flag {
		return &cli.GenericFlag{Name: name, Value: &durationFlag{D: def}, Usage: usage, Aliases: aliases, EnvVars: []string{envName(name)}}
	}
	boolT := func(name, usage string, aliases ...string) cli.Flag {
		return &cli.BoolFlag{Name: name, Value: true, Usage: usage, Aliases: aliases, EnvVars: []string{envName(name)}}
	}
	return withMesosEnv(append([]cli.Flag{
		&cli.StringFlag{Name: "config", Usage: "YAML file of flag values (keys are flag names)", EnvVars: []string{envName("config")}},
		str("role", "all", "what this node runs: master, agent or all"),
		str("work-dir", "/var/lib/nodectl", "directory for etcd data, checkpoints and sandboxes", "work_dir"),
		str("ip", "", "address to bind (default: all addresses, advertising the primary one)"),
		str("advertise-ip", "", "address other nodes use to reach this one", "advertise_ip"),
		num("port", 5050, "master API port"),
		num("agent-port", 5051, "agent API port", "agent_port"),
		num("etcd-port", 2379, "embedded etcd client port", "etcd_port"),
		num("etcd-peer-port", 2380, "embedded etcd peer port", "etcd_peer_port"),
		str("master", "", "agent: comma-separated master addresses host:port"),
		str("resources", "", "agent resources, Mesos syntax 'cpus:2;mem:1024;disk:4096;ports:[31000-32000]' (default: detected; cpus, mem, disk or ports it leaves out are detected, as Mesos does)"),
		str("reserved-resources", "", "agent: what the node keeps for its own processes out of detected resources, Mesos syntax 'cpus:0.5;mem:1024' (default: cpus max(0.5, 5% of the CPUs), mem min(1024, half), disk min(5120, half); a resource not named keeps its default); not with --resources", "reserved_resources"),
		str("cgroups-root", "nodectl", "agent: cgroup under which nodectl runs (<root>/system, higher CPU weight) and tasks' containers run (<root>/containers); empty: none", "cgroups_root"),
		str("attributes", "", "agent attributes 'rack:a;zone:1'"),
		str("hostname", "", "hostname to advertise (default: the host's)"),
		dur("agent-ping-timeout", 15*time.Second, "master: how long an agent may stay silent per missed ping", "agent_ping_timeout", "slave_ping_timeout"),
		num("max-agent-ping-timeouts", 5, "master: missed pings before an agent is marked inactive", "max_agent_ping_timeouts", "max_slave_ping_timeouts"),
		dur("allocation-interval", time.Second, "master: longest time between allocation rounds (rounds also run on every change)", "allocation_interval"),
		dur("offer-timeout", 0, "master: rescind offers not answered in this time (0: never)", "offer_timeout"),
		str("agent-removal-rate-limit", "", "master: at most this many silent agents marked unreachable per period, e.g. 1/10mins (default: no limit)", "agent_removal_rate_limit", "slave_removal_rate_limit"),
		dur("agent-reregister-timeout", 10*time.Minute, "master: after a failover, agents not back in this time are marked unreachable", "agent_reregister_timeout", "slave_reregister_timeout"),
		str("recovery-agent-removal-limit", "100%", "master: if more of the recovered agents than this stay away, the leader steps down instead of marking them", "recovery_agent_removal_limit", "recovery_slave_removal_limit"),
		dur("registration-backoff-factor", time.Second, "agent: registration retry backoff factor", "registration_backoff_factor"),
		dur("executor-shutdown-grace-period", 5*time.Second, "agent: time between SIGTERM and SIGKILL when a task is killed", "executor_shutdown_grace_period"),
		&cli.BoolFlag{Name: "cgroups-enable-cfs", Aliases: []string{"cgroups_enable_cfs"}, EnvVars: []string{envName("cgroups-enable-cfs")},
			Usage: "agent: cap each task's CPU at its cpus with a CFS quota (Mesos' default: off, cpus are shares and a task may use idle CPU)"},
		boolT("warm-containers", "agent: make tasks' containers ahead (their namespaces, mounts, seccomp filter and user, like the last tasks' of up to three kinds: command tasks by user, image tasks by image and user, each image task's on a root of its own): a task like one of them then starts by taking it over, without creating a container"),
		boolT("cgroups-favor-dynmods", "agent: turn on the host's cgroup2 mount option favordynmods at start: a container start then moves its init into its cgroups without waiting ~10 ms for the kernel (host-wide; forks and exits cost a little more)"),
		boolT("enforce-container-disk-quota", "agent: kill a task whose sandbox grows beyond its disk resource, or whose persistent volume beyond its size (REASON_CONTAINER_LIMITATION_DISK); on by default, unlike Mesos, so a task cannot fill the work-dir filesystem", "enforce_container_disk_quota"),
		dur("container-disk-watch-interval", 15*time.Second, "agent: how often sandboxes and persistent volumes are measured", "container_disk_watch_interval"),
		dur("usage-sample-interval", runtime.DefaultUsageInterval, "agent: how often each task's CPU, memory, disk and network use is sampled for its resource history"),
		dur("usage-history", runtime.DefaultUsageHistory, "agent: how much resource history is kept per task (memory is bounded: at most 1000 task series)"),
		str("mesos-role", "marathon", "master: the role of the built-in apps framework, in which resident apps reserve", "mesos_role"),
		str("mesos-user", apps.DefaultUser, "master: the user of the built-in apps framework, as which apps without a \"user\" run (Marathon's --mesos_user)", "mesos_user"),
		&cli.BoolFlag{Name: "disable-maintenance-mode", Usage: "master: the built-in apps framework uses offers of machines in maintenance like any other (Marathon's --disable_maintenance_mode; by default it declines them: docs/maintenance.md)", Aliases: []string{"disable_maintenance_mode"}, EnvVars: []string{envName("disable-maintenance-mode")}},
		num("draining-seconds", 0, "master: the built-in apps framework declines a machine's offers this many seconds before its maintenance window starts (Marathon's --draining_seconds)", "draining_seconds"),
		dur("task-reservation-timeout", 20*time.Second, "master: a resident app's reservation whose task does not start in this time is released", "task_reservation_timeout"),
		str("insecure-registries", "", "agent: comma-separated registry hosts that may be pulled from over plain HTTP", "insecure_registries"),
		str("allowed-host-paths", "", "agent: comma-separated host paths tasks' hostPath volumes may mount, read-only unless suffixed :rw, e.g. /data/shared:rw,/srv/ro (default: none; never the work dir)", "allowed_host_paths"),
		str("task-hidden-paths", "", "agent: comma-separated host paths (globs allowed) command tasks do not see, besides the work dir and the host's secrets (/etc/shadow, /root, /home/*/.ssh, ...)", "task_hidden_paths"),
		str("seccomp-config-dir", "", "agent: directory of seccomp profiles (OCI LinuxSeccomp JSON) that --seccomp-profile-name and tasks name", "seccomp_config_dir"),
		str("seccomp-profile-name", "", "agent: profile in --seccomp-config-dir every task gets unless it names one (default: the built-in profile)", "seccomp_profile_name"),
		str("network-cni-config-dir", "", "agent: directory of CNI network configuration lists tasks may name (besides the built-in mesos-bridge)", "network_cni_config_dir"),
		str("network-cni-plugins-dir", "", "agent: directory searched for CNI plugins before the embedded ones", "network_cni_plugins_dir"),
		str("fetcher-cache-dir", "", "agent: directory of the fetcher cache, emptied at start (default: <work-dir>/fetch)", "fetcher_cache_dir"),
		str("fetcher-cache-size", "2GB", "agent: size of the fetcher cache (Mesos Bytes: 2GB, 512MB, ...); least recently used files are evicted", "fetcher_cache_size"),
		dur("fetcher-stall-timeout", time.Minute, "agent: a fetch that receives nothing for this long fails", "fetcher_stall_timeout"),
		str("fetcher-max-size", "1GB", "agent: a URI larger than this fails to fetch (Mesos Bytes)", "fetcher_max_size"),
		str("recover", "reconnect", "agent: reconnect (reattach to running tasks) or cleanup (kill them and exit)"),
		&cli.BoolFlag{Name: "strict", Value: true, Usage: "agent: any recovery error is fatal (--no-strict: skip bad records)", EnvVars: []string{envName("strict")}},
		&cli.BoolFlag{Name: "no-strict", Usage: "agent: skip bad checkpoint records, count them in slave/recovery_errors", Hidden: true},
		dur("executor-registration-timeout", time.Minute, "agent: a custom executor that has not subscribed to the executor API by then is killed", "executor_registration_timeout"),
		dur("recovery-timeout", 15*time.Minute, "agent: time allotted to recover after a restart; running tasks not reattached by then are killed and reported TASK_FAILED", "recovery_timeout"),
		str("reconfiguration-policy", "equal", "agent: equal or additive: how the config may change across restarts", "reconfiguration_policy"),
		str("join", "", "master: URL of a running master to join through (http[s]://HOST:PORT); the first master has none"),
		str("token", "", "join token (nodectl token create)"),
		&cli.BoolFlag{Name: "wipe-removed", Usage: "master: if this master was removed from the quorum, move its etcd data aside and join again (needs --join)", EnvVars: []string{envName("wipe-removed")}},
		&cli.BoolFlag{Name: "cluster-reset", Usage: "master: disaster recovery: restart this master's etcd data as a one-member cluster (others join again)", EnvVars: []string{envName("cluster-reset")}},
		str("restore", "", "master, with --cluster-reset: start the one-member cluster from this snapshot file instead"),
		dur("snapshot-interval", 12*time.Hour, "master: how often to save an etcd snapshot into <work-dir>/snapshots (0: never)", "snapshot_interval"),
		num("snapshot-retention", 5, "master: scheduled snapshots to keep", "snapshot_retention"),
		dur("etcd-heartbeat-interval", 50*time.Millisecond, "master: etcd Raft heartbeat interval", "etcd_heartbeat_interval"),
		dur("etcd-election-timeout", 500*time.Millisecond, "master: etcd Raft election timeout (at least 5 heartbeats)", "etcd_election_timeout"),
		num("max-connections", defaultServerLimits.MaxConns, "master and agent ports: open connections each listener holds; at the cap it closes the one that has waited longest on its client (a master needs about 2 per agent: raise it, and the open-files limit, beyond ~2,000 agents)", "max_connections"),
		num("max-versions", apps.DefaultMaxVersions, "master: versions of an app kept in etcd, the newest (Marathon's --zk_max_versions)", "max_versions", "zk_max_versions"),
		&cli.Int64Flag{Name: "etcd-quota-backend-bytes", Usage: "master: etcd's database quota in bytes; when full, writes fail until recovered (docs/ha.md) (0: etcd's default, 2 GiB)", Aliases: []string{"etcd_quota_backend_bytes"}, EnvVars: []string{envName("etcd-quota-backend-bytes")}},
		dur("etcd-auto-compaction-retention", embed.DefaultCompactionRetention, "master: etcd keeps this much history; older revisions are compacted periodically", "etcd_auto_compaction_retention"),
		dur("leader-lease-ttl", 0, "master: TTL of the leader's election lease (whole seconds); a leader that cannot renew it stops acting when it runs out; 0: fitted to the etcd membership, also within a term: 60s while etcd has one member, else 3s", "leader_lease_ttl"),
		&cli.StringFlag{Name: "boot-id", Usage: "override the kernel boot id (tests simulate reboots)", Hidden: true, EnvVars: []string{envName("boot-id")}},
		str("log-dir", "", "directory for log files, one per role, rotated by size (default: stderr only)", "log_dir"),
		str("logging-level", "INFO", "INFO, WARNING or ERROR (DEBUG for more)", "logging_level"),
		&cli.BoolFlag{Name: "quiet", Usage: "do not log to stderr", EnvVars: []string{envName("quiet")}},
		num("logbufsecs", 0, "seconds log file writes may be buffered"),
		str("external-log-file", "", "log file written by something else, shown instead of --log-dir's", "external_log_file"),
		str("log-format", "text", "text or json", "log_format"),
		str("credentials", "", "master: principals and secrets for HTTP Basic, Mesos' JSON {\"credentials\":[{\"principal\",\"secret\"}]} or its text form; a path or file:///path"),
		str("acls", "", "master: Mesos ACLs (JSON, a path or file:///path) narrowing what principals may do (default: any authenticated principal may do everything)"),
		str("firewall-rules", "", "master: Mesos firewall rules {\"disabled_endpoints\":{\"paths\":[...]}} (JSON, a path or file:///path): those paths answer 403", "firewall_rules"),
		str("rate-limits", "", "master: Mesos rate limits {\"limits\":[{\"principal\",\"qps\",\"capacity\"}],\"aggregate_default_qps\":...} (JSON, a path or file:///path): over them is 429", "rate_limits"),
		boolT("authenticate-http-readonly", "master: read-only endpoints (/state, /metrics, /files, GET /v2/...) need a principal (Mesos' default is false)", "authenticate_http_readonly"),
		boolT("authenticate-http-readwrite", "master: endpoints that change things need a principal (Mesos' default is false)", "authenticate_http_readwrite"),
		boolT("authenticate-frameworks", "master: schedulers on /api/v1/scheduler need a principal (Mesos' default is false)", "authenticate_frameworks", "authenticate", "authenticate_http_frameworks"),
		boolT("authenticate-agents", "master: agents need a certificate of the cluster; cannot be turned off", "authenticate_agents", "authenticate_slaves"),
		boolT("root-submissions", "master: principals may run tasks as root", "root_submissions"),
		boolT("switch-user", "agent: run each task as its user (CommandInfo.user, else FrameworkInfo.user; an image's USER); false: as the agent's user", "switch_user"),
	}, append(append(append(append(sandboxGCFlags(), roleFlags()...), dnsFlags()...), networkFlags()...), updateKeyFlag())...))
}

// loadConfig merges the config file into c (flags and env win), then builds
// and validates the Config.
func loadConfig(c *cli.Context) (Config, error) {
	if path := c.String("config"); path != "" {
		if err := applyConfigFile(c, path); err != nil {
			return Config{}, err
		}
	}
	cfg := Config{
		Role: c.String("role"), WorkDir: c.String("work-dir"), IP: c.String("ip"), AdvertiseIP: c.String("advertise-ip"),
		Port: c.Int("port"), AgentPort: c.Int("agent-port"), EtcdPort: c.Int("etcd-port"), EtcdPeerPort: c.Int("etcd-peer-port"),
		Hostname: c.String("hostname"), MaxAgentPingTimeouts: c.Int("max-agent-ping-timeouts"),
		AgentPingTimeout:          c.Generic("agent-ping-timeout").(*durationFlag).D,
		AllocationInterval:        c.Generic("allocation-interval").(*durationFlag).D,
		OfferTimeout:              c.Generic("offer-timeout").(*durationFlag).D,
		AgentRemovalRateLimit:     c.String("agent-removal-rate-limit"),
		AgentReregisterTimeout:    c.Generic("agent-reregister-timeout").(*durationFlag).D,
		RecoveryAgentRemovalLimit: c.String("recovery-agent-removal-limit"),
		RegistrationBackoffFactor: c.Generic("registration-backoff-factor").(*durationFlag).D,
		ExecutorShutdownGrace:     c.Generic("executor-shutdown-grace-period").(*durationFlag).D,
		EnforceDiskQuota:          c.Bool("enforce-container-disk-quota"),
		CgroupsFavorDynMods:       c.Bool("cgroups-favor-dynmods"),
		WarmContainers:            c.Bool("warm-containers"),
		CgroupsEnableCFS:          c.Bool("cgroups-enable-cfs"),
		AppsRole:                  c.String("mesos-role"),
		TaskReservationTimeout:    c.Generic("task-reservation-timeout").(*durationFlag).D,
		DiskWatchInterval:         c.Generic("container-disk-watch-interval").(*durationFlag).D,
		UsageInterval:             c.Generic("usage-sample-interval").(*durationFlag).D,
		UsageHistory:              c.Generic("usage-history").(*durationFlag).D,
		InsecureRegistries:        splitList(c.String("insecure-registries")),
		TaskHiddenPaths:           splitList(c.String("task-hidden-paths")),
		SeccompConfigDir:          c.String("seccomp-config-dir"),
		SeccompProfileName:        c.String("seccomp-profile-name"),
		CNIConfigDir:              c.String("network-cni-config-dir"), CNIPluginsDir: c.String("network-cni-plugins-dir"),
		Recover: c.String("recover"), Strict: c.Bool("strict") && !c.Bool("no-strict"),
		RecoveryTimeout:             c.Generic("recovery-timeout").(*durationFlag).D,
		ExecutorRegistrationTimeout: c.Generic("executor-registration-timeout").(*durationFlag).D,
		ReconfigurationPolicy:       c.String("reconfiguration-policy"), BootID: c.String("boot-id"),
		Join: c.String("join"), Token: c.String("token"), WipeRemoved: c.Bool("wipe-removed"), UpdateKey: c.String("update-key"),
		ClusterReset: c.Bool("cluster-reset"), Restore: c.String("restore"),
		SnapshotInterval:      c.Generic("snapshot-interval").(*durationFlag).D,
		SnapshotRetention:     c.Int("snapshot-retention"),
		EtcdHeartbeatInterval: c.Generic("etcd-heartbeat-interval").(*durationFlag).D,
		EtcdElectionTimeout:   c.Generic("etcd-election-timeout").(*durationFlag).D,
		LeaderLeaseTTL:        c.Generic("leader-lease-ttl").(*durationFlag).D,
		MaxConnections:        c.Int("max-connections"),
		MaxVersions:           c.Int("max-versions"), EtcdQuotaBackendBytes: c.Int64("etcd-quota-backend-bytes"),
		EtcdCompactionRetention: c.Generic("etcd-auto-compaction-retention").(*durationFlag).D,
		LogDir:                  c.String("log-dir"), LoggingLevel: strings.ToUpper(c.String("logging-level")), Quiet: c.Bool("quiet"),
		LogBufSecs: c.Int("logbufsecs"), ExternalLogFile: c.String("external-log-file"), LogFormat: c.String("log-format"),
		Credentials: c.String("credentials"), ACLs: c.String("acls"), FirewallRules: c.String("firewall-rules"),
		RateLimits: c.String("rate-limits"), AnonymousReadonly: !c.Bool("authenticate-http-readonly"),
		AnonymousReadwrite: !c.Bool("authenticate-http-readwrite"), AnonymousFrameworks: !c.Bool("authenticate-frameworks"),
		NoRootSubmissions: !c.Bool("root-submissions"), CgroupsRoot: c.String("cgroups-root"),
		NoSwitchUser: !c.Bool("switch-user"), AppsUser: c.String("mesos-user"),
		Flags: map[string]string{},
	}
	cfg.DisableMaintenanceMode, cfg.DrainingSeconds = c.Bool("disable-maintenance-mode"), c.Int("draining-seconds")
	if err := loadMesosFlags(c, &cfg); err != nil {
		return Config{}, err
	}
	if !c.Bool("authenticate-agents") {
		return Config{}, fmt.Errorf("%w: --authenticate-agents=false: not supported: agents always authenticate with their certificate of the cluster (mutual TLS)", ErrConfig)
	}
	for _, f := range upFlags() {
		name := f.Names()[0]
		cfg.Flags[name] = shownFlag(name, fmt.Sprint(c.Value(name)))
		if g, ok := c.Generic(name).(*durationFlag); ok {
			cfg.Flags[name] = g.String()
		}
	}
	cfg.Masters = splitList(c.String("master"))
	var err error
	if cfg.Resources, err = api.ParseResources(c.String("resources")); err != nil {
		return Config{}, fmt.Errorf("%w: --resources: %w", ErrConfig, err)
	}
	if cfg.ReservedResources, err = api.ParseResources(c.String("reserved-resources")); err != nil {
		return Config{}, fmt.Errorf("%w: --reserved-resources: %w", ErrConfig, err)
	}
	cfg.reservedNamed = resourceNames(c.String("reserved-resources"))
	cfg.resourcesNamed = resourceNames(c.String("resources"))
	if cfg.Attributes, err = api.ParseAttributes(c.String("attributes")); err != nil {
		return Config{}, fmt.Errorf("%w: --attributes: %w", ErrConfig, err)
	}
	if cfg.AllowedHostPaths, err = runtime.ParseAllowedHostPaths(c.String("allowed-host-paths")); err != nil {
		return Config{}, fmt.Errorf("%w: --allowed-host-paths: %w", ErrConfig, err)
	}
	if wd, err := filepath.Abs(cfg.WorkDir); err == nil {
		for _, r := range cfg.AllowedHostPaths {
			if r.Path == wd || strings.HasPrefix(r.Path, wd+"/") {
				return Config{}, fmt.Errorf("%w: --allowed-host-paths: %s is inside the work dir %s, which tasks never mount", ErrConfig, r.Path, wd)
			}
		}
	}
	for _, p := range cfg.TaskHiddenPaths {
		if !filepath.IsAbs(p) {
			return Config{}, fmt.Errorf("%w: --task-hidden-paths: %s is not an absolute path", ErrConfig, p)
		}
		if _, err := filepath.Match(p, ""); err != nil {
			return Config{}, fmt.Errorf("%w: --task-hidden-paths: %s: %w", ErrConfig, p, err)
		}
	}
	if cfg.SeccompProfileName != "" && cfg.SeccompConfigDir == "" {
		return Config{}, fmt.Errorf("%w: --seccomp-profile-name needs --seccomp-config-dir", ErrConfig)
	}
	if cfg.SeccompProfileName != "" {
		if err := runtime.CheckSeccompProfile(cfg.SeccompConfigDir, cfg.SeccompProfileName); err != nil {
			return Config{}, fmt.Errorf("%w: --seccomp-profile-name: %w", ErrConfig, err)
		}
	}
	cfg.Fetcher = runtime.FetcherConfig{CacheDir: c.String("fetcher-cache-dir"), StallTimeout: c.Generic("fetcher-stall-timeout").(*durationFlag).D}
	for _, b := range []struct {
		flag string
		v    *int64
	}{{"fetcher-cache-size", &cfg.Fetcher.CacheSize}, {"fetcher-max-size", &cfg.Fetcher.MaxSize}} {
		if *b.v, err = runtime.ParseBytes(c.String(b.flag)); err != nil || *b.v <= 0 {
			return Config{}, fmt.Errorf("%w: --%s: %q is not a positive size such as 2GB or 512MB", ErrConfig, b.flag, c.String(b.flag))
		}
	}
	if cfg.Fetcher.StallTimeout <= 0 {
		return Config{}, fmt.Errorf("%w: --fetcher-stall-timeout: must be positive", ErrConfig)
	}
	return cfg, cfg.Validate()
}

// Validate checks cfg and fills in derived defaults (hostname, advertised
// address, detected resources).
func (cfg *Config) Validate() error {
	bad := func(flag, format string, args ...any) error {
		return fmt.Errorf("%w: --%s: %s", ErrConfig, flag, fmt.Sprintf(format, args...))
	}
	if !slices.Contains([]string{"master", "agent", "all"}, cfg.Role) {
		return bad("role", "%q is not one of master, agent, all", cfg.Role)
	}
	if cfg.WorkDir == "" {
		return bad("work-dir", "must not be empty")
	}
	for _, p := range []struct {
		flag string
		v    int
	}{{"port", cfg.Port}, {"agent-port", cfg.AgentPort}, {"etcd-port", cfg.EtcdPort}, {"etcd-peer-port", cfg.EtcdPeerPort}} {
		if p.v <= 0 || p.v > 65535 {
			return bad(p.flag, "%d is not a port (1-65535)", p.v)
		}
	}
	for _, a := range []struct{ flag, v string }{{"ip", cfg.IP}, {"advertise-ip", cfg.AdvertiseIP}} {
		if a.v != "" && net.ParseIP(a.v) == nil {
			return bad(a.flag, "%q is not an IP address", a.v)
		}
	}
	if cfg.Role == "agent" && len(cfg.Masters) == 0 && cfg.Join == "" {
		return bad("join", "required with --role=agent: --join https://MASTER:5050 --token TOKEN (nodectl token create --role agent on a master); an agent that has joined may give --master host:port instead")
	}
	for _, m := range cfg.Masters {
		if _, _, err := net.SplitHostPort(m); err != nil {
			return bad("master", "%q is not host:port", m)
		}
	}
	if cfg.runsMaster() {
		for _, f := range []struct {
			flag, v string
			parse   func(string) error
		}{
			{"credentials", cfg.Credentials, func(v string) error { _, err := auth.ParseCredentials(v); return err }},
			{"acls", cfg.ACLs, func(v string) error { _, err := auth.ParseACLs(v); return err }},
			{"firewall-rules", cfg.FirewallRules, func(v string) error { _, err := auth.ParseFirewall(v); return err }},
			{"rate-limits", cfg.RateLimits, func(v string) error { _, err := auth.ParseRateLimits(v); return err }},
		} {
			if err := f.parse(f.v); err != nil {
				return bad(f.flag, "%v", err)
			}
		}
	}
	if err := cfg.validateHA(bad); err != nil {
		return err
	}
	if cfg.AgentPingTimeout <= 0 {
		return bad("agent-ping-timeout", "must be positive")
	}
	if cfg.DrainingSeconds < 0 {
		return bad("draining-seconds", "must not be negative")
	}
	if cfg.MaxConnections != 0 && cfg.MaxConnections < minMaxConns {
		return bad("max-connections", "%d is below %d (0: the default, %d)", cfg.MaxConnections, minMaxConns, defaultServerLimits.MaxConns)
	}
	if cfg.MaxVersions < 0 {
		return bad("max-versions", "must not be negative (0: the default, %d)", apps.DefaultMaxVersions)
	}
	if cfg.EtcdQuotaBackendBytes < 0 {
		return bad("etcd-quota-backend-bytes", "must not be negative")
	}
	if cfg.EtcdCompactionRetention < 0 {
		return bad("etcd-auto-compaction-retention", "must not be negative")
	}
	if cfg.MaxAgentPingTimeouts < 1 {
		return bad("max-agent-ping-timeouts", "must be at least 1")
	}
	switch cfg.LoggingLevel {
	case "DEBUG", "INFO", "WARNING", "WARN", "ERROR":
	default:
		return bad("logging-level", "%q is not one of INFO, WARNING, ERROR, DEBUG", cfg.LoggingLevel)
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		return bad("log-format", "%q is not text or json", cfg.LogFormat)
	}
	if cfg.Recover != "" && cfg.Recover != "reconnect" && cfg.Recover != "cleanup" {
		return bad("recover", "%q is not reconnect or cleanup", cfg.Recover)
	}
	if cfg.ExecutorRegistrationTimeout < 0 {
		return bad("executor-registration-timeout", "must not be negative (0: the default, 1mins)")
	}
	if cfg.RecoveryTimeout < 0 {
		return bad("recovery-timeout", "must not be negative (0: the default, 15mins)")
	}
	if cfg.ReconfigurationPolicy != "" && cfg.ReconfigurationPolicy != "equal" && cfg.ReconfigurationPolicy != "additive" {
		return bad("reconfiguration-policy", "%q is not equal or additive", cfg.ReconfigurationPolicy)
	}
	if cfg.LogBufSecs < 0 {
		return bad("logbufsecs", "must not be negative")
	}
	if cfg.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return bad("hostname", "not given and the host's is unknown: %v", err)
		}
		cfg.Hostname = h
	}
	if cfg.AdvertiseIP == "" {
		cfg.AdvertiseIP = cfg.IP
		if cfg.AdvertiseIP == "" || net.ParseIP(cfg.AdvertiseIP).IsUnspecified() {
			cfg.AdvertiseIP = primaryIP()
		}
	}
	if cfg.CgroupsRoot != "" && (strings.HasPrefix(cfg.CgroupsRoot, "/") || slices.Contains(strings.Split(cfg.CgroupsRoot, "/"), "..")) {
		return bad("cgroups-root", "%q: want a relative cgroup path without .. (e.g. nodectl)", cfg.CgroupsRoot)
	}
	if cfg.runsAgent() {
		if err := checkDiskRoots(cfg.WorkDir, cfg.Resources); err != nil {
			return bad("resources", "%v", err)
		}
		switch {
		case cfg.Resources == nil:
			host := hostResources(cfg.WorkDir)
			reserved, err := reservedFor(host, cfg.ReservedResources, cfg.reservedNamed)
			if err != nil {
				return bad("reserved-resources", "%v", err)
			}
			cfg.Resources, cfg.ReservedResources, cfg.reservedApplied = host.Subtract(reserved), reserved, true
		case (cfg.ReservedResources != nil || cfg.reservedNamed != nil) && !cfg.reservedApplied:
			return bad("reserved-resources", "applies to detected resources only; with --resources, give what tasks may use")
		}
		if !cfg.reservedApplied {
			cfg.Resources = withDetected(cfg.Resources, cfg.resourcesNamed, cfg.WorkDir)
		}
		if cfg.Flags != nil {
			cfg.Flags["reserved-resources"] = cfg.ReservedResources.String()
		}
	}
	return nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// primaryIP is the address of the interface holding the default route,
// or 127.0.0.1 on a host without one.
func primaryIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "127.0.0.1"
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
			return ipn.IP.String()
		}
	}
	return "127.0.0.1"
}
