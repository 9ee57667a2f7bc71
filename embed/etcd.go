package embed

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	etcdembed "go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// ErrNotReady is returned when etcd does not become ready in time.
var ErrNotReady = errors.New("etcd not ready")

// ErrStopped is reported when the member stops on its own: most often
// because it was removed from the cluster (a removed member that starts
// again is refused by its peers and stops too). Its data dir must then be
// wiped before it can join again.
var ErrStopped = errors.New("etcd member stopped (removed from the cluster?)")

// Config says how to run the member. Zero values are documented defaults.
type Config struct {
	// Name is the member name; default "default".
	Name string
	// Dir holds etcd's data (wal and snapshots); required.
	Dir string
	// ClientURL is where clients reach this member, e.g. http://127.0.0.1:2379; required.
	ClientURL string
	// PeerURL is where other members reach this one, e.g. http://127.0.0.1:2380; required.
	PeerURL string
	// ListenClientURL and ListenPeerURL are the bound addresses; default
	// ClientURL and PeerURL (e.g. http://0.0.0.0:2379 to bind everywhere).
	ListenClientURL, ListenPeerURL string
	// InitialCluster is "name=peerURL,..."; default: this member alone.
	InitialCluster string
	// Existing joins an existing cluster instead of creating a new one:
	// the member must have been added (as a learner) by an existing member
	// first, and InitialCluster must list the cluster including this member.
	Existing bool
	// ForceNewCluster restarts the member's existing data as a one-member
	// cluster (disaster recovery after a lost quorum). Every other member
	// is removed from the membership; they come back by joining anew.
	ForceNewCluster bool
	// HeartbeatInterval and ElectionTimeout are Raft's timers; defaults
	// 100ms and 1s (etcd's). Shorter ones fail over faster on a fast
	// network; ElectionTimeout must be at least 5 heartbeats.
	HeartbeatInterval, ElectionTimeout time.Duration
	// ReadyTimeout bounds Start; default 30s.
	ReadyTimeout time.Duration
	// Logger receives etcd's logs (component=etcd); default slog.Default().
	Logger *slog.Logger
	// VerboseLogs keeps etcd's informational lines at INFO; by default
	// they are DEBUG, so a node's start-up log is its own.
	VerboseLogs bool
	// TLS, when set, makes the client and peer ports mutual TLS (all URLs https).
	TLS *TLS
	// QuotaBackendBytes is the database quota; default
	// DefaultQuotaBackendBytes (etcd's). A write that would pass it raises
	// the NOSPACE alarm and every write fails until space is reclaimed and
	// the alarm disarmed (docs/ha.md).
	QuotaBackendBytes int64
	// CompactionRetention is how much history is kept: older revisions
	// are compacted periodically; default DefaultCompactionRetention.
	CompactionRetention time.Duration
	// DefragInterval is how often the member checks whether its database
	// file is worth defragmenting (see defragWorthIt); default
	// DefaultDefragInterval, negative never.
	DefragInterval time.Duration
	// MaxTxnOps is the most operations one transaction may hold (etcd's
	// --max-txn-ops); default DefaultMaxTxnOps.
	MaxTxnOps uint
}

// Space defaults.
const (
	// DefaultQuotaBackendBytes is etcd's default quota, 2 GiB.
	DefaultQuotaBackendBytes = 2 << 30
	// DefaultCompactionRetention keeps 5 minutes of history, as the
	// Kubernetes API server compacts etcd every 5 minutes.
	DefaultCompactionRetention = 5 * time.Minute
	// DefaultDefragInterval is how often the defragmentation check runs.
	DefaultDefragInterval = 10 * time.Minute
)

// DefaultMaxTxnOps raises etcd's default --max-txn-ops (128) so that a
// deployment of many apps (a Marathon group of hundreds of apps: an app
// and its version each, plus the deployment record) stays one
// all-or-nothing transaction. Requests stay bounded by etcd's
// --max-request-bytes (1.5 MiB), which is left at its default.
const DefaultMaxTxnOps = 2048

