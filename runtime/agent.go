package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"nodectl/cluster/api"
	"nodectl/runtime/image"
	"nodectl/runtime/internal/cni"
	"nodectl/runtime/internal/container"
	"nodectl/storage"
)

// Config configures an agent. Zero values are the documented defaults.
type Config struct {
	// WorkDir holds the agent's checkpoints and sandboxes; required.
	WorkDir string
	// Hostname, IP and Port are what the agent advertises.
	Hostname string
	IP       string
	Port     int
	// Masters are host:port addresses of masters; required. Standbys
	// redirect to the leader.
	Masters []string
	// Resources and Attributes are reported at registration.
	Resources  api.Resources
	Attributes api.Attributes
	// RegistrationBackoffFactor is Mesos' registration_backoff_factor:
	// attempt n waits a random time in [0, factor·2ⁿ], capped at 1 min.
	// Default 1s.
	RegistrationBackoffFactor time.Duration
	// LeaderKnown, for an agent in the same process as a master (--role=
	// all), reports whether that master knows a leader. The first
	// registration then goes as soon as one is known (at most the backoff
	// factor later) instead of after a random wait: the random wait spreads
	// a herd of agents over a new master, and this agent is not one of a
	// herd; it is the node's own, and /health waits for it.
	LeaderKnown func() bool
	// Flags are shown under "flags" in /state.
	Flags map[string]string
	// LogFile is the agent's log, /slave/log to the operator API's
	// LIST_FILES and READ_FILE (as to /files, FilesConfig.LogFile); "": none.
	LogFile string
	// HTTPClient talks to masters; default a client with a 10s timeout.
	HTTPClient *http.Client
	// Scheme is "http" or "https"; default "http".
	Scheme string
	// ExecutorShutdownGracePeriod is the default time between SIGTERM and
	// SIGKILL when a task is killed; default 5s.
	ExecutorShutdownGracePeriod time.Duration
	// ShimPath is the container shim binary; default: the shim embedded in
	// nodectl, installed under WorkDir. Without one the agent registers but
	// cannot run tasks.
	ShimPath string
	// InsecureRegistries may be reached over plain HTTP when pulling images.
	InsecureRegistries []string
	// AllowedHostPaths are the host paths tasks' hostPath volumes may
	// mount (--allowed-host-paths); none by default. The work dir never.
	AllowedHostPaths []HostPathRule
	// TaskHiddenPaths are host paths (glob patterns allowed) command tasks
	// do not see, besides the work dir and the host's secrets
	// (--task-hidden-paths).
	TaskHiddenPaths []string
	// SeccompConfigDir and SeccompProfileName are Mesos' agent flags: the
	// named profile (OCI JSON) in the directory replaces the built-in
	// default profile for every task that names none.
	SeccompConfigDir   string
	SeccompProfileName string
	// CgroupsEnableCFS caps each task's CPU at its cpus with a CFS quota
	// (Mesos' --cgroups_enable_cfs, off by default: cpus are then shares,
	// a task may use idle CPU).
	CgroupsEnableCFS bool
	// CgroupsFavorDynMods turns on the host's cgroup2 mount option
	// favordynmods when the driver is set up (--cgroups-favor-dynmods):
	// container starts then do not wait for the kernel's cgroup migration
	// lock (container.FavorDynMods).
	CgroupsFavorDynMods bool
	// WarmContainers has the container driver make the next command
	// task's container ahead (--warm-containers, container.Config).
	WarmContainers bool
	// NoSwitchUser is Mesos' --switch_user=false: tasks run as the agent's
	// user (image tasks as their image's USER), whatever user they name.
	// The zero value switches, as Mesos' default.
	NoSwitchUser bool
	// Recover is "reconnect" (default: reattach to live containers) or
	// "cleanup" (kill them all, then Run returns ErrCleanupDone).
	Recover string
	// Strict makes any recovery error fatal; otherwise bad records are
	// skipped and counted in slave/recovery_errors. A missing or empty
	// checkpoint next to a previous agent's state is such an error.
	Strict bool
	// RecoveryTimeout is Mesos' --recovery_timeout: the time the agent has
	// to recover after a restart, counted from New. A checkpointed task
	// still running whose container is not reattached by then is killed
	// and reported TASK_FAILED (REASON_EXECUTOR_REREGISTRATION_TIMEOUT),
	// as Mesos executors waiting for the agent terminate themselves.
	// Default DefaultRecoveryTimeout.
	RecoveryTimeout time.Duration
	// ReconfigurationPolicy is "equal" (default) or "additive".
	ReconfigurationPolicy string
	// BootID overrides the kernel boot id (tests simulate reboots with it).
	BootID string
	// EnforceContainerDiskQuota kills a task whose persistent volume grows
	// beyond its size (Mesos --enforce_container_disk_quota).
	EnforceContainerDiskQuota bool
	// ContainerDiskWatchInterval is how often volumes are measured;
	// default DefaultContainerDiskWatchInterval.
	ContainerDiskWatchInterval time.Duration
	// DiskFullBelow, when set, also calls the work dir's filesystem full
	// while less than this many bytes are free: a master sharing the
	// filesystem keeps that much for etcd (diskfull.go).
	DiskFullBelow uint64
	// CgroupsRoot (Mesos' --cgroups_root), when set, puts every task
	// container's cgroup under TasksCgroup(CgroupsRoot), created with the
	// tasks' CPU weight. Empty: containers go under /nodectl as before.
	CgroupsRoot string
	// SystemReserved is what the node keeps for itself (--reserved-resources):
	// already left out of Resources, shown in /state and sent to masters.
	SystemReserved api.Resources
	// Fetcher configures the Mesos fetcher (fetcher.go).
	Fetcher FetcherConfig
	// NetworkCNIConfigDir and NetworkCNIPluginsDir are Mesos'
	// --network_cni_config_dir and --network_cni_plugins_dir (network.go).
	NetworkCNIConfigDir, NetworkCNIPluginsDir string
	// DNS is the agent's DNS server (dns.go).
	DNS DNSConfig
	// GCDelay, GCDiskHeadroom and DiskWatchInterval are Mesos' sandbox
	// garbage collection flags (gc.go); zero durations are Mesos'
	// defaults (GCDiskHeadroom has no default here: node passes 0.1).
	GCDelay           time.Duration
	GCDiskHeadroom    float64
	DiskWatchInterval time.Duration
	// ImageGC is Mesos' --image_gc_config (imagegc.go).
	ImageGC ImageGCConfig
	// ExecutorRegistrationTimeout is Mesos' --executor_registration_timeout:
	// a custom executor that has not subscribed by then is killed
	// (executor.go). Default DefaultExecutorRegistrationTimeout.
	ExecutorRegistrationTimeout time.Duration
	// UsageInterval and UsageHistory are how often tasks' usage is
	// sampled and how long it is kept (usage.go); zero: the defaults.
	UsageInterval, UsageHistory time.Duration

	Logger *slog.Logger

	// testDriver, set by unit tests only, replaces the runc driver.
	testDriver containers
}

