package apps

import (
	"strings"
	"testing"
)

// A pod container without resources gets Marathon's defaults (cpus 1, mem
// 128), one naming only some gets the defaults of the rest, and an
// explicit 0 is still refused.
func TestPodResourceDefaults(t *testing.T) {
	h := newHarness(t)
	body := `{"id":"/dflt","scaling":{"kind":"fixed","instances":0},"containers":[
	  {"name":"none","exec":{"command":{"shell":"sleep 1"}}},
	  {"name":"some","exec":{"command":{"shell":"sleep 1"}},"resources":{"cpus":0.2}}]}`
	if code := h.do("POST", "/v2/pods", body, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	var p Pod
	if code := h.do("GET", "/v2/pods/dflt", "", &p); code != 200 || len(p.Containers) != 2 {
		t.Fatalf("get: %d %+v", code, p)
	}
	if r := p.Containers[0].Resources; r.Cpus != 1 || r.Mem != 128 {
		t.Errorf("no resources: %+v, want cpus 1 mem 128", r)
	}
	if r := p.Containers[1].Resources; r.Cpus != 0.2 || r.Mem != 128 {
		t.Errorf("cpus only: %+v, want cpus 0.2 mem 128", r)
	}
	var out map[string]any
	code := h.do("POST", "/v2/pods", `{"id":"/zero","containers":[{"name":"c","exec":{"command":{"shell":"sleep 1"}},"resources":{"cpus":0.1,"mem":0}}]}`, &out)
	if s := toJSON(t, out); code != 422 || !strings.Contains(s, "/containers/0/resources") {
		t.Errorf("mem 0: %d %s, want 422 naming /containers/0/resources", code, s)
	}
}
