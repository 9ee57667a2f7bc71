package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"golang.org/x/sync/errgroup"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
	"nodectl/cluster/internal/alloc"
)

// etcd key layout. Everything nodectl keeps in etcd lives under /nodectl/.
const (
	keyElection         = "/nodectl/election"
	keyAgentsPrefix     = "/nodectl/registry/agents/"
	keyGonePrefix       = "/nodectl/registry/gone/"
	keyFrameworksPrefix = "/nodectl/frameworks/"
	keyTasksPrefix      = "/nodectl/tasks/"
)

// Config configures a master. Zero values are the documented defaults.
type Config struct {
	// Etcd is a connected client; required. The caller owns and closes it.
	Etcd *clientv3.Client
	// Secrets resolves the secrets tasks reference (secrets_launch.go);
	// nil: a task that references one is refused.
	Secrets SecretResolver
	// EtcdMember is the name of this master's etcd member, to match
	// masters with members in the quorum view.
	EtcdMember string
	// Hostname and IP are advertised to agents and in /state; Port is the API port.
	Hostname string
	IP       string
	Port     int
	// AgentPingTimeout (default 15s) and MaxAgentPingTimeouts (default 5):
	// an agent silent for their product is marked inactive.
	AgentPingTimeout     time.Duration
	MaxAgentPingTimeouts int
	// LeaseTTL is the etcd session TTL backing leadership (whole seconds,
	// at least 2: etcd reports what is left of a lease in whole seconds
	// rounded down, and the leader must see ≥ 1 s left; etcd also raises
	// it to at least 1.5 election timeouts). A leader that cannot confirm
	// its lease with etcd stops acting when the lease may have run out,
	// before anyone else can be elected.
	//
	// Zero fits it to the etcd membership, at the start of each term and
	// within it (termLeaseTTL, leasefit.go): HALeaseTTL when etcd has
	// several members (started learners included), so that a hung leader is
	// replaced fast, and SoloLeaseTTL when it has one: nobody could
	// replace that leader anyway, and a short lease only makes it give up
	// leadership when the machine is busy or a disk slow.
	LeaseTTL time.Duration
	// DeadLeaderProbe is how often a standby checks that the leader's API
	// port still accepts connections; default 100ms, negative disables.
	// When the port refuses three checks in a row the leader's process is
	// gone (kill -9, crash): the standby revokes its election lease at
	// once instead of waiting out LeaseTTL. A leader that only hangs or is
	// partitioned is not touched; its lease runs out.
	DeadLeaderProbe time.Duration
	// QuorumCheckInterval is how often the quorum health shown in /state
	// and the metrics is refreshed; default 1s.
	QuorumCheckInterval time.Duration
	// Authorize checks the membership changes (add a learner, promote,
	// remove) and snapshot downloads before they happen: with a cluster
	// CA, that the caller holds a master or admin certificate (a joining
	// master gets one with its token first). Nil allows them all: only for
	// clusters without a CA (tests).
	Authorize func(r *http.Request) error
	// AuthorizeAgent checks the agent protocol's calls (register, ping,
	// the message stream, status updates): with a cluster CA, that the
	// caller holds an agent certificate. Nil allows them all: only for
	// clusters without a CA (tests).
	AuthorizeAgent func(r *http.Request) error
	// Guard authorizes operator and scheduler calls on their objects
	// (roles, principals, users); nil allows everything (tests).
	Guard *auth.Guard
	// AgentTransport reaches agents' APIs (the files proxy): with a cluster
	// CA, HTTPS presenting this master's certificate, as agent ports
	// require. Nil is plain HTTP with http.DefaultTransport (tests).
	AgentTransport http.RoundTripper
	// AllocationInterval is the longest time between two allocation rounds
	// (Mesos --allocation_interval); default 1s. Changes (an agent
	// registering, a task ending, a decline, a new framework, a revive)
	// trigger a round at once.
	AllocationInterval time.Duration
	// OfferTimeout rescinds offers outstanding for longer (Mesos
	// --offer_timeout); zero, the default, never rescinds.
	OfferTimeout time.Duration
	// HeartbeatInterval is how often subscribed schedulers get HEARTBEAT;
	// default 15s.
	HeartbeatInterval time.Duration
	// AgentHeartbeatInterval is how often an idle agent message stream
	// carries a HEARTBEAT; default 5s.
	AgentHeartbeatInterval time.Duration
	// MaxCompletedFrameworks (default 50) and MaxCompletedTasksPerFramework
	// (default 1000) bound what /state keeps of the past.
	MaxCompletedFrameworks        int
	MaxCompletedTasksPerFramework int
	// AgentRemovalRateLimit spaces the markings of agents as unreachable
	// (Mesos --agent_removal_rate_limit, e.g. "1/10mins"; see
	// ParseRateLimit). Empty, the default, marks them at once.
	AgentRemovalRateLimit string
	// AgentReregisterTimeout is how long a new leader waits for the agents
	// it recovered from the registry to re-register before it marks them
	// unreachable (Mesos --agent_reregister_timeout); default 10m. Mesos
	// requires at least 10mins; nodectl accepts shorter ones (tests).
	AgentReregisterTimeout time.Duration
	// RecoveryAgentRemovalLimit is the largest share of recovered agents
	// that may be marked unreachable when AgentReregisterTimeout ends
	// (Mesos --recovery_agent_removal_limit, e.g. "50%"; see
	// ParsePercentage); default "100%". Above it the leader marks none:
	// it logs an Error and Run returns ErrRecoveryRemovalLimit.
	RecoveryAgentRemovalLimit string
	// StoreTimeout is how long etcd writes may keep failing before the
	// master gives up leadership (Mesos --registry_store_timeout); default 20s.
	StoreTimeout time.Duration
	// Roles are --weights, --roles and --whitelist (quota.go).
	Roles RolesConfig
	// Networks are the cluster networks (--cluster-cidr,
	// --cluster-network; ipam.go).
	Networks []api.ClusterNetwork
	// Flags are shown under "flags" in /state.
	Flags map[string]string
	// LogDir and ExternalLogFile are shown in /state.
	LogDir          string
	ExternalLogFile string
	// Now is the clock; default time.Now. Tests may replace it.
	Now    func() time.Time
	Logger *slog.Logger
}

