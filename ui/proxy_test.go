package ui

import (
	"bufio"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// uiTestMaster is a master's mux as the node builds it: leader-only calls
// answered here when leading, else redirected the way cluster's
// leaderOnly does ("//leader" + request URI); a local call; the assets;
// and the UI API mounted on top.
func uiTestMaster(t *testing.T, name string, leader func() string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(uiTestMux(name, leader, APIConfig{}))
	t.Cleanup(srv.Close)
	return srv
}

func uiTestMux(name string, leader func() string, cfg APIConfig) *http.ServeMux {
	mux := http.NewServeMux()
	leaderOnly := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if l := leader(); l != "" {
				w.Header().Set("Location", "//"+l+r.URL.RequestURI())
				w.WriteHeader(http.StatusTemporaryRedirect)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /state", leaderOnly(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"served_by":%q,"query":%q,"forwarded_host":%q}`, name, r.URL.RawQuery, r.Header.Get("X-Forwarded-Host"))
	}))
	mux.HandleFunc("POST /v2/apps", leaderOnly(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Location", "/x") // not a redirect: passes through
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"served_by":%q,"body":%q,"origin":%q,"csrf":%q}`, name, b, r.Header.Get("Origin"), r.Header.Get("X-CSRF-Token"))
	}))
	mux.HandleFunc("GET /v2/events", leaderOnly(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "event: tick\ndata: %s-%d\n\n", name, i)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}))
	mux.HandleFunc("GET /master/members", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"served_by":%q}`, name)
	})
	mux.HandleFunc("GET /master/tokens", func(w http.ResponseWriter, r *http.Request) {
		writeMessage(w, http.StatusUnauthorized, "no client certificate")
	})
	h := Handler()
	mux.Handle("GET /{$}", h)
	mux.Handle("GET /ui/", h)
	MountAPI(mux, cfg)
	return mux
}

func uiNoRedirect() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
}

func uiDo(t *testing.T, method, url, body string) (int, map[string]string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := uiNoRedirect().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out := map[string]string{}
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, url, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, out, resp.Header
}