// DefaultRecoveryTimeout is Mesos' default --recovery_timeout.
const DefaultRecoveryTimeout = 15 * time.Minute

// maxRegistrationBackoff caps the registration backoff as Mesos does.
const maxRegistrationBackoff = time.Minute

// Agent is one agent process.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	started time.Time
	metrics *api.Metrics
	m       agentMetrics
	client  *masterClient

	driver    containers   // nil when containers cannot run here (containers.go)
	driverErr error        // why driver is nil
	net       *cni.Manager // CNI networks (network.go); nil when unavailable
	netErr    error        // why net is nil
	dns       dnsState     // the DNS server (dns.go)
	ovl       overlayState // cluster networks (overlay.go)
	images    *image.Store
	fetcher   *fetcher
	status    *statusManager
	tasks     taskTable
	groups    taskGroups    // LAUNCH_GROUP groups (taskgroup.go)
	execs     executorTable // custom executors (executor.go)
	vols      volumeState
	space     diskSpace      // the work dir's free space (diskfull.go)
	ports     portWatch      // host ports other programs hold (ports.go)
	usage     usageState     // sampled resource history (usage.go)
	gc        gcMetrics      // sandbox garbage collection (gc.go)
	imageGC   imageGCMetrics // image garbage collection (imagegc.go)
	wg        sync.WaitGroup // launch, kill and exit-waiter goroutines

	// starts bounds concurrent container starts (startSlots), so a burst
	// of launches cannot starve the node (and a master's etcd lease) of
	// CPU.
	starts chan struct{}
	// runCtx is Run's context (guarded by mu): task work outlives a broken
	// master connection.
	runCtx context.Context

	store    *storage.Store
	state    storage.State // what the checkpoint held at start, until recovered
	bootID   string
	rebooted bool
	// bootRelaunches are the tasks recovery relaunches after a host
	// reboot (bootrelaunch.go); used by recoverTasks only.
	bootRelaunches []*task

	mu           sync.Mutex // guards the fields below
	id           string
	registered   bool
	leader       string // host:port of the master that accepted us
	noBatch      string // a leader that does not know api.PathStatuses (older)
	masterID     string
	pingInterval time.Duration

	recoveryErrors int           // records skipped under --no-strict
	recoveryTime   time.Duration // how long the last recovery took
	recovered      bool          // recovery finished
}

