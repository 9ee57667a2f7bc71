package apps

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// podC is a pod container with extra fields merged in.
func podC(extra string) string {
	return `{"containers": [{"name": "c", "exec": {"command": {"shell": "sleep 100"}}, "resources": {"cpus": 0.1, "mem": 16}` + extra + `}]}`
}

// podSchemaProperties is every property of Marathon's pod definition:
// type Pod of docs/docs/rest-api/public/api/v2/types/pod.raml and
// PodContainer of podContainer.raml (with linux.raml, volumes.raml,
// network.raml, healthCheck.raml, check.raml, artifact.raml),
// github.com/mesosphere/marathon at commit
// 90619da70d79a2ecf19368a21c6a695ea981bd74.
var podSchemaProperties = []struct{ path, def string }{
	{"/labels", `{"labels": {"a": "b"}}`},
	{"/user", `{"user": "nobody"}`},
	{"/environment", `{"environment": {"A": "b"}}`},
	{"/secrets", `{"secrets": {"s": {"source": "db/pass"}}}`},
	{"/volumes/0/name", `{"volumes": [{"name": "v"}]}`},
	{"/volumes/0/host", `{"volumes": [{"name": "v", "host": "/tmp"}]}`},
	{"/volumes/0/persistent", `{"volumes": [{"name": "v", "persistent": {"size": 10}}]}`},
	{"/volumes/0/secret", `{"secrets": {"s": {"source": "db/pass"}}, "volumes": [{"name": "v", "secret": "s"}]}`},
	{"/networks", `{"networks": [{"mode": "container", "name": "dcos"}]}`},
	{"/scaling/instances", `{"scaling": {"kind": "fixed", "instances": 0}}`},
	{"/scheduling/backoff/backoff", `{"scheduling": {"backoff": {"backoff": 2, "backoffFactor": 1.5, "maxLaunchDelay": 60}}}`},
	{"/scheduling/upgrade", `{"scheduling": {"upgrade": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5}}}`},
	{"/scheduling/placement/constraints", `{"scheduling": {"placement": {"constraints": [{"fieldName": "hostname", "operator": "UNIQUE"}]}}}`},
	{"/scheduling/placement/acceptedResourceRoles", `{"scheduling": {"placement": {"acceptedResourceRoles": ["*"]}}}`},
	{"/scheduling/killSelection", `{"scheduling": {"killSelection": "OLDEST_FIRST"}}`},
	{"/scheduling/unreachableStrategy", `{"scheduling": {"unreachableStrategy": {"inactiveAfterSeconds": 5, "expungeAfterSeconds": 10}}}`},
	{"/executorResources", `{"executorResources": {"cpus": 0.2, "mem": 64, "disk": 20}}`},
	{"/role", `{"role": "other"}`},
	{"/linuxInfo", `{"linuxInfo": {"seccomp": {"unconfined": true}}}`},
	{"/legacySharedCgroups", `{"legacySharedCgroups": true}`},
	{"/containers/0/exec/overrideEntrypoint", podC(`, "exec": {"command": {"shell": "sleep 100"}, "overrideEntrypoint": true}`)},
	{"/containers/0/resources/disk", podC(`, "resources": {"cpus": 0.1, "mem": 16, "disk": 5}`)},
	{"/containers/0/resources/gpus", podC(`, "resources": {"cpus": 0.1, "mem": 16, "gpus": 1}`)},
	{"/containers/0/resourceLimits", podC(`, "resourceLimits": {"cpus": 1}`)},
	{"/containers/0/endpoints", podC(`, "endpoints": [{"name": "http", "hostPort": 0}]`)},
	{"/containers/0/linuxInfo", podC(`, "linuxInfo": {"seccomp": {"unconfined": true}}`)},
	{"/containers/0/image/id", podC(`, "image": {"kind": "DOCKER", "id": "busybox"}`)},
	{"/containers/0/image/pullConfig", `{"secrets": {"s": {"source": "registry/creds"}}, "containers": [{"name": "c", "exec": {"command": {"shell": "sleep 100"}}, "resources": {"cpus": 0.1, "mem": 16}, "image": {"kind": "DOCKER", "id": "busybox", "pullConfig": {"secret": "s"}}}]}`},
	{"/containers/0/image/forcePull", podC(`, "image": {"kind": "DOCKER", "id": "busybox", "forcePull": true}`)},
	{"/containers/0/image/labels", podC(`, "image": {"kind": "DOCKER", "id": "busybox", "labels": {"a": "b"}}`)},
	{"/containers/0/environment", podC(`, "environment": {"A": "b"}`)},
	{"/containers/0/user", podC(`, "user": "other"`)},
	{"/containers/0/healthCheck", podC(`, "healthCheck": {"exec": {"command": {"shell": "true"}}, "intervalSeconds": 5}`)},
	{"/containers/0/check", podC(`, "check": {"exec": {"command": {"shell": "true"}}}`)},
	{"/containers/0/volumeMounts", `{"volumes": [{"name": "v"}], "containers": [{"name": "c", "exec": {"command": {"shell": "sleep 100"}}, "resources": {"cpus": 0.1, "mem": 16}, "volumeMounts": [{"name": "v", "mountPath": "data", "readOnly": true}]}]}`},
	{"/containers/0/artifacts", podC(`, "artifacts": [{"uri": "http://127.0.0.1/a.txt"}]`)},
	{"/containers/0/labels", podC(`, "labels": {"a": "b"}`)},
	{"/containers/0/lifecycle/killGracePeriodSeconds", podC(`, "lifecycle": {"killGracePeriodSeconds": 5}`)},
	{"/containers/0/tty", podC(`, "tty": true`)},
	{"/containers/0/unknownField", podC(`, "unknownField": 1`)},
}