// TestAPIHandlerForwardsToLeader: a standby serves the UI's calls with
// the leader's answers (GET, POST with its body, the event stream), its
// own answers for calls every master serves, and keeps the redirect for
// clients that call without the prefix.
func TestAPIHandlerForwardsToLeader(t *testing.T) {
	leader := uiTestMaster(t, "leader", func() string { return "" })
	leaderAddr := strings.TrimPrefix(leader.URL, "http://")
	standby := uiTestMaster(t, "standby", func() string { return leaderAddr })

	// Without the prefix: the Mesos redirect, as before.
	code, _, hdr := uiDo(t, "GET", standby.URL+"/state?x=1", "")
	if code != http.StatusTemporaryRedirect || hdr.Get("Location") != "//"+leaderAddr+"/state?x=1" {
		t.Fatalf("GET /state on the standby: %d Location %q", code, hdr.Get("Location"))
	}
	// With it: the leader's answer, query kept, no redirect.
	code, body, hdr := uiDo(t, "GET", standby.URL+APIPrefix+"/state?x=1", "")
	if code != http.StatusOK || body["served_by"] != "leader" || body["query"] != "x=1" || hdr.Get("Location") != "" {
		t.Fatalf("GET %s/state on the standby: %d %v Location %q", APIPrefix, code, body, hdr.Get("Location"))
	}
	if body["forwarded_host"] != strings.TrimPrefix(standby.URL, "http://") {
		t.Errorf("X-Forwarded-Host %q, want the standby's", body["forwarded_host"])
	}
	code, body, hdr = uiDo(t, "POST", standby.URL+APIPrefix+"/v2/apps", `{"id":"/a"}`)
	if code != http.StatusCreated || body["served_by"] != "leader" || body["body"] != `{"id":"/a"}` || hdr.Get("Location") != "/x" {
		t.Fatalf("POST %s/v2/apps on the standby: %d %v Location %q", APIPrefix, code, body, hdr.Get("Location"))
	}
	// A session's write from the page: the standby's Origin is not sent on
	// (the leader would refuse it as cross-site); the CSRF token is.
	req, _ := http.NewRequest("POST", standby.URL+APIPrefix+"/v2/apps", strings.NewReader(`{"id":"/b"}`))
	req.Header.Set("Origin", standby.URL)
	req.Header.Set("X-CSRF-Token", "tok")
	req.Header.Set("Content-Type", "application/json")
	if resp, err := uiNoRedirect().Do(req); err != nil {
		t.Fatal(err)
	} else {
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || body["served_by"] != "leader" || body["origin"] != "" || body["csrf"] != "tok" {
			t.Fatalf("POST with Origin through the standby: %d %v", resp.StatusCode, body)
		}
	}
	// Served by every master: the standby's own answer, errors included.
	if code, body, _ = uiDo(t, "GET", standby.URL+APIPrefix+"/master/members", ""); code != http.StatusOK || body["served_by"] != "standby" {
		t.Fatalf("members on the standby: %d %v", code, body)
	}
	if code, body, _ = uiDo(t, "GET", standby.URL+APIPrefix+"/master/tokens", ""); code != http.StatusUnauthorized || body["message"] != "no client certificate" {
		t.Fatalf("tokens on the standby: %d %v", code, body)
	}
	// On the leader the prefix is just the call.
	if code, body, _ = uiDo(t, "GET", leader.URL+APIPrefix+"/state", ""); code != http.StatusOK || body["served_by"] != "leader" {
		t.Fatalf("state on the leader: %d %v", code, body)
	}
	// The assets are still served.
	if resp, err := http.Get(standby.URL + "/ui/js/main.js"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("assets on the standby: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// The event stream, streamed through.
	resp, err := uiNoRedirect().Get(standby.URL + APIPrefix + "/v2/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			got = append(got, d)
		}
	}
	if resp.StatusCode != http.StatusOK || strings.Join(got, ",") != "leader-0,leader-1,leader-2" {
		t.Fatalf("events through the standby: %d %v", resp.StatusCode, got)
	}
}

// TestAPIHandlerLeaderMoved: the forwarded call is redirected again (the
// leader moved) → 503 with a message; the leader is down → 502.
func TestAPIHandlerLeaderMoved(t *testing.T) {
	other := uiTestMaster(t, "other", func() string { return "127.0.0.1:1" })
	otherAddr := strings.TrimPrefix(other.URL, "http://")
	standby := uiTestMaster(t, "standby", func() string { return otherAddr })
	code, body, hdr := uiDo(t, "GET", standby.URL+APIPrefix+"/state", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body["message"], "leader moved") || hdr.Get("Location") != "" {
		t.Fatalf("leader moved: %d %v Location %q", code, body, hdr.Get("Location"))
	}
	code, body, _ = uiDo(t, "GET", other.URL+APIPrefix+"/state", "")
	if code != http.StatusBadGateway || !strings.Contains(body["message"], "unreachable") {
		t.Fatalf("leader down: %d %v", code, body)
	}
	if code, _, _ := uiDo(t, "GET", standby.URL+APIPrefix+APIPrefix+"/state", ""); code != http.StatusNotFound {
		t.Fatalf("nested prefix: %d, want 404", code)
	}
}

// TestAPIHandlerTLSLeader: with the cluster CA, calls go to the leader
// over HTTPS (its certificate checked), from a plain-HTTP page too.
func TestAPIHandlerTLSLeader(t *testing.T) {
	leader := httptest.NewTLSServer(uiTestMux("leader", func() string { return "" }, APIConfig{}))
	t.Cleanup(leader.Close)
	leaderAddr := strings.TrimPrefix(leader.URL, "https://")
	pool := x509.NewCertPool()
	pool.AddCert(leader.Certificate())
	standby := httptest.NewServer(uiTestMux("standby", func() string { return leaderAddr }, APIConfig{RootCAs: pool}))
	t.Cleanup(standby.Close)
	if code, body, _ := uiDo(t, "GET", standby.URL+APIPrefix+"/state", ""); code != http.StatusOK || body["served_by"] != "leader" {
		t.Fatalf("state through the standby: %d %v", code, body)
	}
	// A CA that did not sign the leader's certificate: refused, 502.
	other := httptest.NewServer(uiTestMux("other", func() string { return leaderAddr }, APIConfig{RootCAs: x509.NewCertPool()}))
	t.Cleanup(other.Close)
	if code, body, _ := uiDo(t, "GET", other.URL+APIPrefix+"/state", ""); code != http.StatusBadGateway || !strings.Contains(body["message"], "certificate") {
		t.Fatalf("untrusted leader: %d %v", code, body)
	}
}
