package apps

import (
	"strings"
	"testing"

	"nodectl/cluster/api"
)

// TestPodSecrets: a pod's secrets reach its LAUNCH_GROUP as Mesos SECRET
// references (env of the pod and of a container, a file at a container's
// mountPath), never as values; bad references are 422s naming them.
func TestPodSecrets(t *testing.T) {
	h := newHarness(t)
	pod := `{"id":"/sec/pod","secrets":{"secret1":{"source":"/db/password"},"secret2":{"source":"db/user"}},
	 "environment":{"DB_PASS":{"secret":"secret1"},"PLAIN":"p","OVER":{"secret":"secret1"}},
	 "volumes":[{"name":"secretvolume","secret":"secret2"}],
	 "containers":[{"name":"c","exec":{"command":{"shell":"sleep 100"}},"resources":{"cpus":0.1,"mem":16},
	   "environment":{"OVER":"plain","USER_C":{"secret":"secret2"}},
	   "volumeMounts":[{"name":"secretvolume","mountPath":"path/to/user"}]}]}`
	for _, c := range []struct{ body, want string }{
		{strings.Replace(pod, `"USER_C":{"secret":"secret2"}`, `"USER_C":{"secret":"nope"}`, 1), "/containers/0/environment/USER_C"},
		{strings.Replace(pod, `"secret":"secret2"}]`, `"secret":"nope"}]`, 1), "/volumes/0/secret"},
		{strings.Replace(pod, `"mountPath":"path/to/user"`, `"mountPath":"/etc/user"`, 1), "/containers/0/volumeMounts/0/mountPath"},
		{strings.Replace(pod, `"PLAIN":"p"`, `"PLAIN":{"secret":"secret1","x":1}`, 1), "/environment/PLAIN"},
		{strings.Replace(pod, `"PLAIN":"p"`, `"PLAIN":1`, 1), "/environment/PLAIN"},
		{strings.Replace(pod, `"source":"db/user"`, `"source":"db/../user"`, 1), "/secrets/secret2/source"},
	} {
		var out map[string]any
		if code := h.do("POST", "/v2/pods", c.body, &out); code != 422 || !strings.Contains(toJSON(t, out), c.want) {
			t.Errorf("%s: %d %v, want 422 naming %s", c.want, code, out, c.want)
		}
	}
	var got map[string]any
	if code := h.do("POST", "/v2/pods", pod, &got); code != 201 {
		t.Fatalf("create: %d %v", code, got)
	}
	if s := toJSON(t, got); !strings.Contains(s, `"source":"/db/password"`) {
		t.Fatalf("answer lacks the secrets: %s", s)
	}
	h.a.step()
	h.offerFrom("h1", "cpus:1;mem:512;disk:100")
	if len(h.fake.accepts) != 1 {
		t.Fatalf("accepts: %d", len(h.fake.accepts))
	}
	ti := h.fake.accepts[0].Operations[0].LaunchGroup.TaskGroup.Tasks[0]
	vars := map[string]api.EnvVar{}
	for _, v := range ti.Command.Environment.Variables {
		vars[v.Name] = v
	}
	ref := func(name, path string) {
		t.Helper()
		v, ok := vars[name]
		if !ok || v.Type != api.EnvTypeSecret || v.Secret == nil || v.Secret.Reference == nil || v.Secret.Reference.Name != path || v.Secret.Value != nil {
			t.Errorf("%s: %+v, want a reference to %s", name, v, path)
		}
	}
	ref("DB_PASS", "/db/password")
	ref("USER_C", "/db/user")
	if v := vars["OVER"]; v.Type == api.EnvTypeSecret || v.Value != "plain" {
		t.Errorf("OVER: %+v, want the container's plain value", v)
	}
	if v := vars["PLAIN"]; v.Value != "p" {
		t.Errorf("PLAIN: %+v", v)
	}
	vs := ti.Container.Volumes
	if len(vs) != 1 || vs[0].ContainerPath != "path/to/user" || vs[0].Source == nil || vs[0].Source.Type != api.VolumeTypeSecret ||
		vs[0].Source.Secret.Reference.Name != "/db/user" || vs[0].Mode != "RO" {
		t.Fatalf("volumes: %+v", vs)
	}
	if refs := ti.SecretRefs(); len(refs) != 3 { // two variables and the file
		t.Fatalf("secret refs: %v", refs)
	}
}
