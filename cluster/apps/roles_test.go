package apps

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"nodectl/cluster/api"
)

// An app's role defaults to the framework's; a role it may not use and
// acceptedResourceRoles other than "*" and its role are refused with a
// 422 naming the field.
func TestAppRoleDefaultAndRefusals(t *testing.T) {
	h := newHarness(t)
	if code := h.do("POST", "/v2/apps", `{"id": "/r/plain", "cmd": "sleep 1", "instances": 0}`, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if got := h.app("/r/plain")["role"]; got != DefaultRole {
		t.Errorf("role %v, want the framework's %q", got, DefaultRole)
	}
	for _, c := range []struct{ body, path, want string }{
		{`{"id": "/r/other", "cmd": "x", "role": "other"}`, "/role", `role "other" is not valid`},
		{`{"id": "/other", "cmd": "x", "role": "other"}`, "/role", "valid roles are marathon"},
		{`{"id": "/r/pub", "cmd": "x", "acceptedResourceRoles": ["slave_public"]}`, "/acceptedResourceRoles", "can only contain * and marathon"},
		{`{"id": "/r/pub", "cmd": "x", "acceptedResourceRoles": []}`, "/acceptedResourceRoles", "must not be empty"},
		{`{"id": "/r/pub", "cmd": "x", "acceptedResourceRoles": ["*", "*"]}`, "/acceptedResourceRoles", "duplicates"},
	} {
		var out struct {
			Details []Detail `json:"details"`
		}
		if code := h.do("POST", "/v2/apps", c.body, &out); code != 422 {
			t.Errorf("%s: %d, want 422", c.body, code)
			continue
		}
		found := false
		for _, d := range out.Details {
			found = found || d.Path == c.path && strings.Contains(strings.Join(d.Errors, " "), c.want)
		}
		if !found {
			t.Errorf("%s: details %+v, want %s: %q", c.body, out.Details, c.path, c.want)
		}
	}
	// A partial update keeps the role.
	if code := h.do("PATCH", "/v2/apps/r/plain?force=true", `{"acceptedResourceRoles": ["marathon", "*"]}`, nil); code != 200 {
		t.Fatalf("patch: %d", code)
	}
	if got := h.app("/r/plain")["acceptedResourceRoles"]; len(got.([]any)) != 2 {
		t.Errorf("acceptedResourceRoles %v", got)
	}
}

// Placement uses only the offer's resources whose role the app accepts,
// and only offers allocated to the app's role.
func TestAcceptedResourceRolesPlacement(t *testing.T) {
	h := newHarness(t)
	if code := h.do("POST", "/v2/apps", `{"id": "/reserved", "cmd": "sleep 1", "cpus": 0.5, "mem": 64, "portDefinitions": [], "acceptedResourceRoles": ["marathon"]}`, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	h.offerFrom("plain", "cpus:4;mem:4096")
	if n := len(h.fake.launched()); n != 0 {
		t.Fatalf("%d tasks launched on unreserved resources, want none", n)
	}
	h.offerFrom("reserved", "cpus:4;mem:4096;cpus(marathon):1;mem(marathon):256")
	got := h.fake.launched()
	if len(got) != 1 {
		t.Fatalf("%d tasks launched, want 1 on the reserved part", len(got))
	}
	for _, r := range got[0].Resources {
		if r.Role != "marathon" {
			t.Errorf("resource %s in role %q, want marathon", r.Name, r.Role)
		}
	}

	if code := h.do("POST", "/v2/apps", `{"id": "/unreserved", "cmd": "sleep 1", "cpus": 0.5, "mem": 64, "portDefinitions": [], "acceptedResourceRoles": ["*"]}`, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	h.offerFrom("reserved-only", "cpus(marathon):4;mem(marathon):4096")
	if n := len(h.fake.launched()); n != 1 {
		t.Fatalf("%d tasks launched, want the unreserved-only app not on reserved resources", n)
	}
	// An offer allocated to another role is not the app's.
	rs, _ := api.ParseResources("cpus:4;mem:4096")
	o := api.Offer{ID: api.ID{Value: "other-role"}, AgentID: api.ID{Value: "agent-x"}, Hostname: "x", Resources: rs, AllocationInfo: &api.AllocationInfo{Role: "other"}}
	if err := h.a.handle(api.Event{Type: api.EventOffers, Offers: &api.OffersEvent{Offers: []api.Offer{o}}}); err != nil {
		t.Fatal(err)
	}
	h.a.step()
	if n := len(h.fake.launched()); n != 1 {
		t.Fatalf("%d tasks launched, want none from an offer in another role", n)
	}
	h.offerFrom("plain2", "cpus:4;mem:4096")
	got = h.fake.launched()
	if len(got) != 2 {
		t.Fatalf("%d tasks launched, want the unreserved app's", len(got))
	}
	b, _ := json.Marshal(got[1].Resources)
	if strings.Contains(string(b), `"role":"marathon"`) {
		t.Errorf("unreserved-only task got reserved resources: %s", b)
	}
}

// A top-level group with enforceRole gives its apps its name as role (the
// only one they may use); without it the group's role is allowed but not
// the default. The framework needs every role in use.
func TestGroupEnforceRole(t *testing.T) {
	h := newHarness(t)
	if code := h.do("POST", "/v2/groups", `{"id": "/prod", "enforceRole": true, "apps": [{"id": "web", "cmd": "sleep 1", "instances": 0}]}`, nil); code != 201 {
		t.Fatalf("create group: %d", code)
	}
	if got := h.app("/prod/web")["role"]; got != "prod" {
		t.Errorf("role %v, want the enforcing group's prod", got)
	}
	var g map[string]any
	h.do("GET", "/v2/groups/prod", "", &g)
	if g["enforceRole"] != true {
		t.Errorf("group enforceRole %v", g["enforceRole"])
	}
	var out struct {
		Details []Detail `json:"details"`
	}
	if code := h.do("POST", "/v2/apps", `{"id": "/prod/api", "cmd": "x", "role": "marathon"}`, &out); code != 422 || len(out.Details) == 0 || out.Details[0].Path != "/role" {
		t.Errorf("the default role in an enforcing group: %d %+v, want 422 at /role", code, out.Details)
	}
	if code := h.do("POST", "/v2/groups", `{"id": "/prod/inner", "enforceRole": true}`, &out); code != 422 || !strings.Contains(out.Details[0].Errors[0], "top-level") {
		t.Errorf("enforceRole below the top: %d %+v, want 422", code, out.Details)
	}
	if code := h.do("POST", "/v2/apps", `{"id": "/dev/api", "cmd": "x", "instances": 0, "role": "dev"}`, nil); code != 201 {
		t.Errorf("the group's role without enforceRole: %d, want 201", code)
	}
	if code := h.do("POST", "/v2/apps", `{"id": "/dev/web", "cmd": "x", "instances": 0}`, nil); code != 201 || h.app("/dev/web")["role"] != DefaultRole {
		t.Errorf("default role without enforceRole: %d %v", code, h.app("/dev/web")["role"])
	}
	h.a.mu.Lock()
	roles := h.a.neededRolesLocked()
	h.a.mu.Unlock()
	if strings.Join(roles, ",") != "dev,marathon,prod" {
		t.Errorf("framework roles %v, want dev, marathon, prod", roles)
	}
	if code := h.do("PATCH", "/v2/groups/prod?force=true", `{"enforceRole": false}`, nil); code != 200 {
		t.Fatalf("patch enforceRole: %d", code)
	}
	if code := h.do("POST", "/v2/apps", `{"id": "/prod/api", "cmd": "x", "instances": 0}`, nil); code != 201 || h.app("/prod/api")["role"] != DefaultRole {
		t.Errorf("after enforceRole false: %d %v", code, h.app("/prod/api")["role"])
	}
	if got := h.app("/prod/web")["role"]; got != "prod" {
		t.Errorf("existing app's role %v, want it kept", got)
	}
}

// A pod's scheduling.placement.acceptedResourceRoles: the framework's
// role only puts it on reserved resources; another role is a 422.
func TestPodAcceptedResourceRoles(t *testing.T) {
	h := newHarness(t)
	pod := `{"id": "/rp", "scheduling": {"placement": {"acceptedResourceRoles": [%q]}},
		"containers": [{"name": "c", "exec": {"command": {"shell": "sleep 100"}}, "resources": {"cpus": 0.1, "mem": 16}}]}`
	var out struct {
		Details []Detail `json:"details"`
	}
	if code := h.do("POST", "/v2/pods", fmt.Sprintf(pod, "slave_public"), &out); code != 422 || len(out.Details) == 0 || out.Details[0].Path != "/scheduling/placement/acceptedResourceRoles" {
		t.Fatalf("pod accepting slave_public: %d %+v, want 422", code, out.Details)
	}
	if code := h.do("POST", "/v2/pods", fmt.Sprintf(pod, DefaultRole), nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	h.a.step()
	h.offerFrom("plain", "cpus:4;mem:4096;disk:100")
	if n := len(h.fake.accepts); n != 0 {
		t.Fatalf("%d accepts of unreserved resources", n)
	}
	h.offerFrom("reserved", "cpus:1;mem:512;cpus(marathon):1;mem(marathon):512;disk(marathon):100")
	if n := len(h.fake.accepts); n != 1 {
		t.Fatalf("%d accepts, want the pod on the reserved part", n)
	}
	for _, r := range h.fake.accepts[0].Operations[0].LaunchGroup.TaskGroup.Tasks[0].Resources {
		if r.Role != DefaultRole {
			t.Errorf("pod resource %s in role %q", r.Name, r.Role)
		}
	}
}
