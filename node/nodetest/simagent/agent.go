// Package simagent simulates nodectl agents and a v1 HTTP scheduler for
// scale benchmarks: an Agent speaks the master's agent protocol as the real
// agent (runtime/agent.go, runtime/status.go) does — registration with
// randomized exponential backoff over every master it knows, following
// redirects to the leader and learning the master set from the answer;
// the message stream; pings; status updates delivered in order per task,
// one in flight, batched when several are due, re-sent until acknowledged
// — with a runtime that does no work. A Framework launches tasks on the
// Mesos v1 scheduler HTTP API as fast as offers allow and acknowledges
// every update. Each Agent has its own HTTP transport, so it holds its own
// connections to the masters (a stream and one for requests), as a real
// agent on its own machine does. It is for tests and benchmarks only.
package simagent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"

	"nodectl/cluster/api"
	"nodectl/cluster/pki"
)

// Status update retry intervals of the real agent (runtime/status.go,
// after Mesos' status update manager): 10 s doubling to 10 min.
const (
	statusRetryMin = 10 * time.Second
	statusRetryMax = 10 * time.Minute
)

// maxRegistrationBackoff caps the registration backoff, as the real agent
// and Mesos do.
const maxRegistrationBackoff = time.Minute

// requestTimeout bounds one request to a master (the stream excepted).
const requestTimeout = 30 * time.Second

// Config describes one simulated agent.
type Config struct {
	// Masters are the masters' host:port the agent starts with.
	Masters []string
	// TLS is the agent's client TLS (an agent certificate, a master's
	// wanted: pki.ClientTLS(id, pki.RoleMaster)); nil speaks plain HTTP.
	TLS *tls.Config
	// Hostname, IP and Port are what the agent registers as (nothing
	// listens on Port).
	Hostname string
	IP       string
	Port     int
	// Resources are the agent's total resources.
	Resources api.Resources
	// BackoffFactor is Mesos' registration_backoff_factor: the first
	// attempt waits a random time up to it, each further one up to twice
	// the previous bound (at most a minute). Default 1 s, the real
	// agent's.
	BackoffFactor time.Duration
}

// Stats are an agent's counters.
type Stats struct {
	// MasterID is the master the agent is registered with and connected
	// to; "" while it is (re-)registering.
	MasterID      string
	Registrations int64 // successful (re-)registrations
	Launches      int64 // LAUNCH messages
	Acks          int64 // ACKNOWLEDGE messages
	Live          int   // tasks not yet terminal
	// Registration attempts a master did not admit: answered 503 (no
	// leader, or busy), answered another error, or not answered (refused
	// connection, timeout).
	RegisterBusy, RegisterRefused, RegisterUnanswered int64
	// Why registrations ended (the agent then registers again): the
	// stream could not be opened (StreamRefused: answered another status
	// than 200; StreamUnanswered: no answer), the stream broke after it
	// opened, or a ping failed (PingRefused: answered another status than
	// 503 or 429; PingUnanswered: refused connection; PingGaveUp: busy
	// answers for two ping intervals).
	StreamRefused, StreamUnanswered, StreamBroken int64
	PingRefused, PingUnanswered, PingGaveUp       int64
}

// Agent is one simulated agent. Its runtime does no work: a launched task
// goes STARTING, RUNNING, then FINISHED, unless its command says otherwise
// ("exit N" fails with status N; a command with "sleep" runs until killed).
type Agent struct {
	cfg    Config
	scheme string
	http   *http.Client
	tr     *http.Transport

	registrations, launches, acks      atomic.Int64
	regBusy, regRefused, regUnanswered atomic.Int64

	streamRefused, streamUnanswered, streamBroken atomic.Int64
	pingRefused, pingUnanswered, pingGaveUp       atomic.Int64

	mu         sync.Mutex // guards the fields below
	id         string
	leader     string // host:port that admitted the agent
	masterID   string // "" while not connected
	pingEvery  time.Duration
	learned    []string // the master set of the last registration, leader last
	frameworks map[string]api.FrameworkInfo
	tasks      map[taskKey]*task
	batches    bool // the master takes StatusBatch (until it answers 404)
	wake       chan struct{}
}

