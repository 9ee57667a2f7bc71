package cluster

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
)

// flood accepts every offer the framework gets with as many tasks of
// cpus:1;mem:1024 as fit, for rounds allocation rounds, and returns how
// many it launched. Time moves past the default refusal between rounds.
func (f *fwClient) flood(prefix string, rounds int) int {
	f.h.t.Helper()
	n := 0
	for range rounds {
		for _, o := range f.offers() {
			fit := int(min(o.Resources.Scalar("cpus"), o.Resources.Scalar("mem")/1024))
			var tasks []api.TaskInfo
			for range fit {
				tasks = append(tasks, mkTask(fmt.Sprintf("%s-%d", prefix, n), "cpus:1;mem:1024"))
				n++
			}
			f.launch(o, tasks...)
		}
		f.h.now = f.h.now.Add(6 * time.Second)
	}
	return n
}

// operator sends an operator API call and decodes the answer.
func (h *harness) operator(body string) (int, map[string]any) {
	h.t.Helper()
	code, raw := h.serve("POST", "/api/v1", body)
	var out map[string]any
	_ = json.Unmarshal([]byte(raw), &out)
	if out == nil {
		out = map[string]any{"raw": raw}
	}
	return code, out
}

// roleHeld is what the role's frameworks hold in cpus and mem, offered or
// used, from /roles.
func (h *harness) roleHeld(role string) (cpus, mem float64) {
	h.t.Helper()
	code, body := h.serve("GET", "/roles", "")
	if code != 200 {
		h.t.Fatalf("GET /roles: %d %s", code, body)
	}
	var out struct {
		Roles []struct {
			Name      string             `json:"name"`
			Resources map[string]any     `json:"resources"`
			Quota     map[string]any     `json:"quota"`
			Allocated map[string]float64 `json:"-"`
		} `json:"roles"`
	}
	must(h.t, json.Unmarshal([]byte(body), &out))
	for _, r := range out.Roles {
		if r.Name == role {
			return r.Resources["cpus"].(float64), r.Resources["mem"].(float64)
		}
	}
	return 0, 0
}

// A role with a guarantee gets it while another role floods the cluster;
// a role with a limit never holds more than it.
func TestQuotaGuaranteeAndLimitWithFlood(t *testing.T) {
	h := newHarness(t)
	for i := range 4 {
		h.agent(fmt.Sprintf("h%d", i), "cpus:4;mem:4096;ports:[31000-31009]")
	}
	code, out := h.operator(`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[
		{"role":"a","guarantees":{"cpus":{"value":6},"mem":{"value":6144}}},
		{"role":"c","limits":{"cpus":{"value":3},"mem":{"value":3072}}}]}}`)
	if code != 200 {
		t.Fatalf("UPDATE_QUOTA: %d %v", code, out)
	}
	// c floods first: its limit stops it at 3 tasks.
	fc := h.subscribe(api.FrameworkInfo{User: "u", Role: "c"})
	if nc := fc.flood("c", 3); nc != 3 {
		t.Errorf("c launched %d tasks of 1 cpu; its limit is 3", nc)
	}
	// b floods: it gets all but a's guarantee and c's share.
	fb := h.subscribe(api.FrameworkInfo{User: "u", Role: "b"})
	if nb := fb.flood("b", 3); nb != 16-6-3 {
		t.Errorf("b launched %d tasks of 1 cpu; want %d: all but a's guarantee of 6 and c's 3", nb, 16-6-3)
	}
	if cpus, _ := h.roleHeld("c"); cpus > 3 {
		t.Errorf("/roles: c holds %v cpus, above its limit", cpus)
	}
	// a comes last and still gets its guarantee.
	fa := h.subscribe(api.FrameworkInfo{User: "u", Role: "a"})
	if na := fa.flood("a", 2); na != 6 {
		t.Errorf("a launched %d tasks of 1 cpu; its guarantee is 6", na)
	}
	if cpus, mem := h.roleHeld("a"); cpus < 6 || mem < 6144 {
		t.Errorf("/roles: a holds cpus %v mem %v, below its guarantee", cpus, mem)
	}
	// GET_ROLES shows weight, quota and consumption.
	code, out = h.operator(`{"type":"GET_ROLES"}`)
	if code != 200 || !strings.Contains(fmt.Sprint(out), "guarantees:map[cpus:map[value:6]") {
		t.Errorf("GET_ROLES: %d %v", code, out)
	}
}