// Master is one master process. Create it with New, serve Handler, and call
// Run to take part in the election.
type Master struct {
	cfg          Config
	statusConns  statusConns // the quorum reads' connections to each etcd member (statusconns.go)
	addrs        addrsCache  // MasterAddrs' last answer (members.go)
	storeTxns    TxnMeter    // writes of the master's state (txnmeter.go)
	appsTxns     TxnMeter    // writes of the built-in apps framework
	removalRate  RateLimit   // parsed cfg.AgentRemovalRateLimit
	removalLimit float64     // parsed cfg.RecoveryAgentRemovalLimit, a fraction
	info         api.MasterInfo
	log          *slog.Logger
	started      time.Time
	metrics      *api.Metrics
	m            masterMetrics
	usage        clusterUsage // utilisation history (usage.go)

	// filesLog is the master's log for /files and LIST_FILES (set by
	// FilesRoutes; files_proxy.go).
	filesLog atomic.Pointer[string]

	// allocWake asks the allocation loop for a round now.
	allocWake chan struct{}
	// abdicate asks the leader to end its term (Abdicate).
	abdicate chan struct{}
	// closing ends every long-lived stream (CloseStreams).
	closing     chan struct{}
	closingOnce sync.Once
	// servers are the http.Servers whose shutdown already ends the streams.
	servers sync.Map
	// leaseMu serializes the confirmations of the leadership lease with
	// its moves to another lease (leasefit.go), so that a confirmation of
	// the old lease never raises leaseUntil past a move.
	leaseMu sync.Mutex
	// registrar serializes the writes of agent registry entries (admit,
	// mark unreachable, mark gone) with the checks that decide them, as
	// the Mesos registrar applies one operation at a time. Taken before mu.
	registrar sync.Mutex
	// regMu guards regQueue, the registrations waiting for the registrar
	// (registry.go); taken under registrar or alone, never with mu.
	regMu    sync.Mutex
	regQueue []*pendingRegistration
	// ipam is the leader's copy of the network leases (ipam.go).
	ipam ipamState

	mu          sync.Mutex // guards the fields below
	leader      *api.MasterInfo
	elected     bool
	electedTime time.Time
	// stateFetch is how long this term's leader took to get its state;
	// stateFromStandby, whether it came from its standby copy.
	stateFetch       time.Duration
	stateFromStandby bool
	termCtx          context.Context // ends with this master's leadership
	termCancel       context.CancelFunc
	wb               *writeBehind // nil unless elected
	agents           map[string]*agent
	byAddr           map[agentAddr][]*agent // the agents by address (registry.go)
	nextAgent        int
	alloc            *alloc.Allocator
	frameworks       map[string]*framework
	completedFw      []*framework // torn down, newest last
	nextFw           int
	offers           map[string]*offer
	nextOffer        int
	live             map[api.TaskState]int // tasks by state, over frameworks' live tasks
	resBags          resourceBags          // tasks' resources shared (resbags.go)
	removals         removals
	maint            maintenanceRecord // maintenance.go
	inverse          inverseState      // inverse.go
	// opSubs are the operator API's subscribers (operator_stream.go).
	opSubs map[*opSub]struct{}
	dns    dnsWatch // DNS long polls (dnsrecords.go)
	// drains are the agents' deactivation and drain states (drain.go).
	drains    map[string]*drainRecord
	roleState rolesState // quota.go
	// leaseGuarded: this term's leadership is backed by an etcd lease, and
	// the master acts only until leaseUntil (confirmed with etcd).
	leaseGuarded  bool
	leaseUntil    time.Time
	leaseTTL      time.Duration // of the lease behind the term, while elected
	leaseFitter   *leaseFit     // re-fits the leading term's lease; nil unless elected
	leaderChanges int
	quorum        api.Quorum
	// raftMoved is when this master last asked etcd to hand its Raft
	// leadership away, raftSpacing the least time until it asks again
	// (raftleader.go); the quorum loop's alone.
	raftMoved   time.Time
	raftSpacing time.Duration
	// fenceKey and fenceRev are this term's election key and its create
	// revision: every write of the term compares them (empty unless
	// elected on etcd).
	fenceKey string
	fenceRev int64
	// termEvent is closed, and replaced, when a term starts or ends.
	termEvent chan struct{}
}

