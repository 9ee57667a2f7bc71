package cluster

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
)

// serve sends one request to the master's routes and returns the answer.
func (h *harness) serve(method, path, body string) (int, string) {
	h.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.m.routes().ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// window is a schedule window JSON for hosts, starting at start, 1h long.
func window(start time.Time, hosts ...string) string {
	var ids []string
	for _, host := range hosts {
		ids = append(ids, `{"hostname":"`+host+`"}`)
	}
	b, _ := json.Marshal(start.UnixNano())
	return `{"machine_ids":[` + strings.Join(ids, ",") + `],"unavailability":{"start":{"nanoseconds":` + string(b) + `},"duration":{"nanoseconds":3600000000000}}}`
}

func schedule(windows ...string) string { return `{"windows":[` + strings.Join(windows, ",") + `]}` }

func (h *harness) maintStatus() api.MaintenanceStatus {
	h.t.Helper()
	code, body := h.serve("GET", "/maintenance/status", "")
	var st api.MaintenanceStatus
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil {
		h.t.Fatalf("GET /maintenance/status: %d %s", code, body)
	}
	return st
}

func statusNames(st api.MaintenanceStatus) (draining, down []string) {
	for _, d := range st.DrainingMachines {
		draining = append(draining, d.ID.String())
	}
	for _, id := range st.DownMachines {
		down = append(down, id.String())
	}
	return draining, down
}

// Mesos' rules for schedules and machine lists: a window has machines, a
// machine has a hostname or a valid IP, is in at most one window; an
// unavailability has a start and a non-negative duration; down only what
// is scheduled and draining, up only what is down; a down machine stays
// in the schedule. Unknown fields are refused, never dropped.
func TestMaintenanceScheduleValidation(t *testing.T) {
	h := newHarness(t)
	start := `"unavailability":{"start":{"nanoseconds":1}}`
	for _, c := range []struct{ body, want string }{
		{`{"windows":[{"machine_ids":[],` + start + `}]}`, "list of machines in the maintenance window is empty"},
		{`{"windows":[{"machine_ids":[{}],` + start + `}]}`, "both 'hostname' and 'ip' for a machine are empty"},
		{`{"windows":[{"machine_ids":[{"ip":"300.1.1.1"}],` + start + `}]}`, "is not an IP address"},
		{`{"windows":[{"machine_ids":[{"hostname":"a"},{"hostname":"A"}],` + start + `}]}`, "machine 'a' appears more than once in the list"},
		{schedule(window(t0, "a"), window(t0, "b", "a")), "machine 'a' appears more than once in the schedule"},
		{`{"windows":[{"machine_ids":[{"hostname":"a"}],"unavailability":{}}]}`, "unavailability has no 'start'"},
		{`{"windows":[{"machine_ids":[{"hostname":"a"}],"unavailability":{"start":{"nanoseconds":1},"duration":{"nanoseconds":-1}}}]}`, "duration is negative"},
		{`{"windows":[],"bogus":1}`, "bogus"},
	} {
		if code, body := h.serve("POST", "/maintenance/schedule", c.body); code != 400 || !strings.Contains(body, c.want) {
			t.Errorf("schedule %s: %d %s, want 400 %q", c.body, code, body, c.want)
		}
	}
	if code, body := h.serve("POST", "/machine/down", `[{"hostname":"a"}]`); code != 400 || !strings.Contains(body, "machine 'a' is not part of a maintenance schedule") {
		t.Errorf("down unscheduled: %d %s", code, body)
	}
	if code, body := h.serve("POST", "/master/maintenance/schedule", schedule(window(t0, "A", "b"))); code != 200 {
		t.Fatalf("schedule: %d %s", code, body)
	}
	code, body := h.serve("GET", "/master/maintenance/schedule", "")
	var got api.MaintenanceSchedule
	if code != 200 || json.Unmarshal([]byte(body), &got) != nil || len(got.Windows) != 1 || got.Windows[0].MachineIDs[0].Hostname != "a" ||
		got.Windows[0].Unavailability.Start.Nanoseconds != t0.UnixNano() || got.Windows[0].Unavailability.Duration.Nanoseconds != int64(time.Hour) {
		t.Errorf("GET schedule: %d %s", code, body)
	}
	for _, c := range []struct{ path, body, want string }{
		{"/machine/up", `[{"hostname":"a"}]`, "machine 'a' is not in DOWN mode and cannot be brought up"},
		{"/machine/down", `[]`, "list of machines is empty"},
		{"/machine/down", `[{"hostname":"a"},{"hostname":"a"}]`, "appears more than once"},
		{"/machine/down", `[{"hostname":"a","rack":"r1"}]`, "rack"},
	} {
		if code, body := h.serve("POST", c.path, c.body); code != 400 || !strings.Contains(body, c.want) {
			t.Errorf("%s %s: %d %s, want 400 %q", c.path, c.body, code, body, c.want)
		}
	}
	if code, body := h.serve("POST", "/machine/down", `[{"hostname":"A"}]`); code != 200 {
		t.Fatalf("down: %d %s", code, body)
	}
	if code, body := h.serve("POST", "/machine/down", `[{"hostname":"a"}]`); code != 400 || !strings.Contains(body, "not in DRAINING mode") {
		t.Errorf("down twice: %d %s", code, body)
	}
	if code, body := h.serve("POST", "/maintenance/schedule", schedule(window(t0, "b"))); code != 400 || !strings.Contains(body, "machine 'a' is down and cannot be removed") {
		t.Errorf("schedule without the down machine: %d %s", code, body)
	}
	draining, down := statusNames(h.maintStatus())
	wantStrings(t, "draining", draining, []string{"b"})
	wantStrings(t, "down", down, []string{"a"})
	if code, body := h.serve("POST", "/machine/up", `[{"hostname":"a"}]`); code != 200 {
		t.Fatalf("up: %d %s", code, body)
	}
	draining, down = statusNames(h.maintStatus())
	wantStrings(t, "draining after up", draining, []string{"b"})
	wantStrings(t, "down after up", down, nil)
	if code, body := h.serve("POST", "/machine/down", `[{"hostname":"a"}]`); code != 400 || !strings.Contains(body, "not part of a maintenance schedule") {
		t.Errorf("down after up: %d %s", code, body)
	}
}

// Offers of a scheduled machine's agents carry its unavailability;
// others carry none. A schedule change rescinds the outstanding offers
// whose unavailability it changes.
func TestMaintenanceOffersCarryUnavailability(t *testing.T) {
	h := newHarness(t)
	a1 := h.agent("a1", "cpus:1;mem:128")
	h.agent("a2", "cpus:1;mem:128")
	fw := h.subscribe(api.FrameworkInfo{User: "root"})
	for _, o := range fw.offers() {
		if o.Unavailability != nil {
			t.Errorf("offer of %s has unavailability before any schedule", o.Hostname)
		}
	}
	start := t0.Add(time.Hour)
	if code, body := h.serve("POST", "/maintenance/schedule", schedule(window(start, "a1"))); code != 200 {
		t.Fatalf("schedule: %d %s", code, body)
	}
	var rescinded int
	for _, e := range fw.events() {
		if e.Type == api.EventRescind {
			rescinded++
		}
	}
	if rescinded != 1 {
		t.Errorf("%d offers rescinded, want a1's", rescinded)
	}
	offers := fw.offers()
	if len(offers) != 1 || offers[0].AgentID.Value != a1 {
		t.Fatalf("offers after the schedule: %v", offers)
	}
	u := offers[0].Unavailability
	if u == nil || u.Start.Nanoseconds != start.UnixNano() || u.Duration == nil || u.Duration.Nanoseconds != int64(time.Hour) {
		t.Errorf("a1's offer unavailability %+v", u)
	}
	if err := h.m.Decline(fw.sub, api.DeclineCall{OfferIDs: []api.ID{offers[0].ID}}); err != nil {
		t.Fatal(err)
	}
	// Same schedule again: nothing to rescind.
	if code, body := h.serve("POST", "/maintenance/schedule", schedule(window(start, "a1"))); code != 200 {
		t.Fatalf("schedule: %d %s", code, body)
	}
	for _, e := range fw.events() {
		if e.Type == api.EventRescind {
			t.Errorf("rescind on an unchanged schedule")
		}
	}
}

// machine/down: the machine's agents are removed and fenced, their tasks
// end (TASK_GONE_BY_OPERATOR, TASK_LOST if not partition-aware), other
// agents are untouched; the agent's old id is refused with 410, and any
// registration from the machine with 403 until machine/up. After up the
// machine is out of the schedule and registers as a new agent.
func TestMachineDownUp(t *testing.T) {
	h := newHarness(t)
	a1 := h.agent("a1", "cpus:2;mem:1024")
	a2 := h.agent("a2", "cpus:2;mem:1024")
	plain := h.subscribe(api.FrameworkInfo{Name: "plain"})
	for _, o := range plain.offers() {
		id := map[string]string{a1: "p1", a2: "p2"}[o.AgentID.Value]
		plain.launch(o, mkTask(id, "cpus:0.1;mem:32"))
		h.report(o.AgentID.Value, plain.id(), id, api.TaskRunning)
	}
	for _, st := range plain.updates() {
		plain.ack(st)
	}
	pa := h.subscribe(api.FrameworkInfo{Name: "pa", Capabilities: []api.Capability{{Type: api.CapabilityPartitionAware}}})
	h.advance(5 * time.Second)
	pa.running(a1, "q1")

	if code, body := h.serve("POST", "/maintenance/schedule", schedule(window(t0, "a1"))); code != 200 {
		t.Fatalf("schedule: %d %s", code, body)
	}
	if code, body := h.serve("POST", "/master/machine/down", `[{"hostname":"a1"}]`); code != 200 {
		t.Fatalf("down: %d %s", code, body)
	}
	if st := plain.update(); st.TaskID.Value != "p1" || st.State != api.TaskLost || st.Reason != api.ReasonAgentRemoved {
		t.Errorf("plain update %s", fmtStatus(st))
	}
	if st := pa.update(); st.TaskID.Value != "q1" || st.State != api.TaskGoneByOperator {
		t.Errorf("pa update %s", fmtStatus(st))
	}
	if s := h.taskState(plain.id(), "p2"); s != api.TaskRunning {
		t.Errorf("p2 on a2: %s", s)
	}
	if _, ok := h.registryEntry(a1); ok {
		t.Error("a1 still in the registry's agents")
	}
	wantStrings(t, "gone list", h.st.keys(keyGonePrefix), []string{keyGonePrefix + a1})
	h.m.mu.Lock()
	_, known := h.m.agents[a1]
	h.m.mu.Unlock()
	if known {
		t.Error("a1 still among the master's agents")
	}

	reg := func(id string) error {
		_, err := h.m.register(api.RegisterRequest{Agent: api.AgentInfo{ID: id, Hostname: "A1", IP: "10.0.0.1", Port: 5051}})
		return err
	}
	if err := reg(a1); !errors.Is(err, ErrAgentGone) {
		t.Errorf("re-register with the old id: %v", err)
	}
	if err := reg(""); !errors.Is(err, ErrMachineDown) || errStatus(err) != http.StatusForbidden {
		t.Errorf("register anew while down: %v", err)
	}
	h.wantMetrics(map[string]float64{"master/slave_maintenance_refusals": 1})
	// Mesos: the down machine's agents stay refused, whatever their id.
	if code, body := h.serve("POST", "/machine/up", `[{"hostname":"a1"}]`); code != 200 {
		t.Fatalf("up: %d %s", code, body)
	}
	if err := reg(""); err != nil {
		t.Errorf("register after up: %v", err)
	}
	code, body := h.serve("GET", "/maintenance/schedule", "")
	if code != 200 || strings.TrimSpace(body) != `{"windows":[]}` {
		t.Errorf("schedule after up: %d %s", code, body)
	}
}

// The schedule and the down machines survive a leader change: the new
// leader serves them, refuses the down machine's agents and offers the
// draining machine's resources with their unavailability.
func TestMaintenancePersistsAcrossLeaderChange(t *testing.T) {
	h := newHarness(t)
	h.agent("a1", "cpus:1;mem:128")
	h.agent("a2", "cpus:1;mem:128")
	if code, body := h.serve("POST", "/maintenance/schedule", schedule(window(t0, "a1"), window(t0.Add(time.Hour), "a2"))); code != 200 {
		t.Fatalf("schedule: %d %s", code, body)
	}
	if code, body := h.serve("POST", "/machine/down", `[{"hostname":"a1"}]`); code != 200 {
		t.Fatalf("down: %d %s", code, body)
	}
	h.restart()
	draining, down := statusNames(h.maintStatus())
	wantStrings(t, "draining", draining, []string{"a2"})
	wantStrings(t, "down", down, []string{"a1"})
	if _, err := h.m.register(api.RegisterRequest{Agent: api.AgentInfo{Hostname: "a1", IP: "10.0.0.1", Port: 5051}}); !errors.Is(err, ErrMachineDown) {
		t.Errorf("a1 registers after the leader change: %v", err)
	}
	a2 := h.agent("a2", "cpus:1;mem:128")
	fw := h.subscribe(api.FrameworkInfo{User: "root"})
	os := fw.offers()
	if len(os) != 1 || os[0].AgentID.Value != a2 || os[0].Unavailability == nil || os[0].Unavailability.Start.Nanoseconds != t0.Add(time.Hour).UnixNano() {
		t.Errorf("offers after the leader change: %+v", os)
	}
}

// The operator API's maintenance calls, in Mesos' shapes.
func TestMaintenanceOperatorCalls(t *testing.T) {
	h := newHarness(t)
	call := func(body string) (int, map[string]any) {
		t.Helper()
		code, out := h.serve("POST", "/api/v1", body)
		var m map[string]any
		if strings.TrimSpace(out) != "" {
			if err := json.Unmarshal([]byte(out), &m); err != nil {
				t.Fatalf("%s: %d %q", body, code, out)
			}
		}
		return code, m
	}
	if code, out := call(`{"type":"UPDATE_MAINTENANCE_SCHEDULE","update_maintenance_schedule":{"schedule":` + schedule(window(t0, "a1", "a2")) + `}}`); code != 200 {
		t.Fatalf("UPDATE_MAINTENANCE_SCHEDULE: %d %v", code, out)
	}
	code, out := call(`{"type":"GET_MAINTENANCE_SCHEDULE"}`)
	ws := out["get_maintenance_schedule"].(map[string]any)["schedule"].(map[string]any)["windows"].([]any)
	if code != 200 || len(ws) != 1 || len(ws[0].(map[string]any)["machine_ids"].([]any)) != 2 {
		t.Errorf("GET_MAINTENANCE_SCHEDULE: %d %v", code, out)
	}
	if code, out := call(`{"type":"START_MAINTENANCE","start_maintenance":{"machines":[{"hostname":"a1"}]}}`); code != 200 {
		t.Fatalf("START_MAINTENANCE: %d %v", code, out)
	}
	code, out = call(`{"type":"GET_MAINTENANCE_STATUS"}`)
	st := out["get_maintenance_status"].(map[string]any)["status"].(map[string]any)
	if code != 200 || len(st["down_machines"].([]any)) != 1 || len(st["draining_machines"].([]any)) != 1 {
		t.Errorf("GET_MAINTENANCE_STATUS: %d %v", code, out)
	}
	if code, out := call(`{"type":"STOP_MAINTENANCE","stop_maintenance":{"machines":[{"hostname":"a2"}]}}`); code != 400 || !strings.Contains(out["message"].(string), "not in DOWN mode") {
		t.Errorf("STOP_MAINTENANCE of a draining machine: %d %v", code, out)
	}
	if code, out := call(`{"type":"START_MAINTENANCE"}`); code != 400 || !strings.Contains(out["message"].(string), "'start_maintenance' is missing") {
		t.Errorf("START_MAINTENANCE without machines: %d %v", code, out)
	}
	if code, out := call(`{"type":"STOP_MAINTENANCE","stop_maintenance":{"machines":[{"hostname":"a1"}]}}`); code != 200 {
		t.Errorf("STOP_MAINTENANCE: %d %v", code, out)
	}
}

// The maintenance ACLs name machines: a principal allowed some machines
// sees only those and may bring only those down; the operator calls check
// the same permissions as the endpoints.
func TestMaintenanceACLs(t *testing.T) {
	acls, err := auth.ParseACLs(`{"permissive": false,
		"get_endpoints": [{"principals": {"type": "ANY"}, "paths": {"type": "ANY"}}],
		"update_maintenance_schedule": [{"principals": {"values": ["admin"]}, "machines": {"type": "ANY"}}],
		"get_maintenance_status": [{"principals": {"values": ["ops"]}, "machines": {"values": ["a1"]}}],
		"start_maintenance": [{"principals": {"values": ["ops"]}, "machines": {"values": ["a1"]}}]}`)
	must(t, err)
	h := newHarness(t, func(c *Config) { c.Guard = auth.New(auth.Config{ACLs: acls}) })
	as := func(who, method, path, body string) (int, string) {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req = req.WithContext(auth.WithPrincipal(req.Context(), auth.Principal{Name: who, Kind: auth.KindBasic}))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.m.routes().ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	if code, body := as("ops", "POST", "/maintenance/schedule", schedule(window(t0, "a1", "a2"))); code != 403 || !strings.Contains(body, "update_maintenance_schedule") {
		t.Errorf("ops updates the schedule: %d %s", code, body)
	}
	if code, body := as("admin", "POST", "/maintenance/schedule", schedule(window(t0, "a1", "a2"))); code != 200 {
		t.Fatalf("admin updates the schedule: %d %s", code, body)
	}
	code, body := as("ops", "GET", "/maintenance/status", "")
	var st api.MaintenanceStatus
	must(t, json.Unmarshal([]byte(body), &st))
	if draining, _ := statusNames(st); code != 200 || len(draining) != 1 || draining[0] != "a1" {
		t.Errorf("ops' status: %d %s", code, body)
	}
	if code, body := as("ops", "POST", "/machine/down", `[{"hostname":"a2"}]`); code != 403 || !strings.Contains(body, "machine 'a2'") {
		t.Errorf("ops brings a2 down: %d %s", code, body)
	}
	if code, body := as("ops", "POST", "/api/v1", `{"type":"START_MAINTENANCE","start_maintenance":{"machines":[{"hostname":"a1"}]}}`); code != 200 {
		t.Errorf("ops brings a1 down through the operator API: %d %s", code, body)
	}
	if code, body := as("ops", "POST", "/api/v1", `{"type":"GET_MAINTENANCE_SCHEDULE"}`); code != 403 {
		t.Errorf("ops reads the schedule through the operator API: %d %s", code, body)
	}
}