// snapshotCatchUpEntries is etcd's --snapshot-catchup-entries (5,000 by
// default): see Start.
const snapshotCatchUpEntries = 250

// snapshotCount is etcd's --snapshot-count (10,000 by default): see Start.
const snapshotCount = 2000

// Server is a running etcd member.
type Server struct {
	cfg  Config
	etcd *etcdembed.Etcd
	errc chan error    // fatal errors of the running member
	done chan struct{} // closed by Close: ends the watcher
	wg   sync.WaitGroup
	// closing is set by Close: etcd's complaints about its listeners
	// closing are then expected (see zapLogger).
	closing atomic.Bool
	// campaigning is set while campaignAlone asks raft to campaign: its
	// declining early is then expected (see zapLogger).
	campaigning atomic.Bool
}

// New validates and copies cfg; it starts nothing.
func New(cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("etcd config: Dir is required")
	}
	for _, u := range []struct{ name, v string }{{"ClientURL", cfg.ClientURL}, {"PeerURL", cfg.PeerURL}} {
		if _, err := url.Parse(u.v); err != nil || u.v == "" {
			return nil, fmt.Errorf("etcd config: %s %q is not a URL", u.name, u.v)
		}
	}
	if err := cfg.TLS.validate(cfg.ClientURL, cfg.PeerURL, cfg.ListenClientURL, cfg.ListenPeerURL); err != nil {
		return nil, err
	}
	if cfg.ListenClientURL == "" {
		cfg.ListenClientURL = cfg.ClientURL
	}
	if cfg.ListenPeerURL == "" {
		cfg.ListenPeerURL = cfg.PeerURL
	}
	if cfg.Name == "" {
		cfg.Name = "default"
	}
	if cfg.InitialCluster == "" {
		cfg.InitialCluster = cfg.Name + "=" + cfg.PeerURL
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 100 * time.Millisecond
	}
	if cfg.ElectionTimeout <= 0 {
		cfg.ElectionTimeout = time.Second
	}
	if cfg.ElectionTimeout < 5*cfg.HeartbeatInterval {
		return nil, fmt.Errorf("etcd config: election timeout %s is less than 5 heartbeats of %s", cfg.ElectionTimeout, cfg.HeartbeatInterval)
	}
	if cfg.ForceNewCluster && cfg.Existing {
		return nil, errors.New("etcd config: ForceNewCluster and Existing exclude each other")
	}
	if cfg.QuotaBackendBytes <= 0 {
		cfg.QuotaBackendBytes = DefaultQuotaBackendBytes
	}
	if cfg.CompactionRetention <= 0 {
		cfg.CompactionRetention = DefaultCompactionRetention
	}
	if cfg.DefragInterval == 0 {
		cfg.DefragInterval = DefaultDefragInterval
	}
	if cfg.MaxTxnOps == 0 {
		cfg.MaxTxnOps = DefaultMaxTxnOps
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Logger = cfg.Logger.With("component", "etcd")
	return &Server{cfg: cfg}, nil
}

