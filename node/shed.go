package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"nodectl/cluster/api"
)

// serverLimits bound what one client can hold of an API server: how long
// it may take to send a request, how big the headers may be, how long an
// idle keep-alive connection stays, and how many requests run at once.
// Responses are never bounded in time: scheduler SUBSCRIBE, the /v2/events
// stream, agent streams and log follows last as long as their clients.
type serverLimits struct {
	// ReadHeader bounds the TLS handshake (http.Server applies it there
	// too) and then a request line and headers; Body bounds reading a
	// request's body, from the end of its headers (per request: a
	// server-wide ReadTimeout would also end long-lived streams).
	ReadHeader, Body time.Duration
	// PreRead: a body of at most this many bytes is read whole before the
	// request takes an in-flight slot, at MinBodyRate bytes/s at least
	// (after a grace of ReadHeader): a client sending its body slowly
	// holds a connection, never a slot. Beyond PreRead the rest is read
	// by the handler, within Body.
	PreRead, MinBodyRate int
	// Idle closes a keep-alive connection with no request for this long.
	Idle time.Duration
	// MaxConns caps a listener's open connections; at the cap one that
	// has waited EvictAfter on its client makes room (see connLimiter).
	MaxConns   int
	EvictAfter time.Duration
	// MaxHeaderBytes caps a request's line and headers.
	MaxHeaderBytes int
	// MaxInFlight caps the requests being handled at once; beyond it a
	// request is answered 503 with Retry-After. A stream counts until it
	// first flushes (its head is out), not for its whole life.
	MaxInFlight int
	// RetryAfter is the Retry-After a shed request gets, in seconds.
	RetryAfter string
}

// defaultServerLimits: request bodies here are small JSON (≤ a few MiB).
// ReadHeader stays 10 s: it also bounds the TLS handshake, and on a loaded
// 2-core machine 1,000 clients connecting at once saw handshakes past 5 s
// (a 5 s bound closed 503 of them unanswered in BenchmarkSlowClients20000);
// slow clients are bounded by MaxConns instead.
var defaultServerLimits = serverLimits{
	ReadHeader: 10 * time.Second, Body: 30 * time.Second, Idle: 2 * time.Minute,
	PreRead: 1 << 20, MinBodyRate: 64 << 10, MaxConns: 4096, EvictAfter: time.Second,
	MaxHeaderBytes: 64 << 10, MaxInFlight: 256, RetryAfter: "1",
}

// minMaxConns is the smallest --max-connections.
const minMaxConns = 64

// listen serves h on addr with the default limits and at most maxConns
// open connections (0: the default).
func listen(addr string, h http.Handler, log *slog.Logger, maxConns int) (*http.Server, net.Listener, error) {
	lim := defaultServerLimits
	if maxConns > 0 {
		lim.MaxConns = maxConns
	}
	return listenLimited(addr, h, log, lim)
}

// listenLimited is listen with the limits lim.
func listenLimited(addr string, h http.Handler, log *slog.Logger, lim serverLimits) (*http.Server, net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	if lim.MaxConns > 0 {
		ln = newConnLimiter(ln, lim.MaxConns, lim.EvictAfter)
	}
	srv := &http.Server{
		Handler:           shed(refuseJSONP(h), lim),
		ConnState:         connState,
		ConnContext:       connContext,
		ReadHeaderTimeout: lim.ReadHeader,
		IdleTimeout:       lim.Idle,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ErrorLog:          stdlog.New(serverErrorLog{log}, "", 0),
		HTTP2:             &http.HTTP2Config{MaxDecoderHeaderTableSize: hpackTableSize, MaxEncoderHeaderTableSize: hpackTableSize},
	}
	return srv, ln, nil
}

// hpackTableSize bounds each HTTP/2 connection's two header compression
// tables (RFC 7541 §4: 4,096 bytes each by default, SETTINGS_HEADER_TABLE_SIZE).
// A leader holds a connection for each of its agents, and the tables of
// 3,000 agents held 17.5 MB of its live heap (make bench-scale, a heap
// profile); headers are a few hundred bytes a request on a LAN, sent
// whole instead.
const hpackTableSize = 256

// serverErrorLog is net/http's error log for a listener: its lines are
// warnings, except failed TLS handshakes, which are DEBUG: a browser
// meeting the cluster's own CA for the first time, a port scanner or a
// load balancer's TCP check makes them all day, and none needs a person.
type serverErrorLog struct{ l *slog.Logger }

func (e serverErrorLog) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	lvl := slog.LevelWarn
	if strings.HasPrefix(msg, "http: TLS handshake error") {
		lvl = slog.LevelDebug
	}
	e.l.Log(context.Background(), lvl, msg)
	return len(p), nil
}