// New validates cfg; it starts nothing.
func New(cfg Config) (*Master, error) {
	if cfg.Etcd == nil {
		return nil, errors.New("master config: Etcd client is required")
	}
	return newMaster(cfg)
}

// newMaster is New without the etcd requirement, for tests that hand the
// master a store through becomeLeader.
func newMaster(cfg Config) (*Master, error) {
	if cfg.Port <= 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("master config: port %d out of range", cfg.Port)
	}
	if err := ValidateRolesConfig(cfg.Roles); err != nil { // quota.go
		return nil, fmt.Errorf("master config: %w", err)
	}
	cfg.Networks = slices.Clone(cfg.Networks)
	if err := ValidateClusterNetworks(cfg.Networks); err != nil { // ipam.go
		return nil, fmt.Errorf("master config: %w", err)
	}
	if cfg.OfferTimeout < 0 {
		return nil, fmt.Errorf("master config: offer timeout %s is negative", cfg.OfferTimeout)
	}
	if cfg.AgentReregisterTimeout < 0 {
		return nil, fmt.Errorf("master config: agent reregister timeout %s is negative", cfg.AgentReregisterTimeout)
	}
	rate, err := ParseRateLimit(cfg.AgentRemovalRateLimit)
	if err != nil {
		return nil, fmt.Errorf("master config: agent removal rate limit: %w", err)
	}
	limit := 1.0
	if cfg.RecoveryAgentRemovalLimit != "" {
		if limit, err = ParsePercentage(cfg.RecoveryAgentRemovalLimit); err != nil {
			return nil, fmt.Errorf("master config: recovery agent removal limit: %w", err)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.AgentPingTimeout, 15*time.Second)
	cfg.LeaseTTL = max(cfg.LeaseTTL, 0) // 0: by cluster size
	def(&cfg.QuorumCheckInterval, time.Second)
	if cfg.LeaseTTL != 0 && cfg.LeaseTTL < 2*time.Second {
		return nil, fmt.Errorf("master config: lease TTL %s is below 2s", cfg.LeaseTTL)
	}
	if cfg.DeadLeaderProbe == 0 {
		cfg.DeadLeaderProbe = 100 * time.Millisecond
	}
	def(&cfg.AllocationInterval, time.Second)
	def(&cfg.HeartbeatInterval, 15*time.Second)
	def(&cfg.AgentHeartbeatInterval, 5*time.Second)
	def(&cfg.StoreTimeout, 20*time.Second)
	def(&cfg.AgentReregisterTimeout, 10*time.Minute)
	if cfg.MaxAgentPingTimeouts <= 0 {
		cfg.MaxAgentPingTimeouts = 5
	}
	if cfg.MaxCompletedFrameworks <= 0 {
		cfg.MaxCompletedFrameworks = 50
	}
	if cfg.MaxCompletedTasksPerFramework <= 0 {
		cfg.MaxCompletedTasksPerFramework = 1000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Flags == nil {
		cfg.Flags = map[string]string{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	id := uuid.NewString()
	m := &Master{
		cfg: cfg, removalRate: rate, removalLimit: limit,
		info: api.MasterInfo{
			ID: id, PID: fmt.Sprintf("master@%s:%d", cfg.IP, cfg.Port),
			Hostname: cfg.Hostname, IP: cfg.IP, Port: cfg.Port, Version: api.Version,
		},
		log:       cfg.Logger.With("component", "master", "node_id", id),
		started:   cfg.Now(),
		allocWake: make(chan struct{}, 1),
		abdicate:  make(chan struct{}, 1),
		closing:   make(chan struct{}),
		termEvent: make(chan struct{}),
		agents:    map[string]*agent{},
		live:      map[api.TaskState]int{},
	}
	m.metrics = api.NewMetrics()
	m.m = m.registerMetrics()
	m.registerQuotaMetrics() // quota_metrics.go
	return m, nil
}

// Info is this master's MasterInfo.
func (m *Master) Info() api.MasterInfo { return m.info }

// Metrics exposes the master's metric set (for /metrics and tests).
func (m *Master) Metrics() *api.Metrics { return m.metrics }

// Leader returns the current leader, if one is known.
func (m *Master) Leader() (api.MasterInfo, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leader == nil || m.leader.ID == m.info.ID && !m.actingLocked() {
		// Not even this master, while it cannot confirm its lease.
		return api.MasterInfo{}, false
	}
	return *m.leader, true
}

// LeaderKnownLive is Leader's ok, except for an election entry of a
// previous run of this master (its address, another id): that process is
// gone, since this one serves its address, and revokeOwnStaleCampaign
// ends its entry. After a kill -9 the new run observes that entry first;
// an agent in the same process (--role=all) that registered then was
// redirected to its own master, which did not lead yet, and waited out
// its registration backoff (1–2 s). The agent waits for this instead.
// Leader itself still reports the entry: it is what the election holds
// until the revocation lands.
func (m *Master) LeaderKnownLive() bool {
	l, ok := m.Leader()
	return ok && !m.previousRun(l)
}

// previousRun reports whether info is a previous run of this master: its
// address, another id.
func (m *Master) previousRun(info api.MasterInfo) bool {
	return m.info.IP != "" && m.info.Port != 0 && info.ID != m.info.ID && info.IP == m.info.IP && info.Port == m.info.Port
}

// IsLeader reports whether this master currently leads.
func (m *Master) IsLeader() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.actingLocked()
}

// Fence is the condition that fences a write to this master's current
// term, for the frameworks that share its etcd (the built-in Marathon): a
// transaction If(fence) commits only while the election key this master
// won with still exists unchanged, so a deposed leader (paused past its
// lease, partitioned) commits nothing once a successor may lead. It
// returns ErrLostLeadership while this master does not lead.
func (m *Master) Fence() (clientv3.Cmp, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.actingLocked() || m.fenceKey == "" {
		return clientv3.Cmp{}, ErrLostLeadership
	}
	return clientv3.Compare(clientv3.CreateRevision(m.fenceKey), "=", m.fenceRev), nil
}

// TermEvents returns a channel that is closed when this master's next
// term starts or its current term ends; call it again for the one after.
// Frameworks follow leadership with it instead of polling IsLeader.
func (m *Master) TermEvents() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.termEvent
}

// termEventLocked wakes the TermEvents waiters.
func (m *Master) termEventLocked() {
	close(m.termEvent)
	m.termEvent = make(chan struct{})
}

// actingLocked reports whether this master may act as the leader now:
// elected, and (with etcd) its lease confirmed to outlive this moment, so
// a successor cannot have been elected yet. Leader-only calls that launch
// or kill check it.
func (m *Master) actingLocked() bool {
	return m.elected && (!m.leaseGuarded || time.Now().Before(m.leaseUntil))
}

// Run takes part in the election until ctx ends: it observes the leader,
// campaigns, and while elected runs the leader-only loops. A cancelled ctx
// is a clean stop.
func (m *Master) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { m.quorumLoop(gctx); return nil })
	g.Go(func() error { return m.elect(gctx) })
	return g.Wait()
}