// Quota validation answers 400 with Mesos' reasons; force bypasses the
// capacity and consumption checks; the legacy calls and v0 endpoints work.
func TestQuotaValidationAndLegacy(t *testing.T) {
	h := newHarness(t)
	h.agent("h0", "cpus:4;mem:4096")
	for _, c := range []struct{ body, want string }{
		{`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"a","guarantees":{"cpus":{"value":3}},"limits":{"cpus":{"value":2}}}]}}`, "above its limit"},
		{`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"a","guarantees":{"cpus":{"value":8}}}]}}`, "exceed cluster capacity"},
		{`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"a b","limits":{"cpus":{"value":1}}}]}}`, "role 'a b'"},
		{`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"a","limits":{"cpus":{"value":-1}}}]}}`, "negative"},
		{`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"p","guarantees":{"cpus":{"value":1}}},{"role":"p/c","guarantees":{"cpus":{"value":2}}}]}}`, "sum of its children"},
		{`{"type":"UPDATE_QUOTA"}`, "'update_quota' is missing"},
		{`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[],"bogus":1}}`, "bogus"},
		{`{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"role":"a","weight":0}]}}`, "weights must be positive"},
		{`{"type":"REMOVE_QUOTA","remove_quota":{"role":"a"}}`, "has no quota set"},
	} {
		if code, out := h.operator(c.body); code != 400 || !strings.Contains(fmt.Sprint(out), c.want) {
			t.Errorf("%s: %d %v, want 400 %q", c.body, code, out, c.want)
		}
	}
	if code, out := h.operator(`{"type":"UPDATE_QUOTA","update_quota":{"force":true,"quota_configs":[{"role":"a","guarantees":{"cpus":{"value":8}}}]}}`); code != 200 {
		t.Errorf("forced overcommit: %d %v", code, out)
	}
	h.restart() // the quota is in the registry
	if code, out := h.operator(`{"type":"GET_QUOTA"}`); code != 200 || !strings.Contains(fmt.Sprint(out), "role:a") {
		t.Errorf("GET_QUOTA after a leader change: %d %v", code, out)
	}
	h.reregister(h.agentID("h0"), "h0", "cpus:4;mem:4096")
	if code, out := h.operator(`{"type":"REMOVE_QUOTA","remove_quota":{"role":"a"}}`); code != 200 {
		t.Errorf("REMOVE_QUOTA: %d %v", code, out)
	}
	// A limit below what the role uses needs force.
	fw := h.subscribe(api.FrameworkInfo{User: "u", Role: "d"})
	fw.launch(fw.offer(), mkTask("t1", "cpus:2;mem:512"))
	if code, out := h.operator(`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"d","limits":{"cpus":{"value":1}}}]}}`); code != 400 || !strings.Contains(fmt.Sprint(out), "already consuming cpus:2") {
		t.Errorf("limit below consumption: %d %v", code, out)
	}
	// Legacy POST /quota sets guarantee and limit; a second one is refused.
	if code, body := h.serve("POST", "/quota", `{"role":"e","guarantee":[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}],"force":true}`); code != 200 {
		t.Fatalf("POST /quota: %d %s", code, body)
	}
	if code, body := h.serve("POST", "/quota", `{"role":"e","guarantee":[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}]}`); code != 400 || !strings.Contains(body, "already has quota") {
		t.Errorf("second POST /quota: %d %s", code, body)
	}
	code, body := h.serve("GET", "/quota", "")
	if code != 200 || !strings.Contains(body, `{"role":"e","guarantees":{"cpus":{"value":1}},"limits":{"cpus":{"value":1}}}`) || !strings.Contains(body, `"infos":[`) {
		t.Errorf("GET /quota: %d %s", code, body)
	}
	if code, body := h.serve("DELETE", "/quota/e", ""); code != 200 {
		t.Errorf("DELETE /quota/e: %d %s", code, body)
	}
	if _, body := h.serve("GET", "/quota", ""); strings.Contains(body, `"role":"e"`) {
		t.Errorf("quota of e still there: %s", body)
	}
	if code, out := h.operator(`{"type":"SET_QUOTA","set_quota":{"quota_request":{"role":"f","guarantee":[{"name":"mem","type":"SCALAR","scalar":{"value":512}}]}}}`); code != 200 {
		t.Errorf("SET_QUOTA: %d %v", code, out)
	}
	if code, out := h.operator(`{"type":"GET_QUOTA"}`); code != 200 || !strings.Contains(fmt.Sprint(out), "role:f") {
		t.Errorf("GET_QUOTA: %d %v", code, out)
	}
	snap := h.m.Metrics().Snapshot()
	if snap["allocator/mesos/quota/roles/f/resources/mem/guarantee"] != 512 || snap["allocator/mesos/quota/roles/f/resources/mem/limit"] != 512 {
		t.Errorf("quota metrics of f: %v", snap)
	}
	mfs, err := h.m.Metrics().Registry.Gather()
	must(t, err)
	found := false
	for _, mf := range mfs {
		found = found || mf.GetName() == "nodectl_allocator_mesos_quota_limit" && len(mf.GetMetric()) > 0
	}
	if !found {
		t.Error("Prometheus has no nodectl_allocator_mesos_quota_limit")
	}
}

