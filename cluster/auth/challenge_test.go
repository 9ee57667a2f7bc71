package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestChallengeForUICalls: a 401 carries a Basic challenge, except to the
// web UI's calls (X-Requested-With), which a browser would otherwise
// answer with its own password dialog.
func TestChallengeForUICalls(t *testing.T) {
	g := New(Config{})
	rt := g.NewRouter()
	rt.HandleFunc("GET /state", GetEndpoints, func(w http.ResponseWriter, r *http.Request) {})
	rt.Add(g.Routes()...)
	for _, c := range []struct {
		method, path, body, xrw, want string
	}{
		{"GET", "/state", "", "", `Basic realm="nodectl"`},
		{"GET", "/state", "", "nodectl-ui", `Session realm="nodectl"`},
		{"GET", PathWhoami, "", "nodectl-ui", `Session realm="nodectl"`},
	} {
		req := httptest.NewRequest(c.method, c.path, nil)
		if c.xrw != "" {
			req.Header.Set("X-Requested-With", c.xrw)
		}
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") != c.want {
			t.Errorf("%s %s (X-Requested-With %q): %d %q, want 401 %q", c.method, c.path, c.xrw, rec.Code, rec.Header().Get("WWW-Authenticate"), c.want)
		}
	}
}
