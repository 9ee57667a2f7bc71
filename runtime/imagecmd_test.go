package runtime

import (
	"slices"
	"testing"

	"nodectl/cluster/api"
	"nodectl/runtime/image"
)

// The rows of Mesos' docker runtime isolator table (docs
// isolators/docker-runtime.md), plus WorkingDir and the no-image cases.
func TestLaunchCommand(t *testing.T) {
	sh := func(v string, args ...string) *api.CommandInfo {
		return &api.CommandInfo{Value: v, Arguments: args}
	}
	exec := func(v string, args ...string) *api.CommandInfo {
		return &api.CommandInfo{Shell: new(bool), Value: v, Arguments: args}
	}
	none := &image.ImageConfig{}
	cmdOnly := &image.ImageConfig{Cmd: []string{"/c", "c1"}}
	epOnly := &image.ImageConfig{Entrypoint: []string{"/e", "e1"}, WorkingDir: "/srv"}
	both := &image.ImageConfig{Entrypoint: []string{"/e", "e1"}, Cmd: []string{"c1", "c2"}, WorkingDir: "rel"}
	for _, c := range []struct {
		name string
		cmd  *api.CommandInfo
		ic   *image.ImageConfig
		want []string
		cwd  string
		err  bool
	}{
		{"exec none", exec(""), none, nil, "", true},
		{"exec cmd", exec(""), cmdOnly, []string{"/c", "c1"}, "", false},
		{"exec entrypoint", exec(""), epOnly, []string{"/e", "e1"}, "/srv", false},
		{"exec both", exec(""), both, []string{"/e", "e1", "c1", "c2"}, "/rel", false},
		{"nil command both", nil, both, []string{"/e", "e1", "c1", "c2"}, "/rel", false},
		{"argv none", exec("", "a", "b"), none, nil, "", true},
		{"argv cmd", exec("", "a", "b"), cmdOnly, []string{"/c", "a", "b"}, "", false},
		{"argv entrypoint", exec("", "a", "b"), epOnly, []string{"/e", "e1", "a", "b"}, "/srv", false},
		{"argv both", exec("", "a", "b"), both, []string{"/e", "e1", "a", "b"}, "/rel", false},
		{"value", exec("/v"), both, []string{"/v"}, "/rel", false},
		{"value argv", exec("/v", "v0", "b"), both, []string{"/v", "b"}, "/rel", false},
		{"shell no value", sh(""), both, nil, "", true},
		{"shell no value argv", sh("", "a"), both, nil, "", true},
		{"shell", sh("echo $X"), both, []string{"/bin/sh", "-c", "echo $X"}, "/rel", false},
		{"shell argv", sh("echo $X", "ignored"), epOnly, []string{"/bin/sh", "-c", "echo $X"}, "/srv", false},
		{"no image shell", sh("true"), nil, []string{"/bin/sh", "-c", "true"}, "", false},
		{"no image value argv", exec("/bin/echo", "/bin/echo", "x"), nil, []string{"/bin/echo", "x"}, "", false},
		{"no image argv", exec("", "/bin/echo", "x"), nil, []string{"/bin/echo", "x"}, "", false},
		{"no image nothing", exec(""), nil, nil, "", true},
	} {
		args, cwd, err := launchCommand(c.cmd, c.ic)
		if (err != nil) != c.err || !slices.Equal(args, c.want) || cwd != c.cwd {
			t.Errorf("%s: %q %q %v, want %q %q err=%v", c.name, args, cwd, err, c.want, c.cwd, c.err)
		}
	}
}
