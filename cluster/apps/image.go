package apps

import (
	"nodectl/cluster/api"
)

// Docker image semantics of an app, as Marathon hands them to Mesos
// (Marathon's TaskBuilder, mesosphere/marathon
// src/main/scala/mesosphere/mesos/TaskBuilder.scala): "cmd" is a shell
// command, which with an image replaces its Entrypoint and Cmd; "args"
// is shell=false with the args as arguments, and with an image no value,
// so the agent appends them to the image's Entrypoint (Mesos' docker
// runtime isolator; see runtime/imagecmd.go); "forcePullImage" is the
// image's cached=false.

// DockerParameter is one of Marathon's docker.parameters (a docker run
// flag); they are refused: nodectl runs images without a Docker daemon.
type DockerParameter struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// argsValue is the command value of an app with args: args[0] when it
// has no image (the executable, as Marathon sets it), none with one.
func argsValue(def *App) string {
	if c := def.Container; c != nil && c.Docker != nil && c.Docker.Image != "" {
		return ""
	}
	return def.Args[0]
}

// dockerImage is the Mesos image of an app's docker container.
func dockerImage(d *Docker) *api.Image {
	img := &api.Image{Type: "DOCKER", Docker: &api.DockerImage{Name: d.Image}}
	if d.ForcePullImage {
		img.Cached = new(bool)
	}
	return img
}

// validateDocker refuses the docker fields the runtime cannot honour.
func (a *App) validateDocker() []Detail {
	c := a.Container
	if c == nil || c.Docker == nil {
		return nil
	}
	var ds []Detail
	if c.Docker.Privileged {
		ds = append(ds, Detail{Path: "/container/docker/privileged", Errors: []string{
			"container.docker.privileged is not supported: tasks run unprivileged in the Mesos containerizer (container.linuxInfo.seccomp applies)"}})
	}
	if len(c.Docker.Parameters) > 0 {
		ds = append(ds, Detail{Path: "/container/docker/parameters", Errors: []string{
			"container.docker.parameters is not supported: there is no Docker daemon to pass docker run flags to"}})
	}
	if c.Docker.PullConfig != nil && c.Docker.Image == "" {
		ds = append(ds, Detail{Path: "/container/docker/pullConfig", Errors: []string{"pullConfig needs container.docker.image"}})
	}
	ds = append(ds, validatePullConfig("/container/docker/pullConfig", c.Docker.PullConfig, a.Secrets)...)
	return ds
}