// Start launches the member and returns once it serves clients, or with
// ErrNotReady after ReadyTimeout or when ctx ends first.
func (s *Server) Start(ctx context.Context) error {
	ec := etcdembed.NewConfig()
	ec.Name = s.cfg.Name
	ec.Dir = s.cfg.Dir
	cu, _ := url.Parse(s.cfg.ClientURL)
	pu, _ := url.Parse(s.cfg.PeerURL)
	lcu, err := url.Parse(s.cfg.ListenClientURL)
	if err != nil {
		return fmt.Errorf("etcd listen client URL: %w", err)
	}
	lpu, err := url.Parse(s.cfg.ListenPeerURL)
	if err != nil {
		return fmt.Errorf("etcd listen peer URL: %w", err)
	}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{*lcu}, []url.URL{*cu}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{*lpu}, []url.URL{*pu}
	ec.InitialCluster = s.cfg.InitialCluster
	ec.InitialClusterToken = "nodectl"
	ec.ClusterState = etcdembed.ClusterStateFlagNew
	if s.cfg.Existing {
		ec.ClusterState = etcdembed.ClusterStateFlagExisting
	}
	ec.ForceNewCluster = s.cfg.ForceNewCluster
	ec.TickMs = uint(s.cfg.HeartbeatInterval.Milliseconds())
	ec.ElectionMs = uint(s.cfg.ElectionTimeout.Milliseconds())
	// Learners join one at a time (the master serializes joins); etcd's
	// default of one learner is what that relies on.
	ec.MaxLearners = 1
	// Keep history bounded: the registry is small and rewritten often.
	ec.AutoCompactionMode = "periodic"
	ec.AutoCompactionRetention = s.cfg.CompactionRetention.String()
	ec.QuotaBackendBytes = s.cfg.QuotaBackendBytes
	ec.MaxTxnOps = s.cfg.MaxTxnOps
	// Raft keeps the last SnapshotCatchUpEntries entries in memory for
	// followers that fall behind (one further behind is sent a snapshot,
	// as a new member is). The masters group their writes, up to 128
	// records a transaction: an entry is ~110 KB when they are busy, where
	// etcd's defaults assume entries of a few hundred bytes. etcd's 5,000
	// held ~145 MiB on every master after a burst of task updates, and
	// 1,000 still 113 MB of a 10,000-agent leader's heap (make
	// bench-scale, a heap profile), a tenth of it. 250 entries are ~28 MB:
	// ~7 s of a follower's absence at the busiest (the leader committed
	// ~36 transactions a second while 3,000 agents started tasks), far
	// longer when the masters are not that busy.
	ec.SnapshotCatchUpEntries = snapshotCatchUpEntries
	// Between two snapshots raft holds every entry since the last one as
	// well: up to 10,000 more by default. A 3,000-agent leader held 114 MB
	// of them (its heap was 554 MB); a snapshot every 2,000 entries holds a
	// fifth (https://etcd.io/docs/v3.6/op-guide/maintenance/, "Raft log
	// retention"). A snapshot writes raft's metadata and the membership, not
	// the database, which is on disk already.
	ec.SnapshotCount = snapshotCount
	ec.ZapLoggerBuilder = etcdembed.NewZapLoggerBuilder(zapLogger(s.cfg.Logger, s.cfg.VerboseLogs, &s.closing, &s.campaigning))
	s.cfg.TLS.apply(ec)
	if err := os.MkdirAll(filepath.Dir(s.cfg.Dir), 0o700); err != nil {
		return fmt.Errorf("create etcd dir: %w", err)
	}
	deadline := time.Now().Add(s.cfg.ReadyTimeout)
	_, werr := os.Stat(filepath.Join(s.cfg.Dir, "member", "wal"))
	fresh := errors.Is(werr, fs.ErrNotExist)
	s.campaigning.Store(true)
	e, err := s.startEtcd(ctx, ec, deadline)
	if err != nil {
		return fmt.Errorf("start etcd: %w", err)
	}
	campaignDone := make(chan struct{})
	defer func() { <-campaignDone }()
	go func() {
		defer close(campaignDone)
		defer s.campaigning.Store(false)
		if campaignAlone(ctx, e.Server, fresh) {
			s.cfg.Logger.Debug("etcd: the cluster's only member campaigned at once", "name", s.cfg.Name, "new", fresh)
		}
	}()
	// The wait for readiness gets what the start's retries left of ReadyTimeout.
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		err = stoppedErr(e, err)
		e.Close()
		return fmt.Errorf("start etcd: %w", err)
	case <-e.Server.StopNotify():
		e.Close()
		return fmt.Errorf("start etcd: %w", ErrStopped)
	case <-timer.C:
		e.Close()
		return fmt.Errorf("%w after %s", ErrNotReady, s.cfg.ReadyTimeout)
	case <-ctx.Done():
		e.Close()
		return fmt.Errorf("%w: %w", ErrNotReady, ctx.Err())
	}
	s.etcd = e
	s.errc = make(chan error, 1)
	s.done = make(chan struct{})
	s.wg.Add(1)
	go s.watch(e)
	if s.cfg.DefragInterval > 0 {
		s.wg.Add(1)
		go s.defragLoop(e)
	}
	s.cfg.Logger.Info("etcd ready", "name", s.cfg.Name, "member_id", fmt.Sprintf("%x", uint64(e.Server.MemberID())), "client_url", s.cfg.ClientURL, "peer_url", s.cfg.PeerURL)
	return nil
}

