package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestChallengeForUICalls: a 401 carries a Basic challenge, except to a
// page's script (the UI's X-Requested-With, a browser's Sec-Fetch-Mode
// cors or same-origin), which a browser would otherwise answer with its
// own password dialog.
func TestChallengeForUICalls(t *testing.T) {
	g := New(Config{})
	rt := g.NewRouter()
	rt.HandleFunc("GET /state", GetEndpoints, func(w http.ResponseWriter, r *http.Request) {})
	rt.Add(g.Routes()...)
	for _, c := range []struct {
		method, path, header, value, want string
	}{
		{"GET", "/state", "", "", `Basic realm="nodectl"`},
		{"GET", "/state", "Sec-Fetch-Mode", "navigate", `Basic realm="nodectl"`},
		{"GET", "/state", "X-Requested-With", "nodectl-ui", `Session realm="nodectl"`},
		{"GET", PathWhoami, "X-Requested-With", "nodectl-ui", `Session realm="nodectl"`},
		{"GET", "/v2/events", "Sec-Fetch-Mode", "cors", `Session realm="nodectl"`},
		{"GET", "/state", "Sec-Fetch-Mode", "same-origin", `Session realm="nodectl"`},
	} {
		req := httptest.NewRequest(c.method, c.path, nil)
		if c.header != "" {
			req.Header.Set(c.header, c.value)
		}
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") != c.want {
			t.Errorf("%s %s (%s: %q): %d %q, want 401 %q", c.method, c.path, c.header, c.value, rec.Code, rec.Header().Get("WWW-Authenticate"), c.want)
		}
	}
}

// TestAllRoleCertificateSpeaksAgentProtocol: a --role=all node's
// certificate (roles master and agent) is a superuser that its agent uses
// for the agent protocol; a master-only certificate is not an agent.
func TestAllRoleCertificateSpeaksAgentProtocol(t *testing.T) {
	g := New(Config{})
	all := Principal{Name: "nodectl-master", Kind: KindCertificate, Superuser: true, Node: true}
	master := Principal{Name: "nodectl-master", Kind: KindCertificate, Superuser: true}
	if !g.Allowed(all, AgentProtocol, "") || !g.Allowed(all, ManageCluster, "") {
		t.Errorf("a master+agent certificate: agent protocol %v, manage_cluster %v; want both", g.Allowed(all, AgentProtocol, ""), g.Allowed(all, ManageCluster, ""))
	}
	if g.Allowed(master, AgentProtocol, "") {
		t.Errorf("a master-only certificate may speak the agent protocol")
	}
}
