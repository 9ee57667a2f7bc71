package apps

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// appSchemaProperties is every property of Marathon's app definition:
// type App of docs/docs/rest-api/public/api/v2/types/app.raml and the
// types it uses (appContainer.raml, docker.raml, volumes.raml, linux.raml,
// artifact.raml, healthCheck.raml, check.raml, network.raml,
// readinessCheck.raml, resources.raml, secrets.raml,
// unreachableStrategy.raml), github.com/mesosphere/marathon at commit
// 90619da70d79a2ecf19368a21c6a695ea981bd74. Each comes with a plausible
// value, as the fields of a definition merged into a minimal app.
var appSchemaProperties = []struct {
	path string // JSON pointer of the property
	def  string // fields merged into {"id", "cmd", "instances": 0}
	echo string // where GET shows it, when not at path
}{
	{"/id", `{}`, ""},
	{"/acceptedResourceRoles", `{"acceptedResourceRoles": ["*"]}`, ""},
	{"/args", `{"cmd": null, "args": ["sleep", "100"]}`, ""},
	{"/backoffFactor", `{"backoffFactor": 2}`, ""},
	{"/backoffSeconds", `{"backoffSeconds": 3}`, ""},
	{"/cmd", `{"cmd": "sleep 100"}`, ""},
	{"/constraints", `{"constraints": [["hostname", "UNIQUE"]]}`, ""},
	{"/container/type", `{"container": {"type": "MESOS"}}`, ""},
	{"/container/docker/image", `{"container": {"type": "DOCKER", "docker": {"image": "busybox"}}}`, ""},
	{"/container/docker/forcePullImage", `{"container": {"type": "DOCKER", "docker": {"image": "busybox", "forcePullImage": true}}}`, ""},
	{"/container/docker/credential", `{"container": {"type": "DOCKER", "docker": {"image": "busybox", "credential": {"principal": "p", "secret": "s"}}}}`, ""},
	{"/container/docker/pullConfig", `{"secrets": {"pull": {"source": "registry/creds"}}, "container": {"type": "DOCKER", "docker": {"image": "busybox", "pullConfig": {"secret": "pull"}}}}`, ""},
	{"/container/docker/network", `{"container": {"type": "DOCKER", "docker": {"image": "busybox", "network": "BRIDGE"}}}`, ""},
	{"/container/docker/parameters", `{"container": {"type": "DOCKER", "docker": {"image": "busybox", "parameters": [{"key": "label", "value": "a=b"}]}}}`, ""},
	{"/container/docker/portMappings", `{"container": {"type": "DOCKER", "docker": {"image": "busybox", "portMappings": [{"containerPort": 80}]}}}`, ""},
	{"/container/docker/privileged", `{"container": {"type": "DOCKER", "docker": {"image": "busybox", "privileged": true}}}`, ""},
	{"/container/linuxInfo/seccomp/profileName", `{"container": {"type": "MESOS", "linuxInfo": {"seccomp": {"profileName": "default.json"}}}}`, ""},
	{"/container/linuxInfo/seccomp/unconfined", `{"container": {"type": "MESOS", "linuxInfo": {"seccomp": {"unconfined": true}}}}`, ""},
	{"/container/linuxInfo/ipcInfo", `{"container": {"type": "MESOS", "linuxInfo": {"ipcInfo": {"mode": "PRIVATE", "shmSize": 64}}}}`, ""},
	{"/container/volumes/0/hostPath", `{"container": {"type": "MESOS", "volumes": [{"containerPath": "data", "hostPath": "/tmp", "mode": "RO"}]}}`, ""},
	{"/container/volumes/0/persistent/size", `{"upgradeStrategy": {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}, "unreachableStrategy": "disabled", "container": {"type": "MESOS", "volumes": [{"containerPath": "data", "mode": "RW", "persistent": {"size": 10}}]}}`, ""},
	{"/container/volumes/0/persistent/type", `{"upgradeStrategy": {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}, "unreachableStrategy": "disabled", "container": {"type": "MESOS", "volumes": [{"containerPath": "data", "mode": "RW", "persistent": {"type": "mount", "size": 10}}]}}`, ""},
	{"/container/volumes/0/persistent/maxSize", `{"upgradeStrategy": {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}, "unreachableStrategy": "disabled", "container": {"type": "MESOS", "volumes": [{"containerPath": "data", "mode": "RW", "persistent": {"type": "mount", "size": 10, "maxSize": 20}}]}}`, ""},
	{"/container/volumes/0/persistent/profileName", `{"upgradeStrategy": {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}, "unreachableStrategy": "disabled", "container": {"type": "MESOS", "volumes": [{"containerPath": "data", "mode": "RW", "persistent": {"size": 10, "profileName": "fast"}}]}}`, ""},
	{"/container/volumes/0/persistent/constraints", `{"upgradeStrategy": {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}, "unreachableStrategy": "disabled", "container": {"type": "MESOS", "volumes": [{"containerPath": "data", "mode": "RW", "persistent": {"type": "path", "size": 10, "constraints": [["path", "LIKE", "/mnt/.*"]]}}]}}`, ""},
	{"/container/volumes/0/secret", `{"secrets": {"s": {"source": "db/pass"}}, "container": {"type": "MESOS", "volumes": [{"containerPath": "pass", "secret": "s"}]}}`, ""},
	{"/container/volumes/0/external", `{"container": {"type": "MESOS", "volumes": [{"containerPath": "data", "mode": "RW", "external": {"name": "v", "provider": "dvdi", "options": {"dvdi/driver": "rexray"}}}]}}`, ""},
	{"/container/portMappings", `{"container": {"type": "MESOS", "portMappings": [{"containerPort": 80, "hostPort": 0, "name": "http", "protocol": "tcp", "servicePort": 10000, "labels": {}, "networkNames": ["n"]}]}}`, ""},
	{"/cpus", `{"cpus": 0.25}`, ""},
	{"/dependencies", `{"dependencies": ["/other"]}`, ""},
	{"/disk", `{"disk": 10}`, ""},
	{"/env", `{"env": {"A": "b"}}`, ""},
	{"/env/PASS", `{"secrets": {"pw": {"source": "db/pass"}}, "env": {"PASS": {"secret": "pw"}}}`, ""},
	{"/executor", `{"executor": "/custom/executor"}`, ""},
	{"/executorResources", `{"executorResources": {"cpus": 0.1, "mem": 32, "disk": 10}}`, ""},
	{"/fetch/0/uri", `{"fetch": [{"uri": "http://127.0.0.1/a.txt"}]}`, ""},
	{"/fetch/0/extract", `{"fetch": [{"uri": "http://127.0.0.1/a.tgz", "extract": false}]}`, ""},
	{"/fetch/0/executable", `{"fetch": [{"uri": "http://127.0.0.1/a.sh", "executable": true}]}`, ""},
	{"/fetch/0/cache", `{"fetch": [{"uri": "http://127.0.0.1/a.txt", "cache": true}]}`, ""},
	{"/fetch/0/destPath", `{"fetch": [{"uri": "http://127.0.0.1/a.txt", "destPath": "b.txt"}]}`, ""},
	{"/healthChecks/0/command/value", `{"healthChecks": [{"protocol": "COMMAND", "command": {"value": "true"}}]}`, ""},
	{"/healthChecks/0/gracePeriodSeconds", `{"healthChecks": [{"protocol": "TCP", "gracePeriodSeconds": 7}]}`, ""},
	{"/healthChecks/0/ignoreHttp1xx", `{"healthChecks": [{"protocol": "HTTP", "ignoreHttp1xx": true}]}`, ""},
	{"/healthChecks/0/intervalSeconds", `{"healthChecks": [{"protocol": "TCP", "intervalSeconds": 7}]}`, ""},
	{"/healthChecks/0/maxConsecutiveFailures", `{"healthChecks": [{"protocol": "TCP", "maxConsecutiveFailures": 7}]}`, ""},
	{"/healthChecks/0/path", `{"healthChecks": [{"protocol": "HTTP", "path": "/health"}]}`, ""},
	{"/healthChecks/0/port", `{"healthChecks": [{"protocol": "TCP", "port": 8080}]}`, ""},
	{"/healthChecks/0/portIndex", `{"healthChecks": [{"protocol": "TCP", "portIndex": 0}]}`, ""},
	{"/healthChecks/0/protocol", `{"healthChecks": [{"protocol": "MESOS_HTTP"}]}`, ""},
	{"/healthChecks/0/ipProtocol", `{"healthChecks": [{"protocol": "MESOS_HTTP", "ipProtocol": "IPv6"}]}`, ""},
	{"/healthChecks/0/timeoutSeconds", `{"healthChecks": [{"protocol": "TCP", "timeoutSeconds": 7}]}`, ""},
	{"/healthChecks/0/delaySeconds", `{"healthChecks": [{"protocol": "TCP", "delaySeconds": 7}]}`, ""},
	{"/check", `{"check": {"http": {"portIndex": 0, "path": "/", "scheme": "HTTP"}, "intervalSeconds": 10, "timeoutSeconds": 5, "delaySeconds": 5}}`, ""},
	{"/instances", `{"instances": 0}`, ""},
	{"/labels", `{"labels": {"tier": "web"}}`, ""},
	{"/maxLaunchDelaySeconds", `{"maxLaunchDelaySeconds": 60}`, ""},
	{"/mem", `{"mem": 64}`, ""},
	{"/gpus", `{"gpus": 1}`, ""},
	{"/ipAddress", `{"ipAddress": {"networkName": "dcos", "groups": [], "labels": {}, "discovery": {"ports": [{"number": 80, "name": "http", "protocol": "tcp"}]}}}`, ""},
	{"/networks", `{"networks": [{"mode": "container/bridge"}]}`, ""},
	{"/ports", `{"ports": [0, 0]}`, "/portDefinitions/1/port"},
	{"/portDefinitions/0/port", `{"portDefinitions": [{"port": 0}]}`, ""},
	{"/portDefinitions/0/labels", `{"portDefinitions": [{"port": 0, "labels": {"VIP_0": "/a:80"}}]}`, ""},
	{"/portDefinitions/0/name", `{"portDefinitions": [{"port": 0, "name": "http"}]}`, ""},
	{"/portDefinitions/0/protocol", `{"portDefinitions": [{"port": 0, "protocol": "udp"}]}`, ""},
	{"/readinessChecks/0", `{"portDefinitions": [{"port": 0, "name": "http-api"}], "readinessChecks": [{"name": "ready", "protocol": "HTTP", "path": "/ready", "portName": "http-api", "intervalSeconds": 30, "timeoutSeconds": 10, "httpStatusCodesForReady": [200, 204], "preserveLastResponse": true}]}`, ""},
	{"/residency", `{"upgradeStrategy": {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}, "unreachableStrategy": "disabled", "container": {"type": "MESOS", "volumes": [{"containerPath": "data", "mode": "RW", "persistent": {"size": 10}}]}, "residency": {"relaunchEscalationTimeoutSeconds": 3600, "taskLostBehavior": "WAIT_FOREVER"}}`, ""},
	{"/resourceLimits", `{"resourceLimits": {"cpus": 2, "mem": "unlimited"}}`, ""},
	{"/requirePorts", `{"requirePorts": true, "portDefinitions": [{"port": 31001}]}`, ""},
	{"/secrets/s/source", `{"secrets": {"s": {"source": "db/pass"}}}`, ""},
	{"/taskKillGracePeriodSeconds", `{"taskKillGracePeriodSeconds": 9}`, ""},
	{"/upgradeStrategy/maximumOverCapacity", `{"upgradeStrategy": {"maximumOverCapacity": 0.5, "minimumHealthCapacity": 1}}`, ""},
	{"/upgradeStrategy/minimumHealthCapacity", `{"upgradeStrategy": {"maximumOverCapacity": 1, "minimumHealthCapacity": 0.5}}`, ""},
	{"/uris", `{"uris": ["http://127.0.0.1/a.txt"]}`, "/fetch/0/uri"},
	{"/user", `{"user": "nobody"}`, ""},
	{"/killSelection", `{"killSelection": "OLDEST_FIRST"}`, ""},
	{"/unreachableStrategy/inactiveAfterSeconds", `{"unreachableStrategy": {"inactiveAfterSeconds": 5, "expungeAfterSeconds": 10}}`, ""},
	{"/unreachableStrategy/expungeAfterSeconds", `{"unreachableStrategy": {"inactiveAfterSeconds": 5, "expungeAfterSeconds": 10}}`, ""},
	{"/tty", `{"tty": true}`, ""},
	{"/role", `{"role": "marathon"}`, ""},
	// version and versionInfo are read-only (AppInfo): the server sets them.
}

