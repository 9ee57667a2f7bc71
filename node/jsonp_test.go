package node

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRefuseJSONP(t *testing.T) {
	t.Parallel()
	h := refuseJSONP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"ok":true}`)) }))
	for _, c := range []struct {
		url  string
		code int
	}{{"/state", 200}, {"/state?jsonp=cb", 400}, {"/state.json?jsonp=", 400}, {"/state?jsonpx=1", 200}} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", c.url, nil))
		if rec.Code != c.code {
			t.Errorf("%s: %d, want %d", c.url, rec.Code, c.code)
		}
		if c.code == 400 && !strings.Contains(rec.Body.String(), "jsonp") {
			t.Errorf("%s: refusal does not name the parameter: %s", c.url, rec.Body)
		}
	}
}
