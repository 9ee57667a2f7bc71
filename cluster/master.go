package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"golang.org/x/sync/errgroup"

	"nodectl/cluster/api"
)

// etcd key layout. Everything nodectl keeps in etcd lives under /nodectl/.
const (
	keyElection     = "/nodectl/election"
	keyAgentsPrefix = "/nodectl/registry/agents/"
)

// Config configures a master. Zero values are the documented defaults.
type Config struct {
	// Etcd is a connected client; required. The caller owns and closes it.
	Etcd *clientv3.Client
	// Hostname and IP are advertised to agents and in /state; Port is the API port.
	Hostname string
	IP       string
	Port     int
	// AgentPingTimeout (default 15s) and MaxAgentPingTimeouts (default 5):
	// an agent silent for their product is marked inactive.
	AgentPingTimeout     time.Duration
	MaxAgentPingTimeouts int
	// LeaseTTL is the etcd session TTL backing leadership; default 5s.
	LeaseTTL time.Duration
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
	cfg     Config
	info    api.MasterInfo
	log     *slog.Logger
	started time.Time
	metrics *api.Metrics
	m       masterMetrics

	mu          sync.Mutex // guards the fields below
	leader      *api.MasterInfo
	elected     bool
	electedTime time.Time
	agents      map[string]*agent
	nextAgent   int
}

// New validates cfg; it starts nothing.
func New(cfg Config) (*Master, error) {
	if cfg.Etcd == nil {
		return nil, errors.New("master config: Etcd client is required")
	}
	if cfg.Port <= 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("master config: port %d out of range", cfg.Port)
	}
	if cfg.AgentPingTimeout <= 0 {
		cfg.AgentPingTimeout = 15 * time.Second
	}
	if cfg.MaxAgentPingTimeouts <= 0 {
		cfg.MaxAgentPingTimeouts = 5
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	id := uuid.NewString()
	m := &Master{
		cfg: cfg,
		info: api.MasterInfo{
			ID: id, PID: fmt.Sprintf("master@%s:%d", cfg.IP, cfg.Port),
			Hostname: cfg.Hostname, IP: cfg.IP, Port: cfg.Port, Version: api.Version,
		},
		log:     cfg.Logger.With("component", "master", "node_id", id),
		started: cfg.Now(),
		agents:  map[string]*agent{},
	}
	m.metrics = api.NewMetrics()
	m.m = m.registerMetrics()
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
	if m.leader == nil {
		return api.MasterInfo{}, false
	}
	return *m.leader, true
}

// IsLeader reports whether this master currently leads.
func (m *Master) IsLeader() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.elected
}

// Run takes part in the election until ctx ends: it observes the leader,
// campaigns, and while elected runs the leader-only loops. A cancelled ctx
// is a clean stop.
func (m *Master) Run(ctx context.Context) error {
	for {
		err := m.term(ctx)
		if ctx.Err() != nil {
			return nil
		}
		m.log.Warn("election session ended; campaigning again", "err", err)
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
	sess, err := concurrency.NewSession(m.cfg.Etcd, concurrency.WithTTL(int(m.cfg.LeaseTTL.Seconds()+0.5)), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("open etcd session: %w", err)
	}
	defer sess.Close()
	el := concurrency.NewElection(sess, keyElection)
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(tctx)
	g.Go(func() error { m.observe(gctx, el); return nil })
	g.Go(func() error {
		val, _ := json.Marshal(m.info)
		if err := el.Campaign(gctx, string(val)); err != nil {
			return fmt.Errorf("campaign: %w", err)
		}
		defer m.stepDown()
		if err := m.becomeLeader(gctx); err != nil {
			return err
		}
		lerr := m.lead(gctx, sess)
		rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
		defer rcancel()
		_ = el.Resign(rctx)
		return lerr
	})
	g.Go(func() error {
		select {
		case <-sess.Done():
			return errors.New("etcd session expired")
		case <-gctx.Done():
			return nil
		}
	})
	return g.Wait()
}

func (m *Master) observe(ctx context.Context, el *concurrency.Election) {
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
		m.mu.Unlock()
		if changed {
			m.log.Info("leader detected", "leader", info.PID, "leader_id", info.ID)
		}
	}
}

func (m *Master) becomeLeader(ctx context.Context) error {
	agents, err := m.loadRegistry(ctx)
	if err != nil {
		return fmt.Errorf("recover registry: %w", err)
	}
	now := m.cfg.Now()
	m.mu.Lock()
	m.elected = true
	m.electedTime = now
	info := m.info
	m.leader = &info
	m.agents = map[string]*agent{}
	for _, a := range agents {
		// Recovered agents get a full ping window to come back.
		a.lastPing = now
		a.active = true
		m.agents[a.Info.ID] = a
	}
	m.mu.Unlock()
	m.log.Info("elected leader", "recovered_agents", len(agents))
	return nil
}

func (m *Master) stepDown() {
	m.mu.Lock()
	was := m.elected
	m.elected = false
	m.mu.Unlock()
	if was {
		m.log.Info("no longer leader")
	}
}

// lead runs the leader-only loops until ctx ends.
func (m *Master) lead(ctx context.Context, _ *concurrency.Session) error {
	tick := m.cfg.AgentPingTimeout / 4
	if tick > time.Second {
		tick = time.Second
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			m.checkLiveness()
		}
	}
}

// Handler serves the master's HTTP API.
func (m *Master) Handler() http.Handler { return m.routes() }
