package ui

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// APIPrefix is where the UI sends its API calls: /ui/api/<path> is
// <path> on the master that served the page (see APIHandler).
const APIPrefix = "/ui/api"

// maxProxiedBody bounds a request body APIHandler keeps for replaying to
// the leader (app definitions are small).
const maxProxiedBody = 4 << 20

// APIConfig configures APIHandler.
type APIConfig struct {
	// RootCAs, when the masters serve HTTPS, is the cluster CA: calls go
	// to the leader over HTTPS, its certificate checked against it. No
	// client certificate is presented: a forwarded call acts with the
	// browser's rights, never with this master's.
	RootCAs *x509.CertPool
	// Transport carries calls to the leader; nil: http.DefaultTransport's
	// settings with RootCAs. (Tests; it too must present no client
	// certificate.)
	Transport http.RoundTripper
	// Logger; nil: slog.Default().
	Logger *slog.Logger
}

// APIHandler serves the UI's API calls so that a page works against any
// master. A standby master answers leader-only calls with a 307 to the
// leader's origin, which a browser's fetch cannot follow across origins.
// For /ui/api/<path> the request is served by next as <path>; when next
// answers 307 with a scheme-relative Location ("//leader:port/..."), the
// redirect is not sent: the request is forwarded to that location and the
// leader's answer relayed, streamed (the event stream works through it).
// A second 307 (leadership moved meanwhile) becomes 503 with a JSON
// message; the page retries on its next refresh. Other clients (CLI,
// agents, schedulers) call the API without the prefix and keep the Mesos
// redirect semantics.
func APIHandler(next http.Handler, cfg APIConfig) http.Handler {
	if cfg.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		if cfg.RootCAs != nil {
			t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cfg.RootCAs}
		}
		cfg.Transport = t
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("component", "ui")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, ok := strings.CutPrefix(r.URL.Path, APIPrefix)
		if !ok || !strings.HasPrefix(path, "/") || strings.HasPrefix(path, APIPrefix+"/") {
			writeMessage(w, http.StatusNotFound, "not a UI API path: "+r.URL.Path)
			return
		}
		var body []byte
		if r.Body != nil && r.Body != http.NoBody {
			b, err := io.ReadAll(io.LimitReader(r.Body, maxProxiedBody+1))
			if err != nil {
				writeMessage(w, http.StatusBadRequest, fmt.Sprintf("read request body: %v", err))
				return
			}
			if len(b) > maxProxiedBody {
				writeMessage(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", maxProxiedBody))
				return
			}
			body = b
		}
		inner := r.Clone(r.Context())
		inner.URL.Path = path
		inner.URL.RawPath = ""
		if raw, ok := strings.CutPrefix(r.URL.RawPath, APIPrefix); ok {
			inner.URL.RawPath = raw
		}
		inner.RequestURI = inner.URL.RequestURI()
		inner.Body = io.NopCloser(bytes.NewReader(body))
		inner.ContentLength = int64(len(body))
		cw := &redirectCatcher{ResponseWriter: w}
		next.ServeHTTP(cw, inner)
		if cw.location == "" {
			return
		}
		target, err := url.Parse(cw.location)
		if err != nil || target.Host == "" {
			writeMessage(w, http.StatusBadGateway, fmt.Sprintf("leader redirect %q: not a URL", cw.location))
			return
		}
		if target.Scheme == "" {
			target.Scheme = "http"
			if r.TLS != nil || cfg.RootCAs != nil {
				target.Scheme = "https"
			}
		}
		proxy := &httputil.ReverseProxy{
			Transport:     cfg.Transport,
			FlushInterval: -1, // server-sent events
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.Out.URL = target
				pr.Out.Host = target.Host
				pr.Out.Body = io.NopCloser(bytes.NewReader(body))
				pr.Out.ContentLength = int64(len(body))
				pr.SetXForwarded()
				// The browser's Origin is this master's, not the leader's:
				// the leader would refuse a session's write for it. This
				// master checked it (the router runs before this handler);
				// the leader checks the session's X-CSRF-Token, which the
				// page sends on every write.
				pr.Out.Header.Del("Origin")
			},
			ModifyResponse: func(resp *http.Response) error {
				if resp.StatusCode == http.StatusTemporaryRedirect || resp.StatusCode == http.StatusPermanentRedirect {
					return errLeaderMoved
				}
				return nil
			},
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
				if errors.Is(err, errLeaderMoved) {
					writeMessage(w, http.StatusServiceUnavailable, "the leader moved while this request was forwarded; retry")
					return
				}
				log.Warn("forward a UI request to the leader", "url", target.Redacted(), "err", err)
				writeMessage(w, http.StatusBadGateway, fmt.Sprintf("leader %s unreachable: %v", target.Host, err))
			},
		}
		proxy.ServeHTTP(w, inner)
	})
}

var errLeaderMoved = errors.New("leader moved")

// MountAPI registers APIHandler on mux for the UI's methods, with mux
// itself serving the calls: one line for the node's wiring. (Method
// patterns, so they do not clash with the assets' "GET /ui/".)
func MountAPI(mux *http.ServeMux, cfg APIConfig) {
	h := APIHandler(mux, cfg)
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		mux.Handle(m+" "+APIPrefix+"/", h)
	}
}

// redirectCatcher passes a response through unless it is a 307 with a
// scheme-relative Location (a standby pointing at the leader), which it
// records and swallows.
type redirectCatcher struct {
	http.ResponseWriter
	location string // set when the redirect was caught
	wrote    bool
}

func (c *redirectCatcher) WriteHeader(code int) {
	if c.wrote {
		return
	}
	c.wrote = true
	if loc := c.Header().Get("Location"); code == http.StatusTemporaryRedirect && strings.HasPrefix(loc, "//") {
		c.location = loc
		c.Header().Del("Location")
		return
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *redirectCatcher) Write(b []byte) (int, error) {
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	if c.location != "" {
		return len(b), nil
	}
	return c.ResponseWriter.Write(b)
}

// Flush lets streamed answers (server-sent events) through.
func (c *redirectCatcher) Flush() {
	if c.location == "" {
		if f, ok := c.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (c *redirectCatcher) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func writeMessage(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}
