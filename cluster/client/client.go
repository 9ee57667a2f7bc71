// Package client is the one HTTP client of a master's API: every CLI
// subcommand, the token join flow of cluster/pki and the etcd member join
// of node talk to masters through it. It owns the mechanics those share:
// TLS that trusts only the cluster CA (with the admin or node certificate,
// or HTTP Basic credentials of a principal), following a standby's 307 to
// the leader with the body re-sent, and mapping a refusal to one error
// (Error) carrying the status and the master's message.
//
// It is a leaf: it imports no nodectl package besides cluster/api, since
// cluster/pki (the join flow) builds on it. Where the client config
// (client.yaml) is found is the CLI's business (node).
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config says where a master is and how to reach it.
type Config struct {
	// Server is https://host:port of a master (a standby redirects to the
	// leader). http:// reaches only test servers: masters refuse plain HTTP.
	Server string
	// TLS trusts the cluster CA and may carry a client certificate (the
	// admin's, or a node's). nil: the system roots (test servers only).
	TLS *tls.Config
	// Principal and Secret are HTTP Basic credentials. With a principal
	// the client certificate of TLS is not presented, so the principal's
	// rights apply, not the certificate's.
	Principal, Secret string
	// Timeout bounds each call of JSON and Raw (not Stream); 0: none.
	Timeout time.Duration
	// AuthHint ends the message of a 401: how the user gives credentials.
	AuthHint string
}

// maxRedirects is how many redirects one call follows: a standby points
// at the leader, which answers itself; more means a loop.
const maxRedirects = 5

// maxBody bounds a non-streamed answer read into memory.
const maxBody = 64 << 20

// Client talks to a master. It is safe for concurrent use.
type Client struct {
	hc                *http.Client
	origin            *url.URL
	principal, secret string
	timeout           time.Duration
	authHint          string

	mu     sync.Mutex
	leader *url.URL // where the last redirect led; guarded by mu
}

// New builds a client; it dials nothing.
func New(cfg Config) (*Client, error) {
	server := strings.TrimSuffix(cfg.Server, "/")
	if server == "" {
		return nil, errors.New("client: no server")
	}
	if !strings.Contains(server, "://") {
		server = "https://" + server
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("client: server %q: want https://HOST:PORT", cfg.Server)
	}
	if cfg.Secret != "" && cfg.Principal == "" {
		return nil, errors.New("client: a secret without a principal")
	}
	tlsCfg := cfg.TLS
	if cfg.Principal != "" && tlsCfg != nil {
		// The principal's rights apply: no certificate speaks for it.
		tlsCfg = tlsCfg.Clone()
		tlsCfg.Certificates, tlsCfg.GetClientCertificate = nil, nil
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     tlsCfg,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &Client{
		hc: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // followed by send, with the credentials
		}},
		origin: u, principal: cfg.Principal, secret: cfg.Secret,
		timeout: cfg.Timeout, authHint: cfg.AuthHint,
	}, nil
}

// Base is the URL calls go to: the leader a redirect led to, else Server.
func (c *Client) Base() string {
	return baseOf(c.target())
}

// At is a client of another server (an agent's port, another master) with
// the same TLS and credentials.
func (c *Client) At(server string) (*Client, error) {
	if !strings.Contains(server, "://") {
		server = c.origin.Scheme + "://" + server
	}
	u, err := url.Parse(strings.TrimSuffix(server, "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("client: server %q: want https://HOST:PORT", server)
	}
	return &Client{hc: c.hc, origin: u, principal: c.principal, secret: c.secret, timeout: c.timeout, authHint: c.authHint}, nil
}

// CloseIdleConnections closes the connections the client keeps open.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

func (c *Client) target() *url.URL {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader != nil {
		return c.leader
	}
	return c.origin
}

func baseOf(u *url.URL) string { return u.Scheme + "://" + u.Host }

// Request is one call for Do and Stream.
type Request struct {
	Method string
	Path   string // with the query; relative to the server
	Body   []byte // nil: none; re-sent on a redirect
	// ContentType of Body; default application/json.
	ContentType string
	Header      http.Header
}

// Stream sends r and returns the 2xx response with its body unread (an
// event stream, a download); the caller closes it. Any other answer is an
// *Error. ctx bounds the whole exchange, body included.
func (c *Client) Stream(ctx context.Context, r Request) (*http.Response, error) {
	resp, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, c.refusal(r, resp)
	}
	return resp, nil
}

// Raw sends r and returns the 2xx answer's header and body; any other
// answer is an *Error. Config.Timeout bounds it.
func (c *Client) Raw(ctx context.Context, r Request) (http.Header, []byte, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	resp, err := c.Stream(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp.Header, nil, fmt.Errorf("%s %s: %w", r.Method, r.Path, err)
	}
	return resp.Header, b, nil
}