// New validates cfg and loads the agent id checkpointed in WorkDir, if any.
func New(cfg Config) (*Agent, error) {
	if cfg.WorkDir == "" {
		return nil, errors.New("agent config: WorkDir is required")
	}
	if len(cfg.Masters) == 0 {
		return nil, errors.New("agent config: at least one master address is required")
	}
	if cfg.Port <= 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("agent config: port %d out of range", cfg.Port)
	}
	if cfg.RegistrationBackoffFactor <= 0 {
		cfg.RegistrationBackoffFactor = time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Scheme == "" {
		cfg.Scheme = "http"
	}
	if cfg.Recover == "" {
		cfg.Recover = "reconnect"
	}
	if cfg.Recover != "reconnect" && cfg.Recover != "cleanup" {
		return nil, fmt.Errorf("agent config: recover %q is not reconnect or cleanup", cfg.Recover)
	}
	if cfg.ReconfigurationPolicy == "" {
		cfg.ReconfigurationPolicy = "equal"
	}
	if cfg.ReconfigurationPolicy != "equal" && cfg.ReconfigurationPolicy != "additive" {
		return nil, fmt.Errorf("agent config: reconfiguration policy %q is not equal or additive", cfg.ReconfigurationPolicy)
	}
	if cfg.BootID == "" {
		cfg.BootID = currentBootID()
	}
	if cfg.RecoveryTimeout <= 0 {
		cfg.RecoveryTimeout = DefaultRecoveryTimeout
	}
	if cfg.GCDelay <= 0 {
		cfg.GCDelay = DefaultGCDelay
	}
	if cfg.DiskWatchInterval <= 0 {
		cfg.DiskWatchInterval = DefaultDiskWatchInterval
	}
	if cfg.ContainerDiskWatchInterval <= 0 {
		cfg.ContainerDiskWatchInterval = DefaultContainerDiskWatchInterval
	}
	if cfg.ExecutorShutdownGracePeriod <= 0 {
		cfg.ExecutorShutdownGracePeriod = 5 * time.Second
	}
	if cfg.ExecutorRegistrationTimeout <= 0 {
		cfg.ExecutorRegistrationTimeout = DefaultExecutorRegistrationTimeout
	}
	if cfg.UsageInterval <= 0 {
		cfg.UsageInterval = DefaultUsageInterval
	}
	if cfg.UsageHistory <= 0 {
		cfg.UsageHistory = DefaultUsageHistory
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &Agent{cfg: cfg, log: cfg.Logger.With("component", "agent"), started: time.Now()}
	a.tasks.live = map[streamKey]*task{}
	a.ports.changed = make(chan struct{}, 1)
	a.starts = make(chan struct{}, startSlots(goruntime.NumCPU()))
	a.bootID = cfg.BootID
	a.status = newStatusManager(a.sendStatus, a.tasks.complete, a.log)
	a.status.sendBatch = a.sendStatuses
	// The driver first: a lost checkpoint is judged by the containers too.
	a.driver, a.driverErr = newDriver(cfg, a.log, warmRootfs{a})
	if a.driverErr != nil {
		a.log.Warn("containers disabled on this agent", "err", a.driverErr)
	}
	a.net, a.netErr = newNetworks(cfg)
	if err := a.openCheckpoint(context.Background()); err != nil {
		_ = a.Close()
		return nil, err
	}
	var err error
	a.client = &masterClient{http: cfg.HTTPClient, scheme: cfg.Scheme}
	a.metrics = api.NewMetrics()
	a.m = a.registerMetrics()
	if a.images, err = image.New(image.Config{Dir: filepath.Join(cfg.WorkDir, "images"), InsecureRegistries: cfg.InsecureRegistries, Logger: a.log}); err != nil {
		_ = a.Close()
		return nil, fmt.Errorf("open image store: %w", err)
	}
	a.sweepWarmRootfs() // warmimage.go
	if a.fetcher, err = newFetcher(cfg.Fetcher, cfg.WorkDir, a.log); err != nil {
		_ = a.Close()
		return nil, err
	}
	hidden := cfg.TaskHiddenPaths
	a.fetcher.hidden = func(p string) bool { return container.HiddenFromTasks(p, hidden) }
	return a, nil
}

// newDriver sets up the container driver with the embedded (or given) shim.
func newDriver(cfg Config, log *slog.Logger, warm container.WarmRootfs) (containers, error) {
	if cfg.testDriver != nil {
		return cfg.testDriver, nil
	}
	shim := cfg.ShimPath
	if shim == "" {
		var err error
		if shim, err = container.InstallShim(filepath.Join(cfg.WorkDir, "bin")); err != nil {
			return nil, err
		}
	}
	if cfg.CgroupsFavorDynMods {
		favorDynMods(log)
	}
	var parent string
	if cfg.CgroupsRoot != "" {
		parent = TasksCgroup(cfg.CgroupsRoot)
		if err := container.SetupCgroup(parent, TasksCPUShares, 0, -1); err != nil {
			log.Warn("cannot set up the tasks' parent cgroup; tasks compete with the control plane at full weight", "cgroup", parent, "err", err)
		}
	}
	// Command tasks see the host read-only, minus the work dir (but their
	// own sandbox and volumes), host secrets and the operator's paths.
	workDir, err := filepath.Abs(cfg.WorkDir)
	if err != nil {
		return nil, fmt.Errorf("work dir: %w", err)
	}
	hidden := append([]string{workDir}, cfg.TaskHiddenPaths...)
	if _, err := mountRuntimeDir(runtimeDir(cfg.WorkDir), log); err != nil {
		return nil, err
	}
	d, err := container.New(container.Config{Root: runtimeDir(cfg.WorkDir), ViewRoot: filepath.Join(runtimeDir(cfg.WorkDir), "views"), ShimPath: shim, CgroupParent: parent, HiddenPaths: hidden, WarmContainers: cfg.WarmContainers, WarmRootfs: warm, SeccompDir: cfg.SeccompConfigDir, SeccompProfile: cfg.SeccompProfileName, Logger: log})
	if err != nil {
		releaseRuntimeDir(runtimeDir(cfg.WorkDir), log)
		return nil, err
	}
	return runcDriver{d}, nil
}

// favorDynMods turns on the cgroup2 option favordynmods, saying what it
// did; a host where it cannot be set starts containers as before, slower.
func favorDynMods(log *slog.Logger) {
	mp, changed, err := container.FavorDynMods()
	switch {
	case err != nil:
		log.Info("cgroup2 favordynmods not set: container starts wait for the kernel's cgroup migration lock", "err", err)
	case changed:
		log.Info("cgroup2 favordynmods turned on (--cgroups-favor-dynmods)", "mount", mp)
	}
}

// ID is the agent id, empty until the first registration.
func (a *Agent) ID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.id
}