// Every property of Marathon's app schema is honoured (stored and shown
// by GET /v2/apps/{id}) or refused with a 422 naming it: none is silently
// dropped.
func TestAppSchemaNoFieldDropped(t *testing.T) {
	h := newHarness(t)
	honoured, refused := 0, 0
	for i, c := range appSchemaProperties {
		id := fmt.Sprintf("/schema/p%d", i)
		def := map[string]any{"id": id, "cmd": "sleep 100", "instances": 0}
		var extra map[string]any
		if err := json.Unmarshal([]byte(c.def), &extra); err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		for k, v := range extra {
			if v == nil {
				delete(def, k)
			} else {
				def[k] = v
			}
		}
		body, _ := json.Marshal(def)
		var out struct {
			Message string   `json:"message"`
			Details []Detail `json:"details"`
		}
		code := h.do("POST", "/v2/apps", string(body), &out)
		switch code {
		case 201:
			var got struct {
				App map[string]any `json:"app"`
			}
			h.do("GET", "/v2/apps"+id, "", &got)
			var sent any
			_ = json.Unmarshal(body, &sent)
			want := valueAt(sent, c.path)
			if c.path == "/id" {
				want = id
			}
			at := c.path
			if c.echo != "" {
				at, want = c.echo, valueAt(sent, c.path+strings.TrimPrefix(c.echo, c.echo[:strings.LastIndex(c.echo, "/")]))
				if c.path == "/ports" {
					want = 0.0
				}
				if c.path == "/uris" {
					want = "http://127.0.0.1/a.txt"
				}
			}
			if have := valueAt(got.App, at); !reflect.DeepEqual(have, want) {
				t.Errorf("%s: accepted but GET shows %v at %s, want %v (silently dropped)", c.path, have, at, want)
				continue
			}
			honoured++
		case 422:
			// A detail at the property, at an object holding it, or at a
			// sibling it depends on (maxSize needs type "mount").
			parent := c.path[:strings.LastIndex(c.path, "/")]
			named := false
			for _, d := range out.Details {
				named = named || strings.HasPrefix(c.path, d.Path) || parent != "" && strings.HasPrefix(d.Path, parent+"/")
			}
			if !named {
				t.Errorf("%s: 422 %+v does not name the property", c.path, out.Details)
				continue
			}
			t.Logf("refused %s: %+v", c.path, out.Details)
			refused++
		default:
			t.Errorf("%s: %d %s %+v, want 201 or 422", c.path, code, out.Message, out.Details)
		}
	}
	t.Logf("%d properties: %d honoured, %d refused with 422", len(appSchemaProperties), honoured, refused)
}

