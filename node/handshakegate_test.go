package node

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nodectl/cluster/pki"
)

// testServerTLS is the master port's TLS (pki.ServerTLS) with a fresh
// cluster CA and a master certificate for 127.0.0.1, and a client config
// that trusts the CA.
func testServerTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	_, id, _, err := pki.InitMaster(pki.Paths{Dir: t.TempDir()}, pki.SignRequest{Name: "gate", IPs: pki.NodeIPs("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	return pki.ServerTLS(id), &tls.Config{RootCAs: id.Pool()}
}

// The gate runs at most its slots' handshakes at once and hands
// http.Server finished ones: HTTP/2 and HTTP/1.1 both work through it.
func TestHandshakeGate(t *testing.T) {
	t.Parallel()
	srvTLS, cliTLS := testServerTLS(t)
	var inFlight, most atomic.Int32
	entered, release := make(chan struct{}, 8), make(chan struct{})
	srvTLS.NextProtos = []string{"h2", "http/1.1"}
	srvTLS.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		n := inFlight.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		entered <- struct{}{}
		<-release // every handshake waits here until the test lets it go
		return nil, nil
	}
	srvTLS.VerifyConnection = func(tls.ConnectionState) error { inFlight.Add(-1); return nil }
	addr, gate, srv, served := serveGated(t, srvTLS, 2, time.Minute)

	var wg sync.WaitGroup
	dialed := make(chan struct{}, 8)
	protos := make([]string, 8)
	errs := make([]error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); protos[i], errs[i] = gatedGet(addr, cliTLS, i%2 == 0, dialed) }()
	}
	// Let the handshakes go one at a time, each only once two are held (all
	// that may run), the first once every client has connected: the rest
	// pile up at the gate meanwhile, and without it would be held here at
	// once.
	go func() {
		for range 8 {
			<-dialed
		}
		held := 0
		for done := range 8 {
			for ; held < min(2, 8-done); held++ {
				<-entered
			}
			// Two held mid-handshake hold both slots: a third cannot start.
			if held == 2 && gate.slots.tryAcquire() {
				gate.slots.release()
				t.Errorf("a slot free with two handshakes under way (%d done)", done)
			}
			release <- struct{}{}
			held--
		}
	}()
	wg.Wait()
	for i := range 8 {
		want := "HTTP/2.0"
		if i%2 == 1 {
			want = "HTTP/1.1"
		}
		if errs[i] != nil || protos[i] != want {
			t.Errorf("request %d: %q %v, want %s", i, protos[i], errs[i], want)
		}
	}
	if m := most.Load(); m > 2 {
		t.Errorf("%d handshakes ran at once through a gate of 2", m)
	}

	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
	if _, err := gate.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
}

// A client that never sends its ClientHello holds no slot and is closed
// after the timeout: the one behind it is served at once.
func TestHandshakeGateTimesOutSilentClients(t *testing.T) {
	t.Parallel()
	srvTLS, cliTLS := testServerTLS(t)
	addr, _, _, _ := serveGated(t, srvTLS, 1, 300*time.Millisecond)
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if proto, err := gatedGet(addr, cliTLS, true, nil); err != nil || proto != "HTTP/2.0" {
		t.Fatalf("request behind a silent client: %q %v", proto, err)
	}
	_ = silent.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Errorf("silent connection: read %v, want it closed by the server", err)
	}
	// Plain HTTP to the TLS port gets http.Server's 400, as without a gate.
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("plain HTTP: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "HTTP request to an HTTPS server") {
		t.Errorf("plain HTTP: %d %q", resp.StatusCode, b)
	}
}

// serveGated serves r.Proto over TLS through a gate of n slots.
func serveGated(t *testing.T, srvTLS *tls.Config, n int, timeout time.Duration) (string, *handshakeGate, *http.Server, chan error) {
	t.Helper()
	if srvTLS.NextProtos == nil {
		srvTLS.NextProtos = []string{"h2", "http/1.1"}
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gate := newHandshakeGate(raw, srvTLS, n, timeout)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.Proto) })}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(gate) }()
	t.Cleanup(func() { _ = srv.Close() })
	return gate.Addr().String(), gate, srv, served
}

// gatedGet is one GET on a connection of its own, in HTTP/2 or HTTP/1.1;
// dialed (if not nil) hears when its TCP connection is up.
func gatedGet(addr string, cliTLS *tls.Config, h2 bool, dialed chan<- struct{}) (string, error) {
	cfg := cliTLS.Clone()
	if !h2 {
		cfg.NextProtos = []string{"http/1.1"}
	}
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: h2,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil && dialed != nil {
				dialed <- struct{}{}
			}
			return c, err
		}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: time.Minute}).Get("https://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// Handshakes waiting for a slot are served clients that are not nodes
// first (no pki.NodeProto offered: people, the CLI, frameworks), then
// nodes, each in the order they came: an operator's request to a new
// leader does not queue behind its reconnecting agents.
func TestHandshakeGateServesPeopleFirst(t *testing.T) {
	t.Parallel()
	srvTLS, cliTLS := testServerTLS(t)
	entered := make(chan string, 8)
	release := make(chan struct{})
	srvTLS.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		who := "person"
		if slices.Contains(h.SupportedProtos, pki.NodeProto) {
			who = "node"
		}
		entered <- who
		<-release
		return nil, nil
	}
	addr, gate, _, _ := serveGated(t, srvTLS, 1, time.Minute)
	joined := make(chan int, 8)
	gate.slots.mu.Lock()
	gate.slots.queued = joined
	gate.slots.mu.Unlock()
	queued := func(want int) {
		t.Helper()
		select {
		case q := <-joined:
			if q != want {
				t.Fatalf("a handshake joined queue %d, want %d", q, want)
			}
		case <-time.After(time.Minute):
			t.Fatalf("no handshake joined queue %d in a minute", want)
		}
	}
	var wg sync.WaitGroup
	get := func(cfg *tls.Config) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := gatedGet(addr, cfg, true, nil); err != nil {
				t.Errorf("request: %v", err)
			}
		}()
	}
	node := pki.NodeClientTLS(cliTLS)
	get(node) // takes the only slot and is held in it
	if who := <-entered; who != "node" {
		t.Fatalf("first in the slot: %s", who)
	}
	get(node)
	queued(gateNodes)
	get(node)
	queued(gateNodes)
	get(cliTLS)
	queued(gatePeople)
	var order []string
	for range 3 {
		release <- struct{}{}
		order = append(order, <-entered)
	}
	release <- struct{}{}
	wg.Wait()
	if !slices.Equal(order, []string{"person", "node", "node"}) {
		t.Errorf("slots went to %v, want the person before the two nodes that waited longer", order)
	}
}

// tryAcquire takes a slot if one is free and nobody waits.
func (s *gateSlots) tryAcquire() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.takeFreeLocked()
}