// Run registers with the leading master and keeps pinging it until ctx
// ends. Lost contact sends the agent back to (re-)registration.
//
// Leaving (ctx cancelled) detaches from running tasks: their containers
// keep running.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer a.wg.Wait() // runs after cancel: every goroutine Run started has ended
	defer cancel()
	a.mu.Lock()
	a.runCtx = ctx
	a.mu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.status.run(ctx)
	}()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.watchDiskSpace(ctx)
	}()
	if err := a.recoverTasks(ctx); err != nil {
		return err
	}
	// After recovery: recovered tasks' ports are theirs, not busy. The
	// first scan is made before the agent registers, which carries its
	// result: a port another program holds is never offered, rather than
	// offered and then withdrawn by the first scan's report (an offer
	// taken in between fails its launch, TASK_DROPPED).
	a.scanHostPorts()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.watchPorts(ctx)
	}()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.sampleUsage(ctx)
	}()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.runGC(ctx)
	}()
	a.startDNS() // dns.go
	defer a.stopDNS()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.pollDNS(ctx)
	}()
	for ctx.Err() == nil {
		if err := a.registerLoop(ctx); err != nil {
			return nil // only ctx ends the loop
		}
		err := a.connected(ctx)
		a.mu.Lock()
		a.registered = false
		a.mu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
		a.log.Warn("lost contact with master; registering again", "err", err)
	}
	return nil
}