type taskKey struct{ fw, task string }

type task struct {
	info    api.TaskInfo
	state   api.TaskState // newest state
	pending []api.StatusUpdate
	sent    bool // head handed to the master
	retryAt time.Time
	backoff time.Duration
}

var exitRE = regexp.MustCompile(`exit (\d+)`)

// New makes an agent; Run starts it.
func New(cfg Config) *Agent {
	if cfg.BackoffFactor <= 0 {
		cfg.BackoffFactor = time.Second
	}
	if cfg.IP == "" {
		cfg.IP = "127.0.0.1"
	}
	// Its own connection, as a real agent's (pki.NodeProto): HTTP/2, the
	// stream, registrations, pings and status updates multiplexed. (Over
	// plain HTTP, or to a master that speaks only HTTP/1.1: one connection
	// for the stream and one for the rest, which queue for it.)
	tlsCfg := cfg.TLS
	if tlsCfg != nil {
		tlsCfg = pki.NodeClientTLS(tlsCfg)
	}
	tr := &http.Transport{TLSClientConfig: tlsCfg, MaxConnsPerHost: 2, MaxIdleConnsPerHost: 2, IdleConnTimeout: 90 * time.Second,
		ForceAttemptHTTP2: true, HTTP2: &http.HTTP2Config{SendPingTimeout: 15 * time.Second, PingTimeout: 10 * time.Second}}
	scheme := "https"
	if cfg.TLS == nil {
		scheme = "http"
	}
	return &Agent{cfg: cfg, scheme: scheme, tr: tr, http: &http.Client{Transport: tr},
		frameworks: map[string]api.FrameworkInfo{}, tasks: map[taskKey]*task{}, batches: true, wake: make(chan struct{}, 1)}
}

// ID is the agent id the master gave ("" before the first registration).
func (a *Agent) ID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.id
}

// Stats returns the agent's counters.
func (a *Agent) Stats() Stats {
	a.mu.Lock()
	live := 0
	for _, t := range a.tasks {
		if !t.state.Terminal() {
			live++
		}
	}
	s := Stats{MasterID: a.masterID, Live: live}
	a.mu.Unlock()
	s.Registrations, s.Launches, s.Acks = a.registrations.Load(), a.launches.Load(), a.acks.Load()
	s.RegisterBusy, s.RegisterRefused, s.RegisterUnanswered = a.regBusy.Load(), a.regRefused.Load(), a.regUnanswered.Load()
	s.StreamRefused, s.StreamUnanswered, s.StreamBroken = a.streamRefused.Load(), a.streamUnanswered.Load(), a.streamBroken.Load()
	s.PingRefused, s.PingUnanswered, s.PingGaveUp = a.pingRefused.Load(), a.pingUnanswered.Load(), a.pingGaveUp.Load()
	return s
}

// Run registers and serves the leading master until ctx ends,
// registering again (with its tasks) whenever contact is lost. It closes
// the agent's connections when it returns.
func (a *Agent) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); a.sender(ctx) }()
	defer func() { wg.Wait(); a.tr.CloseIdleConnections() }()
	for ctx.Err() == nil {
		if !a.registerLoop(ctx) {
			return
		}
		a.connected(ctx)
		a.mu.Lock()
		a.masterID = ""
		a.mu.Unlock()
	}
}