// A field Marathon does not know is refused, naming its path; AppInfo's
// read-only fields (a definition read and PUT back) are ignored, and
// values that ask for what nodectl does anyway pass.
func TestAppUnknownFieldsRefused(t *testing.T) {
	h := newHarness(t)
	for body, path := range map[string]string{
		`{"id": "/u/a", "cmd": "x", "comand": "typo"}`:                                                  "/comand",
		`{"id": "/u/a", "cmd": "x", "portDefinitions": [{"port": 0, "hostport": 1}]}`:                   "/portDefinitions/0/hostport",
		`{"id": "/u/a", "cmd": "x", "container": {"type": "DOCKER", "docker": {"image": "b", "x": 1}}}`: "/container/docker/x",
		`{"id": "/u/a", "cmd": "x", "networks": [{"mode": "overlay", "name": "dcos"}]}`:                 "/networks/0/mode",
	} {
		var out struct {
			Details []Detail `json:"details"`
		}
		if code := h.do("POST", "/v2/apps", body, &out); code != 422 || len(out.Details) == 0 || out.Details[0].Path != path {
			t.Errorf("%s: %d %+v, want 422 at %s", body, code, out.Details, path)
		}
	}
	ok := `{"id": "/u/ok", "cmd": "x", "instances": 0, "tasksRunning": 3, "deployments": [], "tasks": [],
		"networks": [{"mode": "host"}], "tty": false, "container": {"type": "DOCKER", "docker": {"image": "b", "privileged": false, "parameters": [], "network": "HOST"}}}`
	if code := h.do("POST", "/v2/apps", ok, nil); code != 201 {
		t.Errorf("no-op values: %d, want 201", code)
	}
}