// connected runs the message stream and the pings of one registration;
// it returns when either fails.
func (a *Agent) connected(ctx context.Context) error {
	a.mu.Lock()
	leader, id := a.leader, a.id
	a.mu.Unlock()
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		cancel(a.streamLoop(cctx, leader, id))
	}()
	go func() {
		defer wg.Done()
		a.overlayLoop(cctx, leader, id) // overlay.go
	}()
	go func() {
		defer wg.Done()
		cancel(a.pingLoop(cctx))
	}()
	wg.Wait()
	return context.Cause(cctx)
}

func (a *Agent) info() api.AgentInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	return api.AgentInfo{
		ID: a.id, Hostname: a.cfg.Hostname, IP: a.cfg.IP, Port: a.cfg.Port,
		Resources: a.cfg.Resources, Attributes: a.cfg.Attributes, Version: api.Version,
		SystemReserved: a.cfg.SystemReserved, AllowedHostPaths: allowedHostPathStrings(a.cfg.AllowedHostPaths),
	}
}

// registerLoop tries masters in turn with randomized exponential backoff
// until one admits the agent. It returns an error only when ctx ends.
//
// A master that answers with Retry-After (503: an election under way, a
// leader shedding load; 429) is asked again after that delay plus up to
// as much again at random, and the backoff does not grow for it: the
// master is there and said when to come back. Mesos' agents learn of a
// new leader from ZooKeeper at its election and register within
// registration_backoff_factor of it; ours ask, and without this an agent
// that met an election or a busy new leader two or three times waited up
// to 8–16 s more (10,000 simulated agents, make bench-scale).
func (a *Agent) registerLoop(ctx context.Context) error {
	var again time.Duration // the last attempt's Retry-After
	for attempt := 0; ; attempt++ {
		limit := a.cfg.RegistrationBackoffFactor << min(attempt, 16)
		if limit > maxRegistrationBackoff || limit <= 0 {
			limit = maxRegistrationBackoff
		}
		if again == 0 && attempt == 0 && a.cfg.LeaderKnown != nil {
			if err := a.awaitLeaderKnown(ctx, limit); err != nil {
				return err
			}
		} else {
			wait := time.Duration(rand.Int64N(int64(limit) + 1))
			if again > 0 {
				wait = again + time.Duration(rand.Int64N(int64(again)+1))
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		info := a.info()
		req := api.RegisterRequest{Agent: info, CheckpointedResources: a.checkpointedResources(), BusyPorts: a.busyPorts()}
		if info.ID != "" {
			req.Frameworks, req.Tasks = a.liveTasks()
		}
		var errs []error
		for _, m := range a.client.masterList(a.cfg.Masters) {
			resp, leader, err := a.client.register(ctx, m, req)
			if removedByMaster(err) {
				a.fenced(ctx, err)
				attempt, errs = -1, nil // register anew at once
				break
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if err := a.admitted(resp, leader, info.ID != ""); err != nil {
				return err
			}
			return nil
		}
		a.log.Debug("registration attempt failed", "attempt", attempt, "err", errors.Join(errs...))
		if again = comeBack(errs); again > 0 {
			attempt-- // the backoff stays where it was
		}
	}
}

// leaderKnownPoll is how often awaitLeaderKnown asks the local master.
const leaderKnownPoll = 10 * time.Millisecond

// awaitLeaderKnown waits until Config.LeaderKnown reports a leader, or at
// most limit; it returns an error only when ctx ends.
func (a *Agent) awaitLeaderKnown(ctx context.Context, limit time.Duration) error {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(leaderKnownPoll)
	defer tick.Stop()
	for !a.cfg.LeaderKnown() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return nil
		case <-tick.C:
		}
	}
	return nil
}

func (a *Agent) admitted(resp api.RegisterResponse, leader string, re bool) error {
	info := a.info()
	info.ID = resp.AgentID
	body, _ := json.Marshal(info)
	if err := a.store.PutAgent(context.Background(), storage.Agent{ID: resp.AgentID, Info: body, BootID: a.bootID, ConfigFingerprint: fingerprint(info)}); err != nil {
		// The id is what lets tasks survive a restart: not persisting it is
		// worth an operator's attention, but the agent can still serve.
		a.log.Error("checkpoint agent id", "agent_id", resp.AgentID, "err", err)
	}
	iv := time.Duration(resp.PingIntervalSeconds * float64(time.Second))
	if iv <= 0 {
		iv = 15 * time.Second
	}
	a.mu.Lock()
	a.id, a.registered, a.leader, a.masterID, a.pingInterval = resp.AgentID, true, leader, resp.MasterID, iv
	a.mu.Unlock()
	a.client.learnMasters(leader, resp.Masters)
	verb := "registered"
	if re {
		verb = "re-registered"
	}
	a.log.Info(verb+" with master", "agent_id", resp.AgentID, "master", leader)
	return nil
}

func (a *Agent) pingLoop(ctx context.Context) error {
	a.mu.Lock()
	iv, leader, id := a.pingInterval, a.leader, a.id
	a.mu.Unlock()
	t := time.NewTicker(iv)
	defer t.Stop()
	lastOK := time.Now()
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-retry:
		case <-a.ports.changed: // ports.go: the master hears at once
		}
		retry = nil
		err := a.client.ping(ctx, leader, id, a.busyPorts(), a.latestUsage())
		if err == nil {
			lastOK = time.Now()
			continue
		}
		if !busyPing(err) || time.Since(lastOK) >= pingPatience*iv {
			return err
		}
		a.log.Debug("ping not taken; trying again", "master", leader, "err", err)
		retry = time.After(pingRetry)
	}
}

