package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"nodectl/cluster/api"
)

// ErrMasterRefused wraps a 4xx/5xx answer from a master.
var ErrMasterRefused = errors.New("master refused")

// refusal is a master's 4xx/5xx answer; it wraps ErrMasterRefused.
type refusal struct {
	addr, path string
	code       int
	msg        string
	// retryAfter is the answer's Retry-After (whole seconds), 0 if none:
	// the master did nothing and asks to be asked again then.
	retryAfter time.Duration
}

// comeBack is the shortest Retry-After among errs' refusals, at most
// maxRegistrationBackoff; 0 when none asked for one.
func comeBack(errs []error) time.Duration {
	var d time.Duration
	for _, err := range errs {
		var r *refusal
		if errors.As(err, &r) && r.retryAfter > 0 && (d == 0 || r.retryAfter < d) {
			d = r.retryAfter
		}
	}
	return min(d, maxRegistrationBackoff)
}

func (r *refusal) Error() string {
	return fmt.Sprintf("%v: %s %s: %d %s", ErrMasterRefused, r.addr, r.path, r.code, r.msg)
}

func (r *refusal) Unwrap() error { return ErrMasterRefused }

// removedByMaster reports whether err says the master removed this agent
// (410 Gone): the agent must end its tasks and register anew.
func removedByMaster(err error) bool {
	var r *refusal
	return errors.As(err, &r) && r.code == http.StatusGone
}

// masterClient speaks the agent protocol to masters over HTTP(S).
type masterClient struct {
	http   *http.Client
	scheme string

	mu      sync.Mutex // guards learned
	learned []string   // the master set from the last registration, leader first
}

// learnMasters remembers the masters a registration answer listed, so
// the agent finds the next leader after a failover even if the masters it
// was configured with are gone.
func (c *masterClient) learnMasters(leader string, masters []string) {
	if len(masters) == 0 {
		return
	}
	// The leader goes last: when the agent registers again, it is most
	// likely because that leader failed; a standby redirects to the new one.
	var list []string
	for _, m := range masters {
		if m != leader {
			list = append(list, m)
		}
	}
	list = append(list, leader)
	c.mu.Lock()
	c.learned = list
	c.mu.Unlock()
}

// masterList is the order registration tries masters in: the learned set
// (the last leader last), then configured ones not in it.
func (c *masterClient) masterList(configured []string) []string {
	c.mu.Lock()
	out := slices.Clone(c.learned)
	c.mu.Unlock()
	for _, m := range configured {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// post sends v to addr+path and decodes the answer into out (if non-nil).
// Redirects from standbys are followed; the returned string is the host:port
// that finally answered.
func (c *masterClient) post(ctx context.Context, addr, path string, v, out any) (string, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.scheme+"://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("build %s request: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("post %s to %s: %w", path, addr, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		var e api.Error
		_ = json.Unmarshal(data, &e)
		ref := &refusal{addr: addr, path: path, code: resp.StatusCode, msg: e.Message}
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
			ref.retryAfter = time.Duration(secs) * time.Second
		}
		return "", ref
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return "", fmt.Errorf("decode %s answer: %w", path, err)
		}
	}
	return resp.Request.URL.Host, nil
}

func (c *masterClient) register(ctx context.Context, addr string, req api.RegisterRequest) (api.RegisterResponse, string, error) {
	var resp api.RegisterResponse
	leader, err := c.post(ctx, addr, api.PathRegister, req, &resp)
	return resp, leader, err
}

func (c *masterClient) ping(ctx context.Context, addr, id string, busyPorts []api.Range, usage *api.UsageSample) error {
	_, err := c.post(ctx, addr, api.PathPing, api.PingRequest{AgentID: id, BusyPorts: busyPorts, Usage: usage}, nil)
	return err
}