// elect runs election terms until ctx ends.
func (m *Master) elect(ctx context.Context) error {
	for {
		err := m.term(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrRecoveryRemovalLimit) {
			// Mesos exits here; a supervisor restarts it once an
			// operator has looked. The term already resigned.
			return err
		}
		if errors.Is(err, errAbdicated) {
			m.log.Info("abdicated; campaigning again")
		} else {
			m.log.Warn("election session ended; campaigning again", "err", err)
		}
		m.mu.Lock()
		m.leader = nil // unknown until observed again: 503, not a 307 to a dead master
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// term runs one etcd session: observe, campaign, lead until the session or
// ctx ends.
func (m *Master) term(ctx context.Context) error {
	ttl := m.termLeaseTTL(ctx)
	sess, err := concurrency.NewSession(m.cfg.Etcd, concurrency.WithTTL(int(ttl.Seconds()+0.5)), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("open etcd session: %w", err)
	}
	// The term's keys may move to a lease of another TTL (leasefit.go).
	tl := newTermLease(ctx, sess, ttl)
	defer tl.close()
	// Presence: agents learn the master set from it (RegisterResponse).
	val, _ := json.Marshal(m.info)
	pres, _ := json.Marshal(presence{MasterInfo: m.info, EtcdMember: m.cfg.EtcdMember})
	presKey := keyMastersPrefix + m.info.ID
	if _, err := m.cfg.Etcd.Put(ctx, presKey, string(pres), clientv3.WithLease(sess.Lease())); err != nil {
		return fmt.Errorf("publish master: %w", err)
	}
	el := concurrency.NewElection(sess, keyElection)
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(tctx)
	// While it waits to lead, the master keeps the state decoded (standby.go).
	warm := newStandbyCopy(m.cfg.Etcd, m.log)
	wctx, endWarm := context.WithCancel(gctx)
	defer endWarm()
	g.Go(func() error { warm.run(wctx); return nil })
	g.Go(func() error { m.observe(gctx, el); return nil })
	g.Go(func() error {
		m.revokeOwnStaleCampaign(gctx)
		key, rev, won, err := campaign(gctx, m.cfg.Etcd, sess, keyElection, string(val))
		if err != nil {
			return err
		}
		defer m.stepDown()
		fit := &leaseFit{m: m, tl: tl, key: key, rev: rev, keys: map[string]string{key: string(val), presKey: string(pres)}}
		m.mu.Lock()
		m.leaseFitter = fit // Promote re-fits through it from now on
		m.mu.Unlock()
		if err := m.confirmLease(gctx, sess.Lease(), ttl); err != nil {
			return err
		}
		// The membership may have changed while this master waited.
		if err := fit.fit(gctx, 0); err != nil && !errors.Is(err, errLeaseUnchanged) {
			return err
		}
		// Every write of this term is fenced by our election key: once
		// another master leads, they fail instead of clobbering its state.
		st := &etcdStore{cli: m.cfg.Etcd, fenceKey: key, fenceRev: rev, meter: &m.storeTxns}
		confirm := func() error { // as guardLease does
			m.leaseMu.Lock()
			defer m.leaseMu.Unlock()
			sess, cur, _ := tl.current()
			return m.confirmLease(gctx, sess.Lease(), cur)
		}
		take := func() *recoveredState {
			defer endWarm()
			return warm.take(gctx, won, standbyCatchUp)
		}
		if err := m.becomeLeaderFrom(gctx, st, confirm, take); err != nil {
			return err
		}
		_, ttl, _ := tl.current()
		m.mu.Lock()
		m.leaseTTL = ttl
		m.mu.Unlock()
		lg, lctx := errgroup.WithContext(gctx)
		lg.Go(func() error { return m.guardLease(lctx, tl) })
		lg.Go(func() error { return fit.loop(lctx) })
		lg.Go(func() error { return m.lead(lctx) })
		lg.Go(func() error { return m.awaitAbdication(lctx) })
		lerr := lg.Wait()
		m.stepDown() // before the key goes: no overlap with a successor
		resign(m.cfg.Etcd, key)
		return lerr
	})
	g.Go(func() error {
		for {
			s, _, swapped := tl.current()
			select {
			case <-s.Done():
				if !tl.isCurrent(s) {
					continue // moved to another lease (leasefit.go)
				}
				// Whoever we saw lead may be gone as well (lost quorum):
				// answer 503 at once, not 307s to a dead master, while the
				// term winds down.
				m.mu.Lock()
				m.leader = nil
				m.mu.Unlock()
				return errors.New("etcd session expired")
			case <-swapped:
			case <-gctx.Done():
				return nil
			}
		}
	})
	return g.Wait()
}

// revokeOwnStaleCampaign ends the election entry of a previous incarnation
// of this master (same address; it cannot be alive, since this process now
// serves that address), e.g. after kill -9. Without it the new process
// waits for the old session's lease to expire before it can lead.
func (m *Master) revokeOwnStaleCampaign(ctx context.Context) {
	if m.info.IP == "" || m.info.Port == 0 {
		return
	}
	resp, err := m.cfg.Etcd.Get(ctx, keyElection+"/", clientv3.WithPrefix())
	if err != nil {
		return
	}
	for _, kv := range resp.Kvs {
		var info api.MasterInfo
		if json.Unmarshal(kv.Value, &info) != nil || !m.previousRun(info) || kv.Lease == 0 {
			continue
		}
		if _, err := m.cfg.Etcd.Revoke(ctx, clientv3.LeaseID(kv.Lease)); err == nil {
			m.log.Info("revoked the election entry of this master's previous run", "previous_id", info.ID)
		}
	}
}

func (m *Master) observe(ctx context.Context, el *concurrency.Election) {
	var (
		probeCancel context.CancelFunc = func() {}
		probes      sync.WaitGroup
	)
	defer func() { probeCancel(); probes.Wait() }()
	lastID := ""
	for resp := range el.Observe(ctx) {
		if len(resp.Kvs) == 0 {
			continue
		}
		var info api.MasterInfo
		if err := json.Unmarshal(resp.Kvs[0].Value, &info); err != nil {
			m.log.Warn("undecodable leader record", "err", err)
			continue
		}
		m.mu.Lock()
		changed := m.leader == nil || m.leader.ID != info.ID
		m.leader = &info
		if info.ID != lastID {
			m.leaderChanges++
			m.m.leaderChanges.Inc()
		}
		m.mu.Unlock()
		lastID = info.ID
		if changed {
			m.log.Info("leader detected", "leader", info.PID, "leader_id", info.ID)
		}
		probeCancel()
		probes.Wait()
		if info.ID != m.info.ID && m.cfg.DeadLeaderProbe > 0 {
			pctx, cancel := context.WithCancel(ctx)
			probeCancel = cancel
			kv := resp.Kvs[0]
			probes.Add(1)
			go func() {
				defer probes.Done()
				m.probeLeader(pctx, info, string(kv.Key), kv.CreateRevision, clientv3.LeaseID(kv.Lease))
			}()
		}
	}
}

// becomeLeader recovers the registry, frameworks and tasks from st and
// takes over. Recovered agents get a full ping window to re-register;
// recovered frameworks their failover_timeout to re-subscribe. With
// confirm (the term's lease), the term is lease-guarded from its first
// moment, and the lease is confirmed after the state is loaded: loading
// takes seconds with thousands of agents and tasks, longer than the lease
// confirmed before it, and a term that started with its lease unconfirmed
// would act (IsLeader) only from the lease guard's next check — after the
// frameworks woken by its term event had found it not leading.
func (m *Master) becomeLeader(ctx context.Context, st store, confirm func() error) error {
	return m.becomeLeaderFrom(ctx, st, confirm, nil)
}

// standbyCatchUp is how long a standby's copy of the state may go without
// applying a change while its master, elected, waits for it to catch up
// with etcd; then it reads etcd.
const standbyCatchUp = 3 * time.Second

// becomeLeaderFrom is becomeLeader with the standby's decoded records
// (standby.go) when take, if not nil, returns them.
func (m *Master) becomeLeaderFrom(ctx context.Context, st store, confirm func() error, take func() *recoveredState) error {
	fetchStart := time.Now()
	var warm *recoveredState
	if take != nil {
		warm = take()
	}
	rec, err := loadState(ctx, st, warm)
	if err != nil {
		return fmt.Errorf("recover state: %w", err)
	}
	fetched := time.Since(fetchStart)
	confirmStart := time.Now()
	if confirm != nil {
		if err := confirm(); err != nil {
			return err
		}
	}
	a, err := alloc.New(alloc.Config{})
	if err != nil {
		return err
	}
	now := m.cfg.Now()
	tctx, cancel := context.WithCancel(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	locked := time.Now()
	m.elected = true
	m.leaseGuarded = confirm != nil
	m.electedTime = now
	m.stateFetch, m.stateFromStandby = fetched, warm != nil
	m.termCtx, m.termCancel = tctx, cancel
	info := m.info
	m.leader = &info
	m.wb = newWriteBehind(st)
	if es, ok := st.(*etcdStore); ok {
		m.fenceKey, m.fenceRev = es.fenceKey, es.fenceRev
	}
	m.termEventLocked()
	m.alloc = a
	m.agents, m.byAddr = map[string]*agent{}, nil
	m.frameworks = map[string]*framework{}
	m.completedFw = nil
	m.offers = map[string]*offer{}
	clear(m.live)
	m.restoreLocked(rec, now)
	m.restoreRemovalsLocked(rec, now)
	// fetched_in: the records read (or the standby's copy taken);
	// confirmed_in: the lease confirmed and the master's lock taken;
	// restored_in: the state installed from the records, under the lock.
	m.log.Info("elected leader", "recovered_agents", m.removals.recoveredAgents, "unreachable_agents", len(rec.agents)-m.removals.recoveredAgents, "gone_agents", len(rec.gone), "recovered_frameworks", len(rec.frameworks), "recovered_tasks", len(rec.tasks), "from", recoveredFrom(warm), "fetched_in", fetched.Round(time.Millisecond),
		"confirmed_in", locked.Sub(confirmStart).Round(time.Millisecond), "restored_in", time.Since(locked).Round(time.Millisecond))
	return nil
}

// recoveredFrom names where a new leader's records came from, for its log.
func recoveredFrom(warm *recoveredState) string {
	if warm != nil {
		return "standby copy"
	}
	return "etcd"
}

// stepDown drops the leader's state: subscriptions and agent streams end
// so their clients find the new leader.
func (m *Master) stepDown() {
	m.mu.Lock()
	was := m.elected
	m.elected = false
	if m.termCancel != nil {
		m.termCancel()
	}
	for _, fw := range m.frameworks {
		if fw.sink != nil {
			fw.sink.Close()
			fw.sink = nil
		}
	}
	for _, a := range m.agents {
		a.outbox.close()
	}
	m.frameworks = map[string]*framework{}
	m.offers = map[string]*offer{}
	m.alloc = nil
	m.wb = nil
	m.fenceKey, m.fenceRev = "", 0
	if was {
		m.termEventLocked()
	}
	m.removals = removals{}
	m.leaseGuarded, m.leaseUntil = false, time.Time{}
	m.leaseTTL, m.leaseFitter = 0, nil
	if m.leader != nil && m.leader.ID == m.info.ID {
		m.leader = nil
	}
	clear(m.live)
	m.mu.Unlock()
	if was {
		m.log.Info("no longer leader")
	}
}

// lead runs the leader-only loops until ctx ends: the state writer, the
// allocation rounds and the timers (agent liveness, offer and failover
// timeouts).
func (m *Master) lead(ctx context.Context) error {
	m.mu.Lock()
	wb := m.wb
	m.mu.Unlock()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return wb.run(gctx, m.cfg.StoreTimeout) })
	g.Go(func() error {
		t := time.NewTicker(m.cfg.AllocationInterval)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
			case <-m.allocWake:
			}
			m.allocate()
		}
	})
	g.Go(func() error {
		t := time.NewTicker(m.tickInterval())
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
				if err := m.tick(gctx); err != nil {
					return err
				}
			}
		}
	})
	m.kick()
	return g.Wait()
}

