package node_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"nodectl/cluster/api"
)

// fakeAgent speaks the master's agent protocol over HTTP (register, ping,
// message stream, status updates) with a runtime that does no work: a
// launched task goes RUNNING, then FINISHED, unless its command says
// otherwise ("exit N" fails with status N; "sleep" runs until killed).
// Status updates are reliable as in the real agent: one in flight per task,
// re-sent until acknowledged.
type fakeAgent struct {
	t      testing.TB
	http   *http.Client
	master string // base URL
	host   string
	port   int
	res    api.Resources

	launches atomic.Int64
	acks     atomic.Int64

	mu    sync.Mutex // guards the fields below
	id    string
	tasks map[fakeKey]*fakeTask
	out   chan api.StatusUpdate // heads to send
}

type fakeKey struct{ fw, task string }

type fakeTask struct {
	fw      api.FrameworkInfo
	info    api.TaskInfo
	state   api.TaskState
	pending []api.StatusUpdate // head in flight
	sentAt  time.Time
}

var exitRE = regexp.MustCompile(`exit (\d+)`)

func newFakeAgent(t testing.TB, client *http.Client, master, host string, port int, res string) *fakeAgent {
	rs, err := api.ParseResources(res)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeAgent{t: t, http: client, master: master, host: host, port: port, res: rs,
		tasks: map[fakeKey]*fakeTask{}, out: make(chan api.StatusUpdate, 1024)}
}

func (a *fakeAgent) ID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.id
}

// run registers and serves the master until ctx ends, re-registering
// (with its tasks) whenever contact is lost.
func (a *fakeAgent) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); a.sender(ctx) }()
	defer wg.Wait()
	for ctx.Err() == nil {
		ping, err := a.register(ctx)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond): // registration retry pace
			}
			continue
		}
		cctx, cancel := context.WithCancel(ctx)
		var cw sync.WaitGroup
		cw.Add(2)
		go func() { defer cw.Done(); defer cancel(); a.stream(cctx) }()
		go func() { defer cw.Done(); defer cancel(); a.pinger(cctx, ping) }()
		a.resendAll()
		cw.Wait()
		cancel()
	}
}

func (a *fakeAgent) post(ctx context.Context, path string, v, out any) (int, error) {
	body, _ := json.Marshal(v)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.master+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == 200 {
		return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode, nil
}

func (a *fakeAgent) register(ctx context.Context) (time.Duration, error) {
	a.mu.Lock()
	req := api.RegisterRequest{Agent: api.AgentInfo{ID: a.id, Hostname: a.host, IP: "127.0.0.1", Port: a.port, Resources: a.res, Version: api.Version}}
	for k, t := range a.tasks {
		req.Tasks = append(req.Tasks, api.AgentTask{FrameworkID: api.ID{Value: k.fw}, Task: t.info, State: t.state})
		req.Frameworks = append(req.Frameworks, t.fw)
	}
	a.mu.Unlock()
	var resp api.RegisterResponse
	code, err := a.post(ctx, api.PathRegister, req, &resp)
	if err != nil {
		return 0, err
	}
	if code != 200 {
		return 0, fmt.Errorf("register: %d", code)
	}
	a.mu.Lock()
	a.id = resp.AgentID
	a.mu.Unlock()
	return time.Duration(resp.PingIntervalSeconds * float64(time.Second)), nil
}

func (a *fakeAgent) pinger(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		code, err := a.post(ctx, api.PathPing, api.PingRequest{AgentID: a.ID()}, nil)
		if err != nil || code >= 300 {
			return
		}
		a.resendStale(3 * time.Second)
	}
}

func (a *fakeAgent) stream(ctx context.Context) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.master+api.PathStream+"?agent_id="+a.ID(), nil)
	if err != nil {
		return
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var m api.AgentMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			a.t.Errorf("fake agent: undecodable message %q", sc.Text())
			continue
		}
		a.dispatch(m)
	}
}

