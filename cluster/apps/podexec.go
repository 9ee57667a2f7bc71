package apps

import "net/http"

// How a pod container's process is started, as Marathon's TaskGroupBuilder
// hands it to Mesos (mesosphere/marathon
// src/main/scala/mesosphere/mesos/TaskGroupBuilder.scala; Marathon types
// podContainer.raml):
//
//   - "user": the container's user, else the pod's, is the task's
//     CommandInfo.user (the agent runs the container as that user, as for
//     an app's "user"); neither: the framework's user.
//   - exec.command.shell: /bin/sh -c, replacing the image's entrypoint
//     (overrideEntrypoint is implied; false is refused).
//   - exec.command.argv: shell=false with argv as the arguments. With an
//     image, overrideEntrypoint true makes argv[0] the executable (the
//     image's entrypoint is ignored); otherwise argv is appended to the
//     image's entrypoint (Mesos' docker runtime isolator; see
//     runtime/imagecmd.go). Without an image argv[0] is the executable
//     either way.
//   - "tty" is refused (ttyRefusal).

// ttyRefusal is the 422 of a container with "tty": true.
const ttyRefusal = "tty is not supported: a pseudo-terminal serves a terminal attached to the container " +
	"(Mesos' ATTACH_CONTAINER_INPUT, `dcos task exec --tty`), and nodectl has no container attach API; " +
	"a container's output goes to its sandbox's stdout and stderr files"

// containerUser is the user a pod container runs as ("" for the
// framework's).
func containerUser(def *Pod, c PodContainer) string {
	if c.User != "" {
		return c.User
	}
	return def.User
}

// argvValue is the command value of a container with exec.command.argv:
// argv[0] when it replaces the entrypoint, none when argv is appended to
// the image's entrypoint.
func argvValue(c PodContainer) string {
	if c.Image != nil && (c.Exec.OverrideEntrypoint == nil || !*c.Exec.OverrideEntrypoint) {
		return ""
	}
	return c.Exec.Command.Argv[0]
}

// permitPodUsers checks that the request's principal may run tasks as
// each user the pod's containers run as (Mesos run_tasks; a pod's own
// "user" counts where a container names none).
func (a *Apps) permitPodUsers(w http.ResponseWriter, r *http.Request, p *Pod) bool {
	seen := map[string]bool{}
	for _, c := range p.Containers {
		u := containerUser(p, c)
		if seen[u] {
			continue
		}
		seen[u] = true
		if !a.permitUser(w, r, &App{User: u}) {
			return false
		}
	}
	return true
}
