package node

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"nodectl/cluster/api"
)

// serveLimited serves h with lim on a loopback port until the test ends.
func serveLimited(t *testing.T, h http.Handler, lim serverLimits) string {
	t.Helper()
	srv, ln, err := listenLimited("127.0.0.1:0", h, slog.New(slog.DiscardHandler), lim)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// closedByServer reads c until the server closes it and returns what it
// got; the test fails if that takes more than a minute (a hang).
func closedByServer(t *testing.T, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open; got %q", b)
	}
	return string(b)
}

// A client that sends headers or a body too slowly is cut off; a
// streaming response outlives the body deadline.
func TestServerLimitsSlowClients(t *testing.T) {
	t.Parallel()
	lim := serverLimits{ReadHeader: 300 * time.Millisecond, Body: 300 * time.Millisecond, PreRead: 1 << 10, Idle: time.Minute, MaxHeaderBytes: 4 << 10, MaxInFlight: 8, RetryAfter: "1"}
	bodyErr := make(chan error, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /read", func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		bodyErr <- err
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestTimeout)
		}
	})
	mux.HandleFunc("POST /stream", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc := http.NewResponseController(w)
		// Events for three body deadlines: the stream must not end with it.
		for i := range 10 {
			if _, err := fmt.Fprintf(w, "event %d\n", i); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond): // the stream's pace
			}
		}
	})
	addr := serveLimited(t, mux, lim)

	t.Run("slow headers", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "POST /read HTTP/1.1\r\nHost: x\r\n") // and no more
		closedByServer(t, c)
	})
	t.Run("slow body", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a part")
		got := closedByServer(t, c)
		select {
		case err := <-bodyErr:
			t.Errorf("the handler ran (body error %v) for a body that never came in full", err)
		default:
		}
		if !strings.Contains(got, "408") || !strings.Contains(got, `"message"`) {
			t.Errorf("answer %q, want 408 with a JSON message", got)
		}
	})
	t.Run("slow body beyond the pre-read", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", 2*lim.PreRead, strings.Repeat("a", lim.PreRead+1))
		got := closedByServer(t, c)
		if err := <-bodyErr; err == nil {
			t.Errorf("the handler read a body that never came in full")
		}
		if !strings.Contains(got, "408") {
			t.Errorf("answer %q, want the handler's 408", got)
		}
	})
	t.Run("huge headers", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /read HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 16<<10))
		if got := closedByServer(t, c); !strings.Contains(got, "431") {
			t.Errorf("answer %q, want 431", got)
		}
	})
	t.Run("stream outlives the body deadline", func(t *testing.T) {
		// The whole request in one write, as the raw subtests do: an
		// http.Client writes from its own goroutine, which a busy
		// machine can hold past the 300 ms header deadline (CI saw EOF).
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		body := `{"type":"SUBSCRIBE"}`
		fmt.Fprintf(c, "POST /stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		n := 0
		for sc := bufio.NewScanner(resp.Body); sc.Scan(); n++ {
		}
		if n != 10 {
			t.Errorf("%d events, want all 10", n)
		}
	})
}