func (a *fakeAgent) dispatch(m api.AgentMessage) {
	switch m.Type {
	case api.MsgLaunch:
		a.launches.Add(1)
		fw := m.Launch.Framework.ID.Value
		cmd := ""
		if m.Launch.Task.Command != nil {
			cmd = m.Launch.Task.Command.Value + " " + strings.Join(m.Launch.Task.Command.Arguments, " ")
		}
		a.mu.Lock()
		k := fakeKey{fw, m.Launch.Task.TaskID.Value}
		if _, dup := a.tasks[k]; dup {
			a.mu.Unlock()
			return
		}
		a.tasks[k] = &fakeTask{fw: m.Launch.Framework, info: m.Launch.Task, state: api.TaskStaging}
		a.setLocked(k, api.TaskStarting, nil)
		a.setLocked(k, api.TaskRunning, nil)
		switch {
		case strings.Contains(cmd, "sleep"):
		case exitRE.MatchString(cmd):
			n, _ := strconv.Atoi(exitRE.FindStringSubmatch(cmd)[1])
			a.setLocked(k, api.TaskFailed, &n)
		default:
			zero := 0
			a.setLocked(k, api.TaskFinished, &zero)
		}
		a.mu.Unlock()
	case api.MsgKill:
		a.mu.Lock()
		k := fakeKey{m.Kill.FrameworkID.Value, m.Kill.TaskID.Value}
		if t := a.tasks[k]; t != nil && !t.state.Terminal() {
			code := 143
			a.setLocked(k, api.TaskKilled, &code)
		}
		a.mu.Unlock()
	case api.MsgShutdownFramework:
		a.mu.Lock()
		for k, t := range a.tasks {
			if k.fw == m.ShutdownFramework.FrameworkID.Value && !t.state.Terminal() {
				a.setLocked(k, api.TaskKilled, nil)
			}
		}
		a.mu.Unlock()
	case api.MsgAcknowledge:
		a.acks.Add(1)
		a.mu.Lock()
		k := fakeKey{m.Acknowledge.FrameworkID.Value, m.Acknowledge.TaskID.Value}
		t := a.tasks[k]
		if t != nil && len(t.pending) > 0 && bytes.Equal(t.pending[0].Status.UUID, m.Acknowledge.UUID) {
			t.pending = t.pending[1:]
			if len(t.pending) > 0 {
				a.sendHeadLocked(t)
			} else if t.state.Terminal() {
				delete(a.tasks, k)
			}
		}
		a.mu.Unlock()
	}
}

// setLocked moves a task on and queues its update.
func (a *fakeAgent) setLocked(k fakeKey, s api.TaskState, exit *int) {
	t := a.tasks[k]
	t.state = s
	u := uuid.New()
	up := api.StatusUpdate{AgentID: api.ID{Value: a.id}, FrameworkID: api.ID{Value: k.fw}, LatestState: s, Status: api.TaskStatus{
		TaskID: api.ID{Value: k.task}, State: s, Source: api.SourceExecutor, UUID: u[:], ExitCode: exit,
		AgentID: &api.ID{Value: a.id}, Timestamp: float64(time.Now().UnixNano()) / 1e9,
	}}
	t.pending = append(t.pending, up)
	if len(t.pending) == 1 {
		a.sendHeadLocked(t)
	}
}

func (a *fakeAgent) sendHeadLocked(t *fakeTask) {
	t.sentAt = time.Now()
	select {
	case a.out <- t.pending[0]:
	default: // the sender is behind; the stale check re-sends it
	}
}

func (a *fakeAgent) resendStale(age time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range a.tasks {
		if len(t.pending) > 0 && time.Since(t.sentAt) > age {
			a.sendHeadLocked(t)
		}
	}
}

func (a *fakeAgent) resendAll() { a.resendStale(-1) }

func (a *fakeAgent) sender(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-a.out:
			_, _ = a.post(ctx, api.PathStatus, u, nil)
		}
	}
}

// taskState is the fake runtime's state of a task ("" when unknown or done).
func (a *fakeAgent) taskState(fw, task string) api.TaskState {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t := a.tasks[fakeKey{fw, task}]; t != nil {
		return t.state
	}
	return ""
}
