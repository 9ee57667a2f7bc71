package apps

import (
	"fmt"
	"strings"
	"testing"
)

// Versions kept per app are bounded: after N+10 updates the newest N
// remain, the current one included.
func TestVersionsBounded(t *testing.T) {
	h := newHarness(t)
	const n = 5
	h.a.cfg.MaxVersions = n
	if code := h.do("POST", "/v2/apps", `{"id":"/v","cmd":"sleep 1000","instances":0}`, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	for i := range n + 10 {
		var out map[string]any
		if code := h.do("PUT", "/v2/apps/v?force=true", fmt.Sprintf(`{"env":{"I":"%d"}}`, i), &out); code != 200 {
			t.Fatalf("update %d: %d %v", i, code, out)
		}
	}
	var vs struct {
		Versions []string `json:"versions"`
	}
	if code := h.do("GET", "/v2/apps/v/versions", "", &vs); code != 200 {
		t.Fatalf("versions: %d", code)
	}
	if len(vs.Versions) != n {
		t.Fatalf("%d versions kept, want %d: %v", len(vs.Versions), n, vs.Versions)
	}
	if cur := h.app("/v")["version"]; vs.Versions[0] != cur {
		t.Errorf("newest kept version %s, current %v", vs.Versions[0], cur)
	}
}

// A definition over MaxDefinitionBytes is refused with 413 naming the
// limit, and nothing is stored: by body (create, update) or by the merged
// result of a partial update.
func TestDefinitionTooLarge(t *testing.T) {
	h := newHarness(t)
	big := strings.Repeat("x", MaxDefinitionBytes)
	check := func(what string, code int, out map[string]any) {
		t.Helper()
		msg, _ := out["message"].(string)
		if code != 413 || !strings.Contains(msg, fmt.Sprint(MaxDefinitionBytes)) {
			t.Errorf("%s: %d %q, want 413 naming %d bytes", what, code, msg, MaxDefinitionBytes)
		}
	}
	var out map[string]any
	code := h.do("POST", "/v2/apps", `{"id":"/big","cmd":"sleep 1000","labels":{"x":"`+big+`"}}`, &out)
	check("create", code, out)
	if code := h.do("GET", "/v2/apps/big", "", nil); code != 404 {
		t.Errorf("after a refused create: GET %d, want 404", code)
	}
	code = h.do("PUT", "/v2/apps/big", `{"cmd":"sleep 1000","labels":{"x":"`+big+`"}}`, &out)
	check("put", code, out)
	if code := h.do("GET", "/v2/apps/big", "", nil); code != 404 {
		t.Errorf("after a refused put: GET %d, want 404", code)
	}

	// Two halves, each under the limit, merged over it.
	half := strings.Repeat("y", MaxDefinitionBytes/2+1)
	if code := h.do("POST", "/v2/apps", `{"id":"/m","cmd":"sleep 1000","instances":0,"labels":{"a":"`+half+`"}}`, nil); code != 201 {
		t.Fatalf("create /m: %d", code)
	}
	before := h.app("/m")["version"]
	code = h.do("PATCH", "/v2/apps/m?force=true", `{"env":{"B":"`+half+`"}}`, &out)
	check("merged patch", code, out)
	if after := h.app("/m")["version"]; after != before {
		t.Errorf("version %v → %v after a refused patch", before, after)
	}
	var vs struct {
		Versions []string `json:"versions"`
	}
	if h.do("GET", "/v2/apps/m/versions", "", &vs); len(vs.Versions) != 1 {
		t.Errorf("versions %v after a refused patch, want 1", vs.Versions)
	}
}