// registerLoop is the real agent's: before each attempt a random wait up
// to BackoffFactor × 2^attempt (at most a minute), then every master in
// turn, the learned ones first (the last leader last), then the
// configured ones. When a master answered with Retry-After the next wait
// is that plus up to as much again at random, and the backoff stays
// where it was. It reports false when ctx ends.
func (a *Agent) registerLoop(ctx context.Context) bool {
	var again time.Duration // the last attempt's shortest Retry-After
	for attempt := 0; ; attempt++ {
		limit := a.cfg.BackoffFactor << min(attempt, 16)
		if limit > maxRegistrationBackoff || limit <= 0 {
			limit = maxRegistrationBackoff
		}
		wait := time.Duration(rand.Int64N(int64(limit) + 1))
		if again > 0 {
			wait = again + time.Duration(rand.Int64N(int64(again)+1))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		req := a.registerRequest()
		again = 0
		for _, m := range a.masterList() {
			resp, leader, code, ra, err := a.register(ctx, m, req)
			if code == http.StatusGone {
				// Removed by the master: its tasks are gone; register anew.
				a.reset()
				attempt, again = -1, 0
				break
			}
			if err != nil && ra > 0 && (again == 0 || ra < again) {
				again = min(ra, maxRegistrationBackoff)
			}
			switch {
			case err == nil:
			case code == http.StatusServiceUnavailable:
				a.regBusy.Add(1)
			case code != 0:
				a.regRefused.Add(1)
			default:
				a.regUnanswered.Add(1)
			}
			if err != nil {
				continue
			}
			a.admitted(resp, leader)
			return true
		}
		if again > 0 {
			attempt-- // a master said when to come back: no more backoff
		}
	}
}

func (a *Agent) registerRequest() api.RegisterRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	req := api.RegisterRequest{Agent: api.AgentInfo{ID: a.id, Hostname: a.cfg.Hostname, IP: a.cfg.IP, Port: a.cfg.Port, Resources: a.cfg.Resources, Version: api.Version}}
	if a.id == "" {
		return req
	}
	seen := map[string]bool{}
	for k, t := range a.tasks {
		if t.state.Terminal() {
			continue
		}
		if !seen[k.fw] {
			seen[k.fw] = true
			req.Frameworks = append(req.Frameworks, a.frameworks[k.fw])
		}
		req.Tasks = append(req.Tasks, api.AgentTask{FrameworkID: api.ID{Value: k.fw}, Task: t.info, State: t.state})
	}
	return req
}

func (a *Agent) masterList() []string {
	a.mu.Lock()
	out := slices.Clone(a.learned)
	a.mu.Unlock()
	for _, m := range a.cfg.Masters {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

func (a *Agent) reset() {
	a.mu.Lock()
	a.id, a.tasks, a.frameworks = "", map[taskKey]*task{}, map[string]api.FrameworkInfo{}
	a.mu.Unlock()
}

// register posts the registration to addr; a standby's redirect is
// followed, and leader is the host:port that finally answered; again is a
// refusal's Retry-After.
func (a *Agent) register(ctx context.Context, addr string, req api.RegisterRequest) (resp api.RegisterResponse, leader string, code int, again time.Duration, err error) {
	code, leader, again, err = a.postRA(ctx, addr, api.PathRegister, req, &resp)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("register with %s: %d", addr, code)
	}
	return resp, leader, code, again, err
}

func (a *Agent) admitted(resp api.RegisterResponse, leader string) {
	iv := time.Duration(resp.PingIntervalSeconds * float64(time.Second))
	if iv <= 0 {
		iv = 15 * time.Second
	}
	a.mu.Lock()
	a.id, a.leader, a.masterID, a.pingEvery = resp.AgentID, leader, resp.MasterID, iv
	if len(resp.Masters) > 0 {
		var list []string
		for _, m := range resp.Masters {
			if m != leader {
				list = append(list, m)
			}
		}
		a.learned = append(list, leader)
	}
	// Every unacknowledged head goes again, as after a real agent's
	// (re-)registration.
	for _, t := range a.tasks {
		t.sent, t.backoff = false, statusRetryMin
	}
	a.mu.Unlock()
	a.registrations.Add(1)
	a.poke()
}

// post sends v to addr+path and decodes a 200 answer into out. It returns
// the status code and the host:port that answered (redirects followed).
func (a *Agent) post(ctx context.Context, addr, path string, v, out any) (int, string, error) {
	code, host, _, err := a.postRA(ctx, addr, path, v, out)
	return code, host, err
}

// postRA is post that also returns the answer's Retry-After (0: none).
func (a *Agent) postRA(ctx context.Context, addr, path string, v, out any) (code int, host string, again time.Duration, err error) {
	body, err := json.Marshal(v)
	if err != nil {
		return 0, "", 0, fmt.Errorf("encode %s: %w", path, err)
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.scheme+"://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return 0, "", 0, fmt.Errorf("build %s request: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, "", 0, fmt.Errorf("post %s to %s: %w", path, addr, err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, "", 0, fmt.Errorf("decode %s answer: %w", path, err)
		}
	} else {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		again = time.Duration(secs) * time.Second
	}
	return resp.StatusCode, resp.Request.URL.Host, again, nil
}

// connected runs the stream and the pings of one registration until
// either fails.
func (a *Agent) connected(ctx context.Context) {
	a.mu.Lock()
	leader, id, every := a.leader, a.id, a.pingEvery
	a.mu.Unlock()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); defer cancel(); a.stream(cctx, leader, id) }()
	go func() { defer wg.Done(); defer cancel(); a.pinger(cctx, leader, id, every) }()
	wg.Wait()
}

