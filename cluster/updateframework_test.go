package cluster

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"nodectl/cluster/api"
)

// UPDATE_FRAMEWORK over HTTP: 200; name, roles, failover_timeout, labels
// and suppressed roles change; offers of a removed role are rescinded
// while its task keeps running; the record in the store, /state and
// GET_FRAMEWORKS show the change; immutable fields and unsupported ones
// are refused naming the field.
func TestUpdateFramework(t *testing.T) {
	h, srv := newHTTPHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024")
	f := subscribeHTTP(t, srv, `{"name":"before","user":"root","principal":"p","roles":["a"],"capabilities":[{"type":"MULTI_ROLE"}],"failover_timeout":60}`)
	h.m.allocate()
	ev := f.next()
	if ev.Type != api.EventOffers || ev.Offers.Offers[0].AllocationInfo.Role != "a" {
		t.Fatalf("first offer %+v", ev)
	}
	o := ev.Offers.Offers[0]
	f.mustCall(`{"type":"ACCEPT","framework_id":{"value":"` + f.id + `"},"accept":{"offer_ids":[{"value":"` + o.ID.Value + `"}],
		"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"t","task_id":{"value":"t1"},"agent_id":{"value":"` + ag + `"},
		"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":0.5}}],"command":{"value":"sleep 100"}}]}}],"filters":{"refuse_seconds":0}}}`)
	h.report(ag, f.id, "t1", api.TaskRunning)
	if ev := f.next(); ev.Type != api.EventUpdate {
		t.Fatalf("event %+v", ev)
	}
	h.m.allocate()
	if ev := f.next(); ev.Type != api.EventOffers || ev.Offers.Offers[0].AllocationInfo.Role != "a" {
		t.Fatalf("second offer %+v", ev)
	} else {
		o = ev.Offers.Offers[0]
	}

	update := func(info string, extra string) *http.Response {
		return f.call(`{"type":"UPDATE_FRAMEWORK","framework_id":{"value":"` + f.id + `"},"update_framework":{"framework_info":` + info + extra + `}}`)
	}
	refused := []struct{ info, extra, want string }{
		{`{"name":"x","user":"other","principal":"p","roles":["a"],"capabilities":[{"type":"MULTI_ROLE"}],"id":{"value":"` + f.id + `"}}`, "", "framework_info.user"},
		{`{"name":"x","user":"root","principal":"q","roles":["a"],"capabilities":[{"type":"MULTI_ROLE"}],"id":{"value":"` + f.id + `"}}`, "", "framework_info.principal"},
		{`{"name":"x","user":"root","principal":"p","checkpoint":true,"roles":["a"],"capabilities":[{"type":"MULTI_ROLE"}],"id":{"value":"` + f.id + `"}}`, "", "framework_info.checkpoint"},
		{`{"name":"x","user":"root","principal":"p","roles":["a"],"capabilities":[{"type":"MULTI_ROLE"}],"id":{"value":"` + f.id + `"}}`, `,"offer_constraints":{"role_constraints":{}}`, "offer_constraints"},
		{`{"name":"x","user":"root","principal":"p","roles":["a"],"capabilities":[{"type":"MULTI_ROLE"}],"id":{"value":"other"}}`, "", "'framework_id' differs"},
		{`{"name":"x","user":"root","principal":"p","roles":["a"],"capabilities":[{"type":"MULTI_ROLE"}],"id":{"value":"` + f.id + `"}}`, `,"suppressed_roles":["zz"]`, `suppressed role "zz"`},
		{`{"name":"","user":"root","principal":"p","roles":["a"],"capabilities":[{"type":"MULTI_ROLE"}],"id":{"value":"` + f.id + `"}}`, "", "framework_info.name"},
	}
	for _, c := range refused {
		resp := update(c.info, c.extra)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), c.want) {
			t.Errorf("update %s%s: %s %q, want 400 naming %s", c.info, c.extra, resp.Status, b, c.want)
		}
	}
	if resp := f.call(`{"type":"UPDATE_FRAMEWORK","framework_id":{"value":"` + f.id + `"}}`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("UPDATE_FRAMEWORK without a body: %s", resp.Status)
	}

	// Role a leaves, b and c come in (c suppressed).
	resp := update(`{"name":"after","user":"root","principal":"p","roles":["b","c"],"capabilities":[{"type":"MULTI_ROLE"},{"type":"PARTITION_AWARE"}],
		"failover_timeout":300,"webui_url":"http://ui","labels":{"labels":[{"key":"k","value":"v"}]},"id":{"value":"`+f.id+`"}}`, `,"suppressed_roles":["c"]`)
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK {
		t.Fatalf("UPDATE_FRAMEWORK: %s %s", resp.Status, b)
	}
	resp.Body.Close()
	if ev := f.next(); ev.Type != api.EventRescind || ev.Rescind.OfferID.Value != o.ID.Value {
		t.Fatalf("after removing role a: %+v, want RESCIND of %s", ev, o.ID.Value)
	}
	if st := h.taskState(f.id, "t1"); st != api.TaskRunning {
		t.Errorf("task of the removed role is %s, want still running", st)
	}
	h.m.allocate()
	if ev := f.next(); ev.Type != api.EventOffers || ev.Offers.Offers[0].AllocationInfo.Role != "b" {
		t.Fatalf("offer after the update %+v, want role b", ev)
	}

	h.m.mu.Lock()
	fw := h.m.frameworks[f.id]
	info, suppressed := fw.info, fw.suppressedRoles
	h.m.mu.Unlock()
	if info.Name != "after" || info.FailoverTimeout != 300 || info.WebuiURL != "http://ui" || !info.HasCapability(api.CapabilityPartitionAware) ||
		info.Labels == nil || len(suppressed) != 1 || suppressed[0] != "c" {
		t.Errorf("framework after update: %+v suppressed %v", info, suppressed)
	}
	h.flush()
	var rec frameworkRecord
	must(t, json.Unmarshal(h.st.data[frameworkPath(f.id)], &rec))
	if rec.Info.Name != "after" || strings.Join(rec.Info.Roles, ",") != "b,c" || rec.Info.FailoverTimeout != 300 {
		t.Errorf("stored record %+v", rec.Info)
	}
	// /state and GET_FRAMEWORKS show it.
	rr := httptest.NewRecorder()
	h.m.Handler().ServeHTTP(rr, httptest.NewRequest("GET", "/state", nil))
	if !strings.Contains(rr.Body.String(), `"name":"after"`) || strings.Contains(rr.Body.String(), `"name":"before"`) {
		t.Errorf("/state after update: %.400s", rr.Body)
	}
	_, out := operatorPost(t, h.m.routes(), "GET_FRAMEWORKS", "application/json")
	b, _ := json.Marshal(out)
	if !strings.Contains(string(b), `"name":"after"`) {
		t.Errorf("GET_FRAMEWORKS after update: %.400s", b)
	}
}

// The Scheduler-interface form, for a framework without HTTP: the new
// failover timeout governs the disconnection.
func TestUpdateFrameworkFailoverTimeout(t *testing.T) {
	h := newHarness(t)
	fw := h.subscribe(api.FrameworkInfo{Name: "x", FailoverTimeout: 0})
	must(t, h.m.UpdateFramework(fw.sub, api.UpdateFrameworkCall{FrameworkInfo: api.FrameworkInfo{ID: &api.ID{Value: fw.id()}, Name: "x", FailoverTimeout: 60}}))
	h.m.Unsubscribe(fw.sub)
	h.m.mu.Lock()
	_, still := h.m.frameworks[fw.id()]
	h.m.mu.Unlock()
	if !still {
		t.Fatal("framework removed on disconnect: the updated failover_timeout (60s) was not used")
	}
}