// A leader too busy to take a ping (503 or 429: it sheds load, or is
// between terms), to answer one in time, or that closed the connection
// under it (busyPing) is pinged again after pingRetry,
// for up to pingPatience ping intervals since the last ping it took, before
// the agent registers again. Registering anew at the first busy answer
// turned a leader's overload into more of it: a registration costs the
// leader far more than a ping, and tasks launched to the agent meanwhile
// were lost to the re-registration's reconciliation (10,000 simulated
// agents, make bench-scale). The master gives an agent
// AgentPingTimeout × MaxAgentPingTimeouts (75 s by default) before it
// deems it gone; Mesos' agent likewise waits that long without pings from
// its master before it looks for a master again (agent_ping_timeout,
// max_agent_ping_timeouts: https://mesos.apache.org/documentation/latest/configuration/master/).
const (
	pingRetry    = time.Second
	pingPatience = 2
)

// busyPing reports whether err is a ping the master did not take for the
// moment (503, 429, no answer in time, a keep-alive connection it closed
// under the ping: a master at --max-connections closes idle ones), not one
// that says the agent must register again (unknown or removed agent) or
// that the master is gone (connection refused: its process has exited).
func busyPing(err error) bool {
	var r *refusal
	if errors.As(err, &r) {
		return r.code == http.StatusServiceUnavailable || r.code == http.StatusTooManyRequests
	}
	return !errors.Is(err, syscall.ECONNREFUSED)
}

