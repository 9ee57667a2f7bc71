package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"nodectl/cluster/api"
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
	// Flags are shown under "flags" in /state.
	Flags map[string]string
	// HTTPClient talks to masters; default a client with a 10s timeout.
	HTTPClient *http.Client
	// Scheme is "http" or "https"; default "http".
	Scheme string
	Logger *slog.Logger
}

// maxRegistrationBackoff caps the registration backoff as Mesos does.
const maxRegistrationBackoff = time.Minute

// Agent is one agent process.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	started time.Time
	metrics *api.Metrics
	client  *masterClient

	mu           sync.Mutex // guards the fields below
	id           string
	registered   bool
	leader       string // host:port of the master that accepted us
	masterID     string
	pingInterval time.Duration
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
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &Agent{cfg: cfg, log: cfg.Logger.With("component", "agent"), started: time.Now()}
	id, err := loadAgentID(cfg.WorkDir)
	if err != nil {
		return nil, err
	}
	a.id = id
	a.client = &masterClient{http: cfg.HTTPClient, scheme: cfg.Scheme}
	a.metrics = api.NewMetrics()
	a.registerMetrics()
	return a, nil
}

// ID is the agent id, empty until the first registration.
func (a *Agent) ID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.id
}

// Run registers with the leading master and keeps pinging it until ctx
// ends. Lost contact sends the agent back to (re-)registration.
func (a *Agent) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		if err := a.registerLoop(ctx); err != nil {
			return nil // only ctx ends the loop
		}
		err := a.pingLoop(ctx)
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

func (a *Agent) info() api.AgentInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	return api.AgentInfo{
		ID: a.id, Hostname: a.cfg.Hostname, IP: a.cfg.IP, Port: a.cfg.Port,
		Resources: a.cfg.Resources, Attributes: a.cfg.Attributes, Version: api.Version,
	}
}

// registerLoop tries masters in turn with randomized exponential backoff
// until one admits the agent. It returns an error only when ctx ends.
func (a *Agent) registerLoop(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		limit := a.cfg.RegistrationBackoffFactor << min(attempt, 16)
		if limit > maxRegistrationBackoff || limit <= 0 {
			limit = maxRegistrationBackoff
		}
		wait := time.Duration(rand.Int64N(int64(limit) + 1))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		info := a.info()
		var errs []error
		for _, m := range a.cfg.Masters {
			resp, leader, err := a.client.register(ctx, m, api.RegisterRequest{Agent: info})
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
	}
}

func (a *Agent) admitted(resp api.RegisterResponse, leader string, re bool) error {
	if err := saveAgentID(a.cfg.WorkDir, resp.AgentID); err != nil {
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
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if err := a.client.ping(ctx, leader, id); err != nil {
			return err
		}
	}
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