// pinger pings as the real agent does (runtime.Agent's pingLoop): a ping
// the leader is too busy to take (503, 429, no answer, a closed
// connection; not a refused one) is sent
// again a second later, for up to two ping intervals since the last one
// taken; any other failure ends the registration.
func (a *Agent) pinger(ctx context.Context, leader, id string, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	lastOK := time.Now()
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-retry:
		}
		retry = nil
		code, _, err := a.post(ctx, leader, api.PathPing, api.PingRequest{AgentID: id}, nil)
		if err == nil && code < 300 {
			lastOK = time.Now()
			continue
		}
		busy := code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests || (err != nil && !errors.Is(err, syscall.ECONNREFUSED))
		if !busy || time.Since(lastOK) >= 2*every {
			switch {
			case ctx.Err() != nil:
			case busy:
				a.pingGaveUp.Add(1)
			case err != nil:
				a.pingUnanswered.Add(1)
			default:
				a.pingRefused.Add(1)
			}
			return
		}
		retry = time.After(time.Second)
	}
}

func (a *Agent) stream(ctx context.Context, leader, id string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.scheme+"://"+leader+api.PathStream+"?agent_id="+id, nil)
	if err != nil {
		return
	}
	// A leader too busy to open it (503, 429) is asked again a second
	// later, for up to two ping intervals, as the real agent does.
	a.mu.Lock()
	patience := time.Now().Add(2 * a.pingEvery)
	a.mu.Unlock()
	var resp *http.Response
	for {
		r, err := a.http.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				a.streamUnanswered.Add(1)
			}
			return
		}
		if r.StatusCode == http.StatusOK {
			resp = r
			break
		}
		r.Body.Close()
		if (r.StatusCode != http.StatusServiceUnavailable && r.StatusCode != http.StatusTooManyRequests) || time.Now().After(patience) {
			a.streamRefused.Add(1)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	defer resp.Body.Close()
	defer func() {
		if ctx.Err() == nil {
			a.streamBroken.Add(1)
		}
	}()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4<<10), 16<<20)
	for sc.Scan() {
		var m api.AgentMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return // a broken stream: register again
		}
		a.dispatch(m)
	}
}

func (a *Agent) dispatch(m api.AgentMessage) {
	switch m.Type {
	case api.MsgLaunch:
		if m.Launch == nil {
			return
		}
		a.launches.Add(1)
		a.launch(m.Launch)
	case api.MsgKill:
		if m.Kill == nil {
			return
		}
		a.mu.Lock()
		k := taskKey{m.Kill.FrameworkID.Value, m.Kill.TaskID.Value}
		if t := a.tasks[k]; t != nil && !t.state.Terminal() {
			code := 143
			a.updateLocked(k, t, api.TaskKilled, &code)
		}
		a.mu.Unlock()
	case api.MsgShutdownFramework:
		if m.ShutdownFramework == nil {
			return
		}
		a.mu.Lock()
		for k, t := range a.tasks {
			if k.fw == m.ShutdownFramework.FrameworkID.Value && !t.state.Terminal() {
				a.updateLocked(k, t, api.TaskKilled, nil)
			}
		}
		a.mu.Unlock()
	case api.MsgAcknowledge:
		if m.Acknowledge == nil {
			return
		}
		a.acks.Add(1)
		a.ack(taskKey{m.Acknowledge.FrameworkID.Value, m.Acknowledge.TaskID.Value}, m.Acknowledge.UUID)
	}
}

