package apps

import (
	"slices"
	"testing"
)

// With an image, args are arguments to its entrypoint (no value) and cmd
// is a shell command; without one args[0] is the executable; forcePullImage
// is cached=false; privileged and docker.parameters are refused by name.
func TestDockerImageCommand(t *testing.T) {
	for name, c := range map[string]struct {
		body     string
		shell    bool
		value    string
		args     []string
		uncached bool
	}{
		"args+image": {`{"id":"/a","args":["-x","y"],"container":{"type":"DOCKER","docker":{"image":"busybox"}}}`, false, "", []string{"-x", "y"}, false},
		"cmd+image":  {`{"id":"/a","cmd":"echo hi","container":{"type":"MESOS","docker":{"image":"busybox","forcePullImage":true}}}`, true, "echo hi", nil, true},
		"args":       {`{"id":"/a","args":["/bin/echo","y"]}`, false, "/bin/echo", []string{"/bin/echo", "y"}, false},
		"image only": {`{"id":"/a","container":{"docker":{"image":"busybox"}}}`, false, "", nil, false},
	} {
		h := newHarness(t)
		if code := h.do("POST", "/v2/apps", c.body, nil); code != 201 {
			t.Fatalf("%s: create: %d", name, code)
		}
		h.offerFrom("a", "cpus:4;mem:1024;disk:1000;ports:[31000-31010]")
		ti := h.lastAccept().Operations[0].Launch.TaskInfos[0]
		cmd := ti.Command
		if cmd.IsShell() != c.shell || cmd.Value != c.value || !slices.Equal(cmd.Arguments, c.args) {
			t.Errorf("%s: shell=%v value=%q args=%q", name, cmd.IsShell(), cmd.Value, cmd.Arguments)
		}
		if ti.Container != nil && ti.Container.Mesos != nil {
			img := ti.Container.Mesos.Image
			if got := img.Cached != nil && !*img.Cached; got != c.uncached {
				t.Errorf("%s: uncached %v, want %v", name, got, c.uncached)
			}
		}
	}
}

func TestDockerRefusedFields(t *testing.T) {
	h := newHarness(t)
	for path, body := range map[string]string{
		"/container/docker/privileged": `{"id":"/a","cmd":"x","container":{"docker":{"image":"b","privileged":true}}}`,
		"/container/docker/parameters": `{"id":"/a","cmd":"x","container":{"docker":{"image":"b","parameters":[{"key":"a","value":"b"}]}}}`,
	} {
		var out struct {
			Message string
			Details []Detail
		}
		if code := h.do("POST", "/v2/apps", body, &out); code != 422 || !slices.ContainsFunc(out.Details, func(d Detail) bool { return d.Path == path }) {
			t.Errorf("%s: %d %+v, want 422 at it", path, code, out)
		}
	}
	if code := h.do("POST", "/v2/apps", `{"id":"/a","cmd":"x","container":{"docker":{"image":"b","privileged":false,"parameters":[]}}}`, nil); code != 201 {
		t.Errorf("privileged false, no parameters: %d, want 201", code)
	}
}