// Weights: --weights at first, then the registry's once set; the DRF
// allocator honours them.
func TestWeights(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Roles.Weights = map[string]float64{"heavy": 3} })
	if code, body := h.serve("GET", "/weights", ""); code != 200 || body != `[{"role":"heavy","weight":3}]`+"\n" {
		t.Errorf("GET /weights: %d %q", code, body)
	}
	for i := range 8 {
		h.agent(fmt.Sprintf("h%d", i), "cpus:1;mem:1024")
	}
	fh := h.subscribe(api.FrameworkInfo{User: "u", Role: "heavy"})
	fl := h.subscribe(api.FrameworkInfo{User: "u", Role: "light"})
	h.m.allocate()
	nh, nl := len(fh.offers()), len(fl.offers())
	if nh != 6 || nl != 2 {
		t.Errorf("weights 3:1 over 8 agents: heavy %d, light %d offers; want 6 and 2", nh, nl)
	}
	if code, body := h.serve("PUT", "/weights", `[{"role":"heavy","weight":1},{"role":"light","weight":2.5}]`); code != 200 {
		t.Fatalf("PUT /weights: %d %s", code, body)
	}
	h.restart(func(c *Config) { c.Roles.Weights = map[string]float64{"heavy": 3} })
	code, out := h.operator(`{"type":"GET_WEIGHTS"}`)
	if got := fmt.Sprint(out["get_weights"]); code != 200 || got != "map[weight_infos:[map[role:light weight:2.5]]]" {
		t.Errorf("GET_WEIGHTS after a leader change: %d %s (the registry's weights win over --weights)", code, got)
	}
}

// --roles: frameworks may subscribe only in the listed roles (and "*");
// weights and quota only for them.
func TestRoleWhitelist(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Roles.Whitelist = []string{"a", "b"} })
	_, err := h.m.Subscribe(SubscribeRequest{Info: api.FrameworkInfo{User: "u", Name: "x", Role: "x"}, Sink: NewEventQueue()})
	if err == nil || !strings.Contains(err.Error(), "roles { x } are not present in the master's --roles (a,b)") {
		t.Errorf("subscribe in role x: %v", err)
	}
	h.subscribe(api.FrameworkInfo{User: "u", Role: "a"})
	h.subscribe(api.FrameworkInfo{User: "u"}) // "*"
	if code, out := h.operator(`{"type":"UPDATE_WEIGHTS","update_weights":{"weight_infos":[{"role":"x","weight":2}]}}`); code != 400 || !strings.Contains(fmt.Sprint(out), "not on the master's --roles") {
		t.Errorf("weight for x: %d %v", code, out)
	}
	if _, err := newMaster(Config{Port: 1, Roles: RolesConfig{Whitelist: []string{"a"}, Weights: map[string]float64{"z": 2}}}); err == nil || !strings.Contains(err.Error(), "z is not a role of --roles") {
		t.Errorf("--weights outside --roles: %v", err)
	}
}