// JSON sends in (when non-nil) as JSON and decodes a 2xx answer into out
// (when non-nil and the answer has a body).
func (c *Client) JSON(ctx context.Context, method, path string, in, out any) error {
	r := Request{Method: method, Path: path, Header: http.Header{"Accept": {"application/json"}}}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encode: %w", method, path, err)
		}
		r.Body = b
	}
	_, b, err := c.Raw(ctx, r)
	if err != nil {
		return err
	}
	if out == nil || len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode: %w", method, path, err)
	}
	return nil
}

// Get is JSON with GET.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.JSON(ctx, http.MethodGet, path, nil, out)
}

// Post is JSON with POST.
func (c *Client) Post(ctx context.Context, path string, in, out any) error {
	return c.JSON(ctx, http.MethodPost, path, in, out)
}

// Put is JSON with PUT.
func (c *Client) Put(ctx context.Context, path string, in, out any) error {
	return c.JSON(ctx, http.MethodPut, path, in, out)
}

// Delete is JSON with DELETE.
func (c *Client) Delete(ctx context.Context, path string, out any) error {
	return c.JSON(ctx, http.MethodDelete, path, nil, out)
}

// send sends r to the current target and follows redirects itself, so
// the credentials go along (Go's client drops Authorization on a redirect
// to another host) and the body is re-sent on a 307/308. A redirect is
// remembered: later calls go to the leader directly. When that leader is
// gone (the dial fails), the call goes back to Server once.
//
// A 503 that carries Retry-After is the master saying it did nothing and
// to come back (a leader still loading its state, an election under way,
// a shed request): the call is sent again after the delay it asks (at
// most maxRetryDelay each time) for up to unavailableFor in all, then the
// 503 is returned as it is.
func (c *Client) send(ctx context.Context, r Request) (*http.Response, error) {
	give := time.Now().Add(unavailableFor)
	for {
		resp, err := c.sendOnce(ctx, r)
		if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
			return resp, err
		}
		secs, perr := strconv.Atoi(resp.Header.Get("Retry-After"))
		if perr != nil || secs < 0 {
			return resp, nil
		}
		delay := min(time.Duration(secs)*time.Second, maxRetryDelay)
		if time.Now().Add(delay).After(give) {
			return resp, nil
		}
		resp.Body.Close()
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%s %s: %w", r.Method, r.Path, ctx.Err())
		case <-t.C:
		}
	}
}

// How long send keeps retrying a 503 with Retry-After, and the longest
// wait between two tries.
const (
	unavailableFor = 30 * time.Second
	maxRetryDelay  = 2 * time.Second
)

func (c *Client) sendOnce(ctx context.Context, r Request) (*http.Response, error) {
	start := c.target()
	resp, err := c.follow(ctx, start, r)
	if err != nil && start != c.origin && isDial(err) && ctx.Err() == nil {
		c.mu.Lock()
		c.leader = nil
		c.mu.Unlock()
		resp, err = c.follow(ctx, c.origin, r)
	}
	return resp, err
}

func (c *Client) follow(ctx context.Context, base *url.URL, r Request) (*http.Response, error) {
	ref, err := url.Parse(r.Path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.Method, r.Path, err)
	}
	u := base.ResolveReference(ref)
	method, body := r.Method, r.Body
	for hop := 0; ; hop++ {
		resp, err := c.once(ctx, method, u, body, r)
		if err != nil {
			return nil, fmt.Errorf("master %s unreachable: %w", baseOf(u), err)
		}
		loc := resp.Header.Get("Location")
		if !isRedirect(resp.StatusCode) || loc == "" {
			if hop > 0 {
				c.mu.Lock()
				c.leader = &url.URL{Scheme: u.Scheme, Host: u.Host}
				c.mu.Unlock()
			}
			return resp, nil
		}
		resp.Body.Close()
		if hop == maxRedirects {
			return nil, fmt.Errorf("%s %s: more than %d redirects (last to %s)", r.Method, r.Path, maxRedirects, loc)
		}
		next, err := u.Parse(loc) // "//host:port/path" keeps the scheme
		if err != nil {
			return nil, fmt.Errorf("%s %s: redirect to %q: %w", r.Method, r.Path, loc, err)
		}
		if u.Scheme == "https" && next.Scheme != "https" {
			return nil, fmt.Errorf("%s %s: redirect to %s refused: not HTTPS", r.Method, r.Path, next.Redacted())
		}
		if resp.StatusCode != http.StatusTemporaryRedirect && resp.StatusCode != http.StatusPermanentRedirect &&
			method != http.MethodGet && method != http.MethodHead {
			method, body = http.MethodGet, nil // 301/302/303, as browsers do
		}
		u = next
	}
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

func (c *Client) once(ctx context.Context, method string, u *url.URL, body []byte, r Request) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		ct := r.ContentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if c.principal != "" {
		req.SetBasicAuth(c.principal, c.secret)
	}
	return c.hc.Do(req)
}

func isDial(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