func joinFlags(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// masterHostname is the host of the master that admitted the agent.
func (a *Agent) masterHostname() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	host, _, _ := strings.Cut(a.leader, ":")
	return host
}

// liveTasks lists the frameworks and non-terminal tasks this agent runs,
// for re-registration.
func (a *Agent) liveTasks() ([]api.FrameworkInfo, []api.AgentTask) {
	a.tasks.mu.Lock()
	defer a.tasks.mu.Unlock()
	seen := map[string]bool{}
	var fws []api.FrameworkInfo
	var ts []api.AgentTask
	for _, t := range a.tasks.live {
		if !seen[t.frameworkID] {
			seen[t.frameworkID] = true
			fws = append(fws, t.framework)
		}
		ts = append(ts, api.AgentTask{FrameworkID: api.ID{Value: t.frameworkID}, Task: t.info, State: t.state})
	}
	return fws, ts
}

// Close releases what New opened (the checkpoint store, the driver's spare
// shim). Call it after Run
// has returned; it is safe on a half-built agent.
func (a *Agent) Close() error {
	if a == nil {
		return nil
	}
	// The driver's spare shim and warm container end with it (tasks' containers run on).
	if d, ok := a.driver.(interface{ Close() }); ok {
		d.Close()
		if _, real := a.driver.(runcDriver); real {
			releaseRuntimeDir(runtimeDir(a.cfg.WorkDir), a.log) // runtimedir.go
		}
	}
	if a.store == nil {
		return nil
	}
	return a.store.Close()
}

// fenced handles the master's word that it removed this agent: whatever
// still runs here was already ended by the master, so it must not run on.
// The agent kills every container, forgets its id and tasks, and then
// registers as a new agent. Nothing runs twice.
func (a *Agent) fenced(ctx context.Context, why error) {
	a.log.Warn("removed by the master: killing all tasks and registering as a new agent", "agent_id", a.ID(), "err", why)
	a.tasks.mu.Lock()
	var ctrs []taskContainer
	for k, t := range a.tasks.live {
		t.killing, t.fenced = true, true
		if t.launching {
			t.killLaunch() // the launch destroys what it made
		} else if t.ctr != nil {
			ctrs = append(ctrs, t.ctr)
		}
		delete(a.tasks.live, k)
	}
	a.tasks.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range ctrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Kill(ctx, a.cfg.ExecutorShutdownGracePeriod); err != nil && ctx.Err() == nil {
				a.log.Warn("kill fenced task", "container_id", c.ID(), "err", err)
			}
		}()
	}
	wg.Wait()
	a.status.reset()
	if err := a.store.ResetAgent(ctx); err != nil {
		a.log.Error("forget the removed agent's checkpoint", "err", err)
	}
	a.mu.Lock()
	a.id = ""
	a.mu.Unlock()
}

// startSlots is how many containers an agent starts at once on a machine
// with cpus CPUs: four per CPU, at most 32. A start spends much of its time
// waiting (forks, namespace and mount set-up, the container's own exec),
// so one per CPU left the CPUs idle: a 50-instance burst on 2 CPUs took
// 7.0-8.7 s with 2 slots, 6.4-7.1 s with 4 and 5.7-6.9 s with 8
// (interleaved, load average 14). The node's own processes keep their
// CPU share through their cgroup weight, whatever the tasks do.
func startSlots(cpus int) int { return min(32, max(4, 4*cpus)) }