// errPeersUnreachable is how etcd words a joining member's failure to get
// the running members' versions in time (etcdserver's
// isCompatibleWithCluster counts a member that did not answer as not
// compatible): on a busy machine the one running member may take longer
// than the peer dial timeout (1 s + the election timeout) to answer.
const errPeersUnreachable = "incompatible with current running cluster"

// errMembersBehind is how etcd words a joining member's failure to match
// its initial cluster with the membership a running member answered
// (membership.ValidateClusterAndAssignIDs): a member that has not yet
// applied this member's addition still lists one member fewer. Adding a
// third master right after the second met it (embed's
// TestMembershipLearnerJoinRemoveForceNew, now and then).
const errMembersBehind = "member count is unequal"

// joinRetryable reports whether a joining member's failed start is one to
// try again: its peers answer in time or catch up soon.
func joinRetryable(err error) bool {
	return strings.Contains(err.Error(), errPeersUnreachable) || strings.Contains(err.Error(), errMembersBehind)
}

// startEtcd starts the member; a member joining an existing cluster whose
// peers did not answer the version check in time, or did not yet list it
// (joinRetryable), tries again, with backoff, until deadline or until ctx
// ends (a failed start leaves nothing behind: etcd checks before it writes
// its log).
func (s *Server) startEtcd(ctx context.Context, ec *etcdembed.Config, deadline time.Time) (*etcdembed.Etcd, error) {
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		e, err := etcdembed.StartEtcd(ec)
		if err == nil || !s.cfg.Existing || !joinRetryable(err) || time.Now().Add(backoff).After(deadline) {
			return e, err
		}
		s.cfg.Logger.Warn("etcd peers did not yet admit the joining member; retrying", "attempt", attempt, "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", err, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// watch turns the member's listener errors and an unrequested stop into
// one error on errc. It ends with Close.
func (s *Server) watch(e *etcdembed.Etcd) {
	defer s.wg.Done()
	var err error
	select {
	case <-s.done:
		return
	case err = <-e.Err():
		err = stoppedErr(e, err)
	case <-e.Server.StopNotify():
		err = ErrStopped
	}
	select {
	case s.errc <- err:
	default:
	}
}

// stoppedErr marks a listener error that comes from the server stopping
// on its own as ErrStopped.
func stoppedErr(e *etcdembed.Etcd, err error) error {
	select {
	case <-e.Server.StoppingNotify():
		return fmt.Errorf("%w: %w", ErrStopped, err)
	default:
		return err
	}
}

// IsLearner reports whether this member is (still, in its own view) a
// learner: it refuses client requests until it has applied its promotion.
func (s *Server) IsLearner() bool {
	return s.etcd != nil && s.etcd.Server.IsLearner()
}

// MemberID is this member's etcd id (0 before Start).
func (s *Server) MemberID() uint64 {
	if s.etcd == nil {
		return 0
	}
	return uint64(s.etcd.Server.MemberID())
}

// Endpoints are the client URLs of this member.
func (s *Server) Endpoints() []string { return []string{s.cfg.ClientURL} }

// Err reports a fatal error of the running member, ErrStopped when it
// stopped on its own (nil channel before Start).
func (s *Server) Err() <-chan error {
	return s.errc
}

// Close stops the member; it is safe on a server that never started.
func (s *Server) Close() {
	s.closing.Store(true)
	if s.etcd != nil {
		close(s.done)
		s.wg.Wait()
		s.etcd.Close()
		s.etcd = nil
	}
}

// ErrChan is Err that tolerates a nil Server, so callers can select on it
// whether or not this node runs etcd.
func (s *Server) ErrChan() <-chan error {
	if s == nil {
		return nil
	}
	return s.Err()
}

// campaignAlone makes a cluster's only member campaign as soon as it can,
// and reports whether it did. Raft waits for its randomized election
// timeout, [ET, 2·ET), before a member campaigns; etcd fast-forwards all but
// one tick of it for a cluster of one (etcdserver's adjustTicks), which
// still leaves up to ET (500 ms by default) before the first election: most
// of a fresh `nodectl up`'s time to /health, and of a restarted one's. A
// member alone has no one to wait for and wins its own vote, so once it has
// applied what its log holds it is handed the message raft's election timer
// would give it (MsgHup), from the local thread raft accepts local messages
// from, and again every campaignRetry while raft declines it.
//
// What "applied" means differs. A new member (fresh: no write-ahead log
// before it started) waits for etcd to apply the configuration it was
// bootstrapped with; raft learns of that apply a moment after etcd, and
// declines until it does (the caller logs raft's warnings about that at
// DEBUG). A restarted member waits for raft itself to have applied every
// committed entry (raft's status, which etcd publishes as the expvar
// "raft.status"): etcd's applied index is its backend's, known at once,
// while raft's starts at its last snapshot and catches up as etcd replays
// the log, and a campaign before that has raft scan the unapplied entries
// for configuration changes, entries a compaction may have dropped (raft
// panics then: "error scanning unapplied entries"). Without that status
// (another member's in this process) a restarted member is left to the
// timer, as are members of larger clusters: there a campaign must wait to
// learn of a leader that may exist.
func campaignAlone(ctx context.Context, srv *etcdserver.EtcdServer, fresh bool) bool {
	ms := srv.Cluster().Members()
	if len(ms) != 1 || ms[0].ID != srv.MemberID() || ms[0].IsLearner {
		return false
	}
	et := time.Duration(srv.Cfg.ElectionTicks) * time.Duration(srv.Cfg.TickMs) * time.Millisecond
	ctx, cancel := context.WithTimeout(ctx, et)
	defer cancel()
	poll := time.NewTicker(time.Millisecond)
	defer poll.Stop()
	// wait reports whether poll ticked before the deadline or a stop.
	wait := func() bool {
		select {
		case <-poll.C:
			return true
		case <-ctx.Done():
		case <-srv.StoppingNotify():
		}
		return false
	}
	for {
		if srv.Leader() != 0 {
			return false
		}
		if fresh {
			if srv.AppliedIndex() != 0 && srv.AppliedIndex() >= srv.CommittedIndex() {
				break
			}
		} else {
			st, ok := raftStatus()
			if !ok || st.ID != uint64(srv.MemberID()) {
				return false
			}
			if st.Applied >= st.HardState.GetCommit() && srv.AppliedIndex() >= srv.CommittedIndex() {
				break
			}
		}
		if !wait() {
			return false
		}
	}
	hup := &raftpb.Message{
		Type: raftpb.MessageType_MsgHup.Enum(),
		To:   proto.Uint64(uint64(srv.MemberID())),
		From: proto.Uint64(raft.LocalAppendThread),
	}
	var last time.Time
	for srv.Leader() == 0 {
		if time.Since(last) >= campaignRetry {
			if srv.Process(ctx, hup) != nil {
				return false
			}
			last = time.Now()
		}
		if !wait() {
			return false
		}
	}
	return srv.Leader() == srv.MemberID()
}

// raftStatus is the status of the raft node of the etcd server this
// process started last, as etcdserver publishes it for monitoring (the
// expvar "raft.status"); ok is false when there is none.
func raftStatus() (st raft.Status, ok bool) {
	v, isFunc := expvar.Get("raft.status").(expvar.Func)
	if !isFunc {
		return raft.Status{}, false
	}
	st, ok = v().(raft.Status)
	return st, ok
}

// campaignRetry is how often campaignAlone hands raft MsgHup while it
// declines.
const campaignRetry = 5 * time.Millisecond