// Beyond MaxInFlight requests at once, a request gets 503 with
// Retry-After; a stream gives its slot back once under way.
func TestServerLimitsInFlight(t *testing.T) {
	t.Parallel()
	lim := defaultServerLimits
	lim.MaxInFlight = 2
	entered, unblock := make(chan struct{}, 8), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-unblock
	})
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush() // as cluster/apps/events.go does
		entered <- struct{}{}
		<-r.Context().Done()
	})
	mux.HandleFunc("GET /fast", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("POST "+api.PathPing, func(w http.ResponseWriter, r *http.Request) {})
	addr := serveLimited(t, mux, lim)
	base := "http://" + addr
	get := func(path string) (*http.Response, error) {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		return c.Get(base + path)
	}

	// Two streams under way hold no slot: fast requests still pass.
	var streams []*http.Response
	for range 3 {
		resp, err := get("/stream")
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, resp)
		<-entered
	}
	resp, err := get("/fast")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("with 3 streams open: %v %v", resp, err)
	}
	resp.Body.Close()

	// Two slow requests fill the slots; a third is shed.
	done := make(chan error, 2)
	for range 2 {
		go func() {
			resp, err := get("/slow")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("slow request: %s", resp.Status)
				}
			}
			done <- err
		}()
	}
	<-entered
	<-entered
	resp, err = get("/fast")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), `"message"`) {
		t.Errorf("over the bound: %s Retry-After %q %s, want 503 with Retry-After and a JSON message", resp.Status, resp.Header.Get("Retry-After"), body)
	}
	// An agent's ping is not shed.
	pc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err = pc.Post(base+api.PathPing, "application/json", strings.NewReader(`{"agent_id":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("a ping with the slots full: %s, want 200", resp.Status)
	}
	close(unblock)
	for range 2 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	resp, err = get("/fast")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the slow ones: %v %v", resp, err)
	}
	resp.Body.Close()
	for _, s := range streams {
		s.Body.Close()
	}
}

// A client sending its body slowly holds no in-flight slot: with one slot,
// other requests pass beside it; a body is read whole before the handler
// runs. A request shed with its body unread is answered and its
// connection closed, not drained.
func TestServerLimitsSlowBodyHoldsNoSlot(t *testing.T) {
	t.Parallel()
	lim := defaultServerLimits
	lim.MaxInFlight, lim.PreRead = 1, 1<<10
	got := make(chan string, 1)
	entered, unblock := make(chan struct{}, 1), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
	})
	mux.HandleFunc("GET /fast", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("POST "+api.PathPing, func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /block", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-unblock
	})
	addr := serveLimited(t, mux, lim)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprint(slow, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
	for i := range 3 {
		resp, err := client.Get("http://" + addr + "/fast")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d beside a slow body: %s", i, resp.Status)
		}
	}
	select {
	case b := <-got:
		t.Fatalf("the handler ran with %q before the body was whole", b)
	default:
	}
	fmt.Fprint(slow, "world")
	if b := <-got; b != "helloworld" {
		t.Errorf("handler read %q, want helloworld", b)
	}

	// The one slot held: a POST with a body beyond the pre-read is shed
	// and its connection closed though its body never ends.
	go func() { _, _ = client.Get("http://" + addr + "/block") }()
	<-entered
	defer close(unblock)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", 4*lim.PreRead, strings.Repeat("a", lim.PreRead+1))
	if ans := closedByServer(t, c); !strings.Contains(ans, "503") {
		t.Errorf("answer %q, want 503", ans)
	}
}

// The master port's HTTP/2 connections announce small header compression
// tables (hpackTableSize, not RFC 7541's 4,096 bytes): a leader holds one
// connection per agent, and their tables were part of its heap.
func TestServerHPACKTables(t *testing.T) {
	t.Parallel()
	srvTLS, cliTLS := testServerTLS(t)
	srvTLS.NextProtos = []string{"h2", "http/1.1"}
	srv, ln, err := listenLimited("127.0.0.1:0", http.NotFoundHandler(), slog.New(slog.DiscardHandler), defaultServerLimits)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(tls.NewListener(ln, srvTLS)) }()
	t.Cleanup(func() { _ = srv.Close() })

	cliTLS.NextProtos = []string{"h2"}
	c, err := tls.Dial("tcp", ln.Addr().String(), cliTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q, want h2", p)
	}
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("no SETTINGS from the server: %v", err)
		}
		sf, ok := f.(*http2.SettingsFrame)
		if !ok || sf.IsAck() {
			continue
		}
		if v, ok := sf.Value(http2.SettingHeaderTableSize); !ok || v != hpackTableSize {
			t.Fatalf("SETTINGS_HEADER_TABLE_SIZE %d (sent %v), want %d", v, ok, hpackTableSize)
		}
		return
	}
}
