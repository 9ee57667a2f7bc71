package cluster

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"nodectl/cluster/pki"
)

// The join endpoints refuse bad input with 4xx and {"message"} before any
// token is looked at; the tokens that can be judged without etcd
// (malformed, another CA) are refused with their reason.
func TestJoinHandlerValidation(t *testing.T) {
	a, _, err := pki.InitAuthority(pki.Paths{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	other, _, _ := pki.InitAuthority(pki.Paths{Dir: t.TempDir()})
	// No etcd: every case below must be decided before the store is used.
	j, err := NewJoin(JoinConfig{Authority: a, Tokens: pki.NewTokens(nil, a.Hash()), URL: "https://127.0.0.1:5050"})
	if err != nil {
		t.Fatal(err)
	}
	h := j.Handler()
	key, _ := pki.NewKey()
	csr, _ := pki.NewCSR(key, "n")
	foreignTok := pki.Token{CAHash: other.Hash(), ID: strings.Repeat("a", 16), Secret: strings.Repeat("b", 32)}.String()
	ok := pki.JoinRequest{Token: foreignTok, CSR: string(csr), Role: "agent", Hostname: "n", IPs: []string{"127.0.0.5"}}
	for _, c := range []struct {
		name   string
		body   string
		mod    func(*pki.JoinRequest)
		code   int
		reason string
		msg    string
	}{
		{name: "not JSON", body: "{", code: 400, msg: "malformed JSON"},
		{name: "role", mod: func(r *pki.JoinRequest) { r.Role = "boss" }, code: 400, msg: "want master, agent or all"},
		{name: "hostname", mod: func(r *pki.JoinRequest) { r.Hostname = "" }, code: 400, msg: "hostname is required"},
		{name: "ip", mod: func(r *pki.JoinRequest) { r.IPs = []string{"10.0.0.300"} }, code: 400, msg: "not an IP address"},
		{name: "csr", mod: func(r *pki.JoinRequest) { r.CSR = "nope" }, code: 400, msg: "bad certificate request"},
		{name: "malformed token", mod: func(r *pki.JoinRequest) { r.Token = "K10abc::x" }, code: 400, reason: "malformed", msg: "malformed"},
		{name: "other CA", code: 403, reason: "wrong_ca", msg: "another cluster CA"},
	} {
		body := c.body
		if body == "" {
			req := ok
			if c.mod != nil {
				c.mod(&req)
			}
			b, _ := json.Marshal(req)
			body = string(b)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", pki.PathJoin, strings.NewReader(body)))
		var e pki.ErrorBody
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != c.code || e.Reason != c.reason || !strings.Contains(e.Message, c.msg) {
			t.Errorf("%s: %d %s; want %d reason %q message with %q", c.name, rec.Code, rec.Body, c.code, c.reason, c.msg)
		}
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", pki.PathCACerts, nil))
	if c, err := pki.ParseCert(rec.Body.Bytes()); rec.Code != 200 || err != nil || pki.CAHash(c) != a.Hash() {
		t.Errorf("GET /cacerts: %d %v", rec.Code, err)
	}
	// Admin and node endpoints without a client certificate.
	for _, r := range []*http.Request{
		httptest.NewRequest("GET", pki.PathTokens, nil),
		httptest.NewRequest("POST", pki.PathTokens, strings.NewReader(`{"role":"agent"}`)),
		httptest.NewRequest("DELETE", pki.PathTokens+"/0123456789abcdef", nil),
		httptest.NewRequest("POST", pki.PathRenew, strings.NewReader(`{}`)),
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), `"message"`) {
			t.Errorf("%s %s without certificate: %d %s", r.Method, r.URL.Path, rec.Code, rec.Body)
		}
	}
	if _, err := NewJoin(JoinConfig{Authority: a, Tokens: pki.NewTokens(nil, a.Hash()), URL: "http://x"}); err == nil {
		t.Error("NewJoin took a plain http URL")
	}
}