// tickInterval is how often timers are checked: often enough for the
// shortest of the ping window and the offer timeout.
func (m *Master) tickInterval() time.Duration {
	d := min(m.cfg.AgentPingTimeout/4, time.Second)
	if m.cfg.OfferTimeout > 0 {
		d = min(d, m.cfg.OfferTimeout/4)
	}
	d = min(d, m.cfg.AgentReregisterTimeout/4)
	if m.removalRate.Limited() {
		d = min(d, m.removalRate.Interval()/4)
	}
	return max(d, 10*time.Millisecond)
}

// tick runs the time-driven checks once. Its errors end the term: a
// registry write lost to another leader, or the recovery removal limit.
func (m *Master) tick(ctx context.Context) error {
	if err := m.checkRecovery(); err != nil {
		return err
	}
	m.checkLiveness()
	if err := m.markScheduled(ctx); err != nil {
		return err
	}
	m.progressDrains(ctx) // drain.go
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.elected {
		return nil
	}
	now := m.cfg.Now()
	m.expireOffersLocked(now)
	m.expireFrameworksLocked(now)
	return nil
}

// kick asks for an allocation round as soon as possible.
func (m *Master) kick() {
	select {
	case m.allocWake <- struct{}{}:
	default:
	}
}

// CloseStreams ends the long-lived streams (agents' message streams and
// scheduler subscriptions) and refuses new ones, so an http.Server's
// Shutdown does not wait for them: register it with RegisterOnShutdown.
// Agents and schedulers reconnect, to whichever master leads then.
func (m *Master) CloseStreams() {
	m.closingOnce.Do(func() { close(m.closing) })
}

// closeStreamsOnShutdown makes the shutdown of the http.Server serving r
// end the long-lived streams: otherwise Shutdown would wait for them until
// its deadline.
func (m *Master) closeStreamsOnShutdown(r *http.Request) {
	srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server)
	if !ok {
		return
	}
	if _, loaded := m.servers.LoadOrStore(srv, true); !loaded {
		srv.RegisterOnShutdown(m.CloseStreams)
	}
}

// Handler serves the master's HTTP API.
func (m *Master) Handler() http.Handler { return m.routes() }
