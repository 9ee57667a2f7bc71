package apps

import (
	"slices"
	"strings"
	"testing"

	"nodectl/cluster/api"
)

// wantPullRef checks that img carries Image.Docker.config as a reference
// to path (never a value).
func wantPullRef(t *testing.T, what string, img *api.Image, path string) {
	t.Helper()
	if img == nil || img.Docker == nil || img.Docker.Config == nil {
		t.Fatalf("%s: no docker.config in %+v", what, img)
	}
	c := img.Docker.Config
	if c.Type != api.SecretReference || c.Reference == nil || c.Reference.Name != path || c.Value != nil {
		t.Errorf("%s: config %+v, want a reference to %s", what, c, path)
	}
}

// pullConfigRefused posts body to url and wants a 422 detail at path.
func pullConfigRefused(t *testing.T, h *harness, url, body, path string) {
	t.Helper()
	var out struct {
		Message string
		Details []Detail
	}
	if code := h.do("POST", url, body, &out); code != 422 || !slices.ContainsFunc(out.Details, func(d Detail) bool { return d.Path == path }) {
		t.Errorf("%s: %d %+v, want 422 at %s", body, code, out, path)
	}
}

// TestAppPullConfig: container.docker.pullConfig names an entry of
// secrets; the task's image carries it as Image.Docker.config, a
// reference to the store path; an undefined name is a 422 naming it.
func TestAppPullConfig(t *testing.T) {
	h := newHarness(t)
	app := `{"id":"/a","cmd":"x","secrets":{"pull":{"source":"registry/creds"}},"container":{"type":"MESOS","docker":{"image":"127.0.0.1:5000/app","pullConfig":{"secret":"pull"}}}}`
	pullConfigRefused(t, h, "/v2/apps", strings.Replace(app, `{"secret":"pull"}`, `{"secret":"nope"}`, 1), "/container/docker/pullConfig/secret")
	pullConfigRefused(t, h, "/v2/apps", strings.Replace(app, `{"secret":"pull"}`, `{}`, 1), "/container/docker/pullConfig/secret")
	pullConfigRefused(t, h, "/v2/apps", strings.Replace(app, `{"secret":"pull"}`, `{"secret":"pull","x":1}`, 1), "/container/docker/pullConfig/x")
	var got map[string]any
	if code := h.do("POST", "/v2/apps", app, &got); code != 201 {
		t.Fatalf("create: %d %v", code, got)
	}
	if s := toJSON(t, got); !strings.Contains(s, `"pullConfig":{"secret":"pull"}`) {
		t.Errorf("answer lacks pullConfig: %s", s)
	}
	h.offerFrom("a", "cpus:4;mem:1024;disk:1000;ports:[31000-31010]")
	ti := h.lastAccept().Operations[0].Launch.TaskInfos[0]
	wantPullRef(t, "app", ti.Container.Mesos.Image, "/registry/creds")
	if refs := ti.SecretRefs(); len(refs) != 1 || refs[0] != "/registry/creds" {
		t.Errorf("secret refs: %v", refs)
	}
}

// TestPodPullConfig: a pod container's image.pullConfig, as for apps.
func TestPodPullConfig(t *testing.T) {
	h := newHarness(t)
	pod := `{"id":"/p","secrets":{"pull":{"source":"/registry/creds"}},"containers":[{"name":"c","exec":{"command":{"shell":"sleep 100"}},"resources":{"cpus":0.1,"mem":16},
	  "image":{"kind":"DOCKER","id":"127.0.0.1:5000/app","pullConfig":{"secret":"pull"}}}]}`
	pullConfigRefused(t, h, "/v2/pods", strings.Replace(pod, `{"secret":"pull"}`, `{"secret":"nope"}`, 1), "/containers/0/image/pullConfig/secret")
	var got map[string]any
	if code := h.do("POST", "/v2/pods", pod, &got); code != 201 {
		t.Fatalf("create: %d %v", code, got)
	}
	h.a.step()
	h.offerFrom("h1", "cpus:1;mem:512;disk:100")
	if len(h.fake.accepts) != 1 {
		t.Fatalf("accepts: %d", len(h.fake.accepts))
	}
	ti := h.fake.accepts[0].Operations[0].LaunchGroup.TaskGroup.Tasks[0]
	wantPullRef(t, "pod", ti.Container.Mesos.Image, "/registry/creds")
}
