package runtime

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"nodectl/cluster/api"
)

// pingMaster answers pings in-process with code(n) for the n-th ping
// (from 1) and records when each came.
type pingMaster struct {
	code func(n int) int
	mu   sync.Mutex
	at   []time.Time
}

func (m *pingMaster) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path != api.PathPing {
		return nil, errors.New("not in this fake: " + r.URL.Path)
	}
	m.mu.Lock()
	m.at = append(m.at, time.Now())
	code := m.code(len(m.at))
	m.mu.Unlock()
	switch code {
	case connClosed:
		return nil, io.ErrUnexpectedEOF
	case connRefused:
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	}
	return &http.Response{StatusCode: code, Status: http.StatusText(code), Header: http.Header{},
		Body: io.NopCloser(bytes.NewReader([]byte(`{"message":"fake"}`))), Request: r}, nil
}

// What pingMaster's code may give instead of a status: no answer on a
// connection the master closed, or a refused connection.
const (
	connClosed  = -1
	connRefused = -2
)

func (m *pingMaster) pings() []time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]time.Time(nil), m.at...)
}

// registeredAgent is a fake-driver agent whose master is rt, as if
// registered with master.test:5050 as agent-1, pinging every iv.
func registeredAgent(t *testing.T, rt http.RoundTripper, iv time.Duration) *Agent {
	t.Helper()
	cfg := fakeAgentConfig(t, t.TempDir(), newFakeDriver())
	cfg.HTTPClient = &http.Client{Transport: rt}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	a.mu.Lock()
	a.pingInterval, a.leader, a.id = iv, "master.test:5050", "agent-1"
	a.mu.Unlock()
	return a
}

// A ping the leader sheds (503) or that finds its connection closed is
// sent again a second later and the registration goes on; one that says
// the leader does not know the agent (404) or whose connection is refused
// (the master's process is gone) ends it at once; a leader that sheds
// every ping for two ping intervals is left for a new registration.
func TestPingRetriesBusyLeader(t *testing.T) {
	const iv = 15 * time.Second
	for _, tc := range []struct {
		name      string
		code      func(n int) int
		wantCode  int
		wantPings int
		wantAfter time.Duration
	}{
		{"shed twice, taken, then unknown", func(n int) int {
			return [...]int{http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusNoContent, http.StatusNotFound}[min(n, 4)-1]
		}, http.StatusNotFound, 4, 2 * iv},
		{"always shed", func(int) int { return http.StatusServiceUnavailable }, http.StatusServiceUnavailable, 16, 2 * iv},
		{"connection closed, taken, then refused", func(n int) int {
			return [...]int{connClosed, http.StatusNoContent, connRefused}[min(n, 3)-1]
		}, connRefused, 3, 2 * iv},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := &pingMaster{code: tc.code}
				a := registeredAgent(t, m, iv)
				start := time.Now()
				err := a.pingLoop(t.Context())
				took := time.Since(start)
				var r *refusal
				if tc.wantCode == connRefused {
					if !errors.Is(err, syscall.ECONNREFUSED) {
						t.Fatalf("pingLoop: %v; want the refused connection", err)
					}
				} else if !errors.As(err, &r) || r.code != tc.wantCode {
					t.Fatalf("pingLoop: %v; want a %d refusal", err, tc.wantCode)
				}
				at := m.pings()
				if len(at) != tc.wantPings || took != tc.wantAfter {
					t.Fatalf("%d pings, ended after %v; want %d, after %v", len(at), took, tc.wantPings, tc.wantAfter)
				}
				if len(at) > 1 && at[1].Sub(at[0]) != pingRetry {
					t.Fatalf("second ping %v after the first, want %v (a shed ping is retried)", at[1].Sub(at[0]), pingRetry)
				}
			})
		})
	}
}

// roundTrip answers requests in-process.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A leader too busy to open the message stream (503) is asked again a
// second later; a stream refused otherwise (404) ends the registration.
func TestStreamOpenRetriesBusyLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var at []time.Time
		codes := []int{http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusOK, http.StatusNotFound}
		rt := roundTrip(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			at = append(at, time.Now())
			code := codes[min(len(at), len(codes))-1]
			mu.Unlock()
			// The stream that opens ends at once, empty.
			return &http.Response{StatusCode: code, Status: http.StatusText(code), Header: http.Header{},
				Body: io.NopCloser(bytes.NewReader(nil)), Request: r}, nil
		})
		a := registeredAgent(t, rt, 15*time.Second)
		err := a.streamLoop(t.Context(), "master.test:5050", "agent-1")
		if err == nil || errors.Is(err, ErrMasterRefused) {
			t.Fatalf("first stream: %v; want it opened (after two 503s) and closed by the master", err)
		}
		mu.Lock()
		n, gap := len(at), at[1].Sub(at[0])
		mu.Unlock()
		if n != 3 || gap != pingRetry {
			t.Fatalf("%d requests, the second %v after the first; want 3, %v apart", n, gap, pingRetry)
		}
		if err := a.streamLoop(t.Context(), "master.test:5050", "agent-1"); !errors.Is(err, ErrMasterRefused) {
			t.Fatalf("second stream: %v; want the 404 to end it", err)
		}
	})
}