// Every property of Marathon's pod schema is honoured (shown by GET
// /v2/pods/{id}) or refused with a 422 naming it.
func TestPodSchemaNoFieldDropped(t *testing.T) {
	h := newHarness(t)
	honoured, refused := 0, 0
	for i, c := range podSchemaProperties {
		id := fmt.Sprintf("/podschema/p%d", i)
		def := map[string]any{}
		_ = json.Unmarshal([]byte(podC("")), &def)
		var extra map[string]any
		if err := json.Unmarshal([]byte(c.def), &extra); err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		for k, v := range extra {
			def[k] = v
		}
		def["id"] = id
		if _, ok := extra["scaling"]; !ok {
			def["scaling"] = map[string]any{"kind": "fixed", "instances": 0}
		}
		body, _ := json.Marshal(def)
		var out struct {
			Message string   `json:"message"`
			Details []Detail `json:"details"`
		}
		code := h.do("POST", "/v2/pods", string(body), &out)
		switch code {
		case 201:
			var got map[string]any
			h.do("GET", "/v2/pods"+id, "", &got)
			var sent any
			_ = json.Unmarshal(body, &sent)
			if have, want := valueAt(got, c.path), valueAt(sent, c.path); !reflect.DeepEqual(have, want) {
				t.Errorf("%s: accepted but GET shows %v, want %v (silently dropped)", c.path, have, want)
				continue
			}
			honoured++
		case 422:
			named := strings.Contains(out.Message, strings.TrimPrefix(c.path[strings.LastIndex(c.path, "/"):], "/"))
			for _, d := range out.Details {
				named = named || strings.HasPrefix(c.path, d.Path) || strings.HasPrefix(d.Path, c.path)
			}
			if !named {
				t.Errorf("%s: 422 %s %+v does not name the property", c.path, out.Message, out.Details)
				continue
			}
			refused++
		default:
			t.Errorf("%s: %d %s %+v, want 201 or 422", c.path, code, out.Message, out.Details)
		}
	}
	t.Logf("%d pod properties: %d honoured, %d refused with 422", len(podSchemaProperties), honoured, refused)
}