func (a *Agent) launch(l *api.LaunchMessage) {
	fw := l.Framework.ID
	if fw == nil {
		return
	}
	cmd := ""
	if l.Task.Command != nil {
		cmd = l.Task.Command.Value + " " + strings.Join(l.Task.Command.Arguments, " ")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	k := taskKey{fw.Value, l.Task.TaskID.Value}
	if _, dup := a.tasks[k]; dup {
		return
	}
	a.frameworks[k.fw] = l.Framework
	t := &task{info: l.Task, state: api.TaskStaging, backoff: statusRetryMin}
	a.tasks[k] = t
	a.updateLocked(k, t, api.TaskStarting, nil)
	a.updateLocked(k, t, api.TaskRunning, nil)
	switch {
	case strings.Contains(cmd, "sleep"):
	case exitRE.MatchString(cmd):
		n, _ := strconv.Atoi(exitRE.FindStringSubmatch(cmd)[1])
		a.updateLocked(k, t, api.TaskFailed, &n)
	default:
		zero := 0
		a.updateLocked(k, t, api.TaskFinished, &zero)
	}
}

// updateLocked moves a task on and queues its update.
func (a *Agent) updateLocked(k taskKey, t *task, s api.TaskState, exit *int) {
	t.state = s
	u := uuid.New()
	t.pending = append(t.pending, api.StatusUpdate{AgentID: api.ID{Value: a.id}, FrameworkID: api.ID{Value: k.fw}, LatestState: s, Status: api.TaskStatus{
		TaskID: api.ID{Value: k.task}, State: s, Source: api.SourceExecutor, UUID: u[:], ExitCode: exit,
		AgentID: &api.ID{Value: a.id}, Timestamp: float64(time.Now().UnixNano()) / 1e9,
	}})
	if len(t.pending) == 1 {
		a.poke()
	}
}

func (a *Agent) ack(k taskKey, id []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.tasks[k]
	if t == nil || len(t.pending) == 0 || !bytes.Equal(t.pending[0].Status.UUID, id) {
		return
	}
	t.pending = t.pending[1:]
	t.sent, t.backoff = false, statusRetryMin
	switch {
	case len(t.pending) > 0:
		a.poke()
	case t.state.Terminal():
		delete(a.tasks, k)
	}
}

func (a *Agent) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// due returns the heads to send now (with the newest state stamped as
// latest_state, as the real agent does), the leader, and when the next
// retry is due.
func (a *Agent) due(now time.Time) ([]api.StatusUpdate, string, time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var next time.Time
	if a.masterID == "" {
		return nil, "", next
	}
	var out []api.StatusUpdate
	for _, t := range a.tasks {
		if len(t.pending) == 0 {
			continue
		}
		if !t.sent || !now.Before(t.retryAt) {
			if t.sent {
				t.backoff = min(2*t.backoff, statusRetryMax)
			}
			t.sent, t.retryAt = true, now.Add(t.backoff)
			u := t.pending[0]
			u.LatestState = t.pending[len(t.pending)-1].Status.State
			out = append(out, u)
		}
		if next.IsZero() || t.retryAt.Before(next) {
			next = t.retryAt
		}
	}
	return out, a.leader, next
}

// sender delivers due heads to the leader: several in one StatusBatch
// (at most api.MaxStatusBatch each), one alone in a single update; an
// update not delivered is re-sent by its retry timer or the next
// registration.
func (a *Agent) sender(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		heads, leader, next := a.due(time.Now())
		for len(heads) > 0 && ctx.Err() == nil {
			a.mu.Lock()
			batches := a.batches
			a.mu.Unlock()
			if len(heads) == 1 || !batches {
				_, _, _ = a.post(ctx, leader, api.PathStatus, heads[0], nil)
				heads = heads[1:]
				continue
			}
			n := min(len(heads), api.MaxStatusBatch)
			var res api.StatusBatchResult
			code, _, err := a.post(ctx, leader, api.PathStatuses, api.StatusBatch{Updates: heads[:n]}, &res)
			if err == nil && code == http.StatusNotFound {
				a.mu.Lock()
				a.batches = false // an older master: one update per request
				a.mu.Unlock()
				continue
			}
			heads = heads[n:]
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		case <-timer.C:
		}
	}
}
