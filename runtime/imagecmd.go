package runtime

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"nodectl/cluster/api"
	"nodectl/runtime/image"
)

// launchCommand is the argv and working directory of a task, merging its
// CommandInfo with its image's config the way Mesos' docker runtime
// isolator does (http://mesos.apache.org/documentation/latest/isolators/docker-runtime/,
// src/slave/containerizer/mesos/isolators/docker/runtime.cpp):
//
//   - shell (the default) with a value: /bin/sh -c value; the image's
//     Entrypoint and Cmd are ignored. Shell without a value is an error.
//   - shell=false with a value: value is the executable, Arguments its
//     argv (Arguments[0] is argv[0]); Entrypoint and Cmd are ignored.
//   - shell=false without a value: the image's Entrypoint, then Arguments
//     when given, else Cmd; with no Entrypoint, Cmd[0] then Arguments when
//     given, else Cmd[1:]. Neither is an error. Without an image, Arguments
//     alone are the argv (Mesos would refuse; Marathon sets the value to
//     args[0] there, which runs the same).
//
// The working directory is the image's WorkingDir when it sets one (a
// relative one is taken from /, as Docker does), else "" (the sandbox).
func launchCommand(c *api.CommandInfo, ic *image.ImageConfig) (args []string, cwd string, err error) {
	if c == nil {
		c = &api.CommandInfo{Shell: new(bool)}
	}
	var entrypoint, cmd []string
	if ic != nil {
		entrypoint, cmd = ic.Entrypoint, ic.Cmd
		if wd := strings.TrimSpace(ic.WorkingDir); wd != "" {
			cwd = path.Join("/", wd)
		}
	}
	if c.IsShell() {
		if strings.TrimSpace(c.Value) == "" {
			return nil, "", fmt.Errorf("shell command is empty")
		}
		return []string{"/bin/sh", "-c", c.Value}, cwd, nil
	}
	clone := func(s ...[]string) []string {
		var out []string
		for _, p := range s {
			out = append(out, p...)
		}
		return out
	}
	switch {
	case c.Value != "" && len(c.Arguments) > 0:
		return clone([]string{c.Value}, c.Arguments[1:]), cwd, nil
	case c.Value != "":
		return []string{c.Value}, cwd, nil
	case len(entrypoint) > 0 && len(c.Arguments) > 0:
		return clone(entrypoint, c.Arguments), cwd, nil
	case len(entrypoint) > 0:
		return clone(entrypoint, cmd), cwd, nil
	case len(cmd) > 0 && len(c.Arguments) > 0:
		return clone(cmd[:1], c.Arguments), cwd, nil
	case len(cmd) > 0:
		return clone(cmd), cwd, nil
	case ic == nil && len(c.Arguments) > 0:
		return clone(c.Arguments), cwd, nil
	case ic != nil:
		return nil, "", fmt.Errorf("no command: the image has no Entrypoint or Cmd; give a command value")
	}
	return nil, "", fmt.Errorf("no command: give a command value or arguments, or use an image with an entrypoint")
}

// forcePull pulls ref again when the task's image says cached=false
// (Marathon's forcePullImage), even when the store has it; Mesos' docker
// store does the same and fails the launch when that pull fails.
func (a *Agent) forcePull(ctx context.Context, ti api.TaskInfo, ref string, opts ...image.PullOption) error {
	c := ti.Container
	if c == nil || c.Mesos == nil || c.Mesos.Image == nil || c.Mesos.Image.Cached == nil || *c.Mesos.Image.Cached {
		return nil
	}
	if a.images == nil {
		return errors.New("no image store")
	}
	if _, err := a.images.Pull(ctx, ref, nil, opts...); err != nil {
		return fmt.Errorf("force pull of image %s: %w", ref, err)
	}
	return nil
}
