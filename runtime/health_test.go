package runtime

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
)

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	port := uint32(srv.Listener.Addr().(*net.TCPAddr).Port)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcpPort := uint32(ln.Addr().(*net.TCPAddr).Port)
	ln.Close() // now a closed port

	a := &Agent{}
	tk := &task{id: "t", sandbox: t.TempDir(), info: api.TaskInfo{}}
	for _, tc := range []struct {
		name string
		hc   api.HealthCheck
		ok   bool
	}{
		{"http 200", api.HealthCheck{Type: "HTTP", HTTP: &api.HTTPCheck{Port: port, Path: "/"}}, true},
		{"http 503", api.HealthCheck{Type: "HTTP", HTTP: &api.HTTPCheck{Port: port, Path: "/bad"}}, false},
		{"http 503 accepted", api.HealthCheck{Type: "HTTP", HTTP: &api.HTTPCheck{Port: port, Path: "/bad", Statuses: []uint32{503}}}, true},
		{"tcp open", api.HealthCheck{Type: "TCP", TCP: &api.TCPCheck{Port: port}}, true},
		{"tcp closed", api.HealthCheck{Type: "TCP", TCP: &api.TCPCheck{Port: tcpPort}}, false},
		// Never on the host: without a container a command check fails
		// (TestCommandHealthCheckInContainer runs them in one).
		{"command without a container", api.HealthCheck{Type: "COMMAND", Command: &api.CommandInfo{Value: "true"}}, false},
		{"no port", api.HealthCheck{Type: "HTTP", HTTP: &api.HTTPCheck{}}, false},
		{"unknown type", api.HealthCheck{Type: "PING"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := a.probe(context.Background(), tk, &tc.hc, 2*time.Second)
			if (err == nil) != tc.ok {
				t.Errorf("probe: %v, want healthy=%v", err, tc.ok)
			}
		})
	}
	// A probe that outlives its timeout fails.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer slow.Close()
	sp := uint32(slow.Listener.Addr().(*net.TCPAddr).Port)
	err = a.probe(context.Background(), tk, &api.HealthCheck{Type: "HTTP", HTTP: &api.HTTPCheck{Port: sp}}, 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(int(sp))) {
		t.Errorf("slow probe: %v", err)
	}
}

// A task's health over several checks: unhealthy when any fails, healthy
// when all pass, undecided while one has no verdict yet.
func TestHealthVerdict(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		name   string
		latest []*bool
		want   *bool
	}{
		{"one passing", []*bool{&yes}, &yes},
		{"all passing", []*bool{&yes, &yes, &yes}, &yes},
		{"one failing", []*bool{&yes, &no, &yes}, &no},
		{"failing before the others decide", []*bool{nil, &no}, &no},
		{"one undecided", []*bool{&yes, nil}, nil},
		{"none decided", []*bool{nil, nil}, nil},
	} {
		h := &taskHealth{latest: tc.latest}
		got := h.verdictLocked()
		if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
			t.Errorf("%s: verdict %v, want %v", tc.name, fmtBool(got), fmtBool(tc.want))
		}
	}
}

func fmtBool(b *bool) string {
	if b == nil {
		return "undecided"
	}
	return strconv.FormatBool(*b)
}

// TestNextProbe: a TCP or HTTP check that has not passed yet is retried
// early, 50 ms doubling, within its grace period and never later than its
// interval; COMMAND checks, passed checks and checks past their grace
// period wait the interval.
func TestNextProbe(t *testing.T) {
	const interval = time.Second
	retry := firstProbeRetry
	var waits []time.Duration
	for range 6 {
		var next time.Duration
		next, retry = nextProbe("TCP", false, false, true, retry, interval)
		waits = append(waits, next)
	}
	want := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, interval}
	if !slices.Equal(waits, want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
	for _, tc := range []struct {
		name                   string
		typ                    string
		ok, succeeded, inGrace bool
	}{
		{"passed", "TCP", true, true, true},
		{"failing after a pass", "HTTP", false, true, true},
		{"past the grace period", "HTTPS", false, false, false},
		{"command", "COMMAND", false, false, true},
	} {
		if next, _ := nextProbe(tc.typ, tc.ok, tc.succeeded, tc.inGrace, firstProbeRetry, interval); next != interval {
			t.Errorf("%s: next probe in %v, want the interval", tc.name, next)
		}
	}
}