// --whitelist: only the listed agents are offered; the file is re-read.
func TestAgentWhitelist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "whitelist")
	must(t, os.WriteFile(path, []byte("h1\n"), 0o644))
	h := newHarness(t, func(c *Config) { c.Roles.AgentWhitelist = "file://" + path })
	h.agent("h1", "cpus:1;mem:1024")
	h.agent("h2", "cpus:1;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{User: "u"})
	if os := fw.offers(); len(os) != 1 || os[0].Hostname != "h1" {
		t.Fatalf("offers with h1 listed: %v", os)
	}
	must(t, os.WriteFile(path, []byte("h1\nH2\n"), 0o644))
	h.now = h.now.Add(whitelistInterval)
	if os := fw.offers(); len(os) != 1 || os[0].Hostname != "h2" {
		t.Fatalf("offers once h2 is listed too: %v", os)
	}
}

// The changing calls need update_quota / update_weight on their roles.
func TestQuotaACLs(t *testing.T) {
	acls, err := auth.ParseACLs(`{"permissive": false,
		"get_endpoints": [{"principals": {"type": "ANY"}, "paths": {"type": "ANY"}}],
		"update_quota": [{"principals": {"values": ["ops"]}, "roles": {"values": ["a"]}}],
		"update_weight": [{"principals": {"values": ["ops"]}, "roles": {"values": ["a"]}}]}`)
	must(t, err)
	h := newHarness(t, func(c *Config) { c.Guard = auth.New(auth.Config{ACLs: acls}) })
	h.agent("h0", "cpus:4;mem:4096")
	as := func(who, method, path, body string) (int, string) {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req = req.WithContext(auth.WithPrincipal(req.Context(), auth.Principal{Name: who, Kind: auth.KindBasic}))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.m.routes().ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	quota := func(role string) string {
		return `{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"` + role + `","limits":{"cpus":{"value":1}}}]}}`
	}
	if code, body := as("ops", "POST", "/api/v1", quota("a")); code != 200 {
		t.Errorf("ops sets a's quota: %d %s", code, body)
	}
	if code, body := as("ops", "POST", "/api/v1", quota("b")); code != 403 || !strings.Contains(body, "update_quota") {
		t.Errorf("ops sets b's quota: %d %s", code, body)
	}
	if code, body := as("dev", "PUT", "/weights", `[{"role":"a","weight":2}]`); code != 403 {
		t.Errorf("dev sets a weight: %d %s", code, body)
	}
	if code, body := as("ops", "PUT", "/weights", `[{"role":"a","weight":2}]`); code != 200 {
		t.Errorf("ops sets a's weight: %d %s", code, body)
	}
	if code, body := as("dev", "DELETE", "/quota/a", ""); code != 403 {
		t.Errorf("dev removes a's quota: %d %s", code, body)
	}
	if code, body := as("dev", "GET", "/quota", ""); code != 200 || !strings.Contains(body, `"role":"a"`) {
		t.Errorf("dev reads /quota: %d %s", code, body)
	}
}

// agentID is the id of the agent on host.
func (h *harness) agentID(host string) string {
	h.t.Helper()
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	for id, a := range h.m.agents {
		if a.Info.Hostname == host {
			return id
		}
	}
	h.t.Fatalf("no agent on %s", host)
	return ""
}

// After a leader change with quota set, no offers are made until 80% of
// the recovered agents are back (or 10 minutes pass), as in Mesos: tasks
// on agents not back yet count against limits.
func TestQuotaRecoveryPause(t *testing.T) {
	h := newHarness(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, h.agent(fmt.Sprintf("h%d", i), "cpus:1;mem:1024"))
	}
	if code, out := h.operator(`{"type":"UPDATE_QUOTA","update_quota":{"quota_configs":[{"role":"c","limits":{"cpus":{"value":2}}}]}}`); code != 200 {
		t.Fatalf("UPDATE_QUOTA: %d %v", code, out)
	}
	h.restart()
	fw := h.subscribe(api.FrameworkInfo{User: "u", Role: "c"})
	for i := range 3 {
		h.reregister(ids[i], fmt.Sprintf("h%d", i), "cpus:1;mem:1024")
	}
	if os := fw.offers(); len(os) != 0 {
		t.Fatalf("3 of 5 agents back: %d offers, want none yet", len(os))
	}
	h.reregister(ids[3], "h3", "cpus:1;mem:1024")
	cpus := 0.0
	for _, o := range fw.offers() {
		cpus += o.Resources.Scalar("cpus")
	}
	if cpus != 2 {
		t.Fatalf("4 of 5 agents back: offers of %v cpus, want 2 (c's limit)", cpus)
	}
}