// shed applies lim's per-request limits (the body pre-read, the body
// deadline, the in-flight bound) around h.
func shed(h http.Handler, lim serverLimits) http.Handler {
	slots := make(chan struct{}, lim.MaxInFlight)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		whole := r.ContentLength == 0
		if !whole && lim.PreRead > 0 {
			waitingOnClient(r, true)
			var err error
			whole, err = preRead(r, rc, lim)
			waitingOnClient(r, false)
			if err != nil {
				// The connection's read deadline has passed or it broke:
				// the server closes it after this answer.
				w.Header().Set("Connection", "close")
				writeShedError(w, http.StatusRequestTimeout, "request body not received in time: "+err.Error())
				return
			}
		}
		if whole && r.Method == http.MethodPost && r.URL.Path == api.PathPing {
			// An agent's ping is never shed: it is tiny, and a ping shed
			// for two intervals ends the agent's registration (one not
			// taken for its whole window marks it inactive, its tasks
			// lost); 10,000 agents on a busy leader lost ~2,400
			// registrations so.
			h.ServeHTTP(w, r)
			return
		}
		select {
		case slots <- struct{}{}:
		default:
			if !whole {
				// Unread body: the server would drain it, with no
				// deadline, before answering; close the connection instead.
				_ = rc.SetReadDeadline(time.Now())
			}
			w.Header().Set("Retry-After", lim.RetryAfter)
			writeShedError(w, http.StatusServiceUnavailable, "server busy: too many requests in flight; retry later")
			return
		}
		sw := &slotWriter{ResponseWriter: w, release: sync.OnceFunc(func() { <-slots })}
		defer sw.release()
		if !whole && lim.Body > 0 {
			if rt := startReadTimer(rc, lim.Body); rt != nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rt: rt}
				// A body the handler left unread: a deadline the timer set
				// stays, so the server closes the connection rather than
				// read the rest with no deadline.
				defer rt.stop(false)
			}
		}
		h.ServeHTTP(sw, r)
	})
}

// preRead reads up to lim.PreRead bytes of r's body within lim.ReadHeader
// plus the time the body takes at lim.MinBodyRate (at most lim.Body), and
// puts them back in front of the rest. whole: the body ended within them.
func preRead(r *http.Request, rc *http.ResponseController, lim serverLimits) (whole bool, err error) {
	n := int64(lim.PreRead)
	if r.ContentLength > 0 && r.ContentLength < n {
		n = r.ContentLength
	}
	d := lim.ReadHeader
	if lim.MinBodyRate > 0 {
		d += time.Duration(n) * time.Second / time.Duration(lim.MinBodyRate)
	}
	if lim.Body > 0 && d > lim.Body {
		d = lim.Body
	}
	rt := startReadTimer(rc, d)
	if rt == nil {
		return false, nil // not a connection with deadlines: the handler reads it
	}
	// Grown as the bytes come beyond what the client announced (and 16
	// KiB): a slow client holds little memory.
	buf, err := api.ReadBody(io.LimitReader(r.Body, n+1), r.ContentLength)
	rt.stop(err == nil)
	if err != nil {
		return false, err
	}
	if int64(len(buf)) <= n {
		_ = r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(buf))
		return true, nil
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	return false, nil
}

// readTimer bounds the reads of a request's body: once its time has
// passed it sets the connection's read deadline to now, which fails the
// read under way and the ones after it. A deadline set in advance would
// do the same, but it is still in force when net/http, at the body's end,
// starts its own background read (the one that notices a client going
// away), unless the handler's goroutine lifts it first; on a busy machine
// that goroutine was not always scheduled in time, and the background
// read's timeout cancelled a stream the client was reading (CI under load:
// unexpected EOF). The timer is disarmed as soon as the body has been
// read, so no deadline is ever set for a client that was quick enough.
type readTimer struct {
	rc    *http.ResponseController
	t     *time.Timer
	mu    sync.Mutex
	fired bool
	done  bool
}

// startReadTimer arms a readTimer of d, or returns nil when the
// connection has no read deadlines.
func startReadTimer(rc *http.ResponseController, d time.Duration) *readTimer {
	if err := rc.SetReadDeadline(time.Time{}); err != nil {
		return nil
	}
	rt := &readTimer{rc: rc}
	rt.t = time.AfterFunc(d, func() {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		if !rt.done {
			rt.fired = true
			_ = rc.SetReadDeadline(time.Now())
		}
	})
	return rt
}

// stop disarms the timer. ok: the reads it guarded completed, so a
// deadline it set at that very moment is lifted again; otherwise it stays
// and the server closes the connection after the answer.
func (rt *readTimer) stop(ok bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.done {
		return
	}
	rt.done = true
	rt.t.Stop()
	if rt.fired && ok {
		_ = rt.rc.SetReadDeadline(time.Time{})
	}
}

// writeShedError answers {"message": msg} with code.
func writeShedError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	b, _ := json.Marshal(map[string]string{"message": msg})
	_, _ = w.Write(append(b, '\n'))
}

// slotWriter gives its in-flight slot back when the response first
// flushes: a stream holds it only until it is under way.
type slotWriter struct {
	http.ResponseWriter
	release func()
}

func (w *slotWriter) Flush() {
	w.release()
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// FlushError is what http.ResponseController calls.
func (w *slotWriter) FlushError() error {
	w.release()
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack gives the slot back too: a hijacked connection (an exec
// session's WebSocket) is no longer a request in flight.
func (w *slotWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.release()
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *slotWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// deadlineBody disarms the body's readTimer once the body has been read
// to its end. A body that times out keeps its expired deadline, so the
// server closes the connection rather than wait for the rest.
type deadlineBody struct {
	io.ReadCloser
	rt *readTimer
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.rt.stop(true)
	}
	return n, err
}
