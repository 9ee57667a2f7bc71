package runtime

import (
	"context"
	"fmt"
	"slices"

	"nodectl/cluster/api"
	"nodectl/runtime/internal/container"
)

// commandCheck runs a COMMAND health check inside the task's container, as
// an extra process of the container the way `runc exec` runs one: in the
// task's namespaces (its root, private /tmp and sandbox) and cgroup, as the
// task's user, with the task's capabilities, no_new_privs and seccomp
// filter, never with the agent's privileges on the host. Mesos does the
// same for command tasks (src/checks/checker_process.cpp enters the task's
// namespaces); Marathon's COMMAND health checks are Mesos ones
// (https://mesosphere.github.io/marathon/docs/health-checks.html).
//
// The check's environment is the task's, plus the check's own variables.
// A check that runs past its timeout (ctx) is killed with everything it
// started. A task without a running container has nothing to check in: the
// check fails rather than run on the host.
func (a *Agent) commandCheck(ctx context.Context, t *task, cmd *api.CommandInfo) error {
	a.tasks.mu.Lock()
	ctr := t.ctr
	a.tasks.mu.Unlock()
	if ctr == nil {
		return fmt.Errorf("command check: the task has no container to run in")
	}
	args := []string{"/bin/sh", "-c", cmd.Value}
	if !cmd.IsShell() {
		// Mesos: value is the executable, arguments its argv.
		args = []string{cmd.Value}
		if len(cmd.Arguments) > 1 {
			args = append(args, cmd.Arguments[1:]...)
		}
	}
	env := slices.Clone(ctr.Spec().Env)
	if cmd.Environment != nil {
		for _, v := range cmd.Environment.Variables {
			if v.Type == api.EnvTypeSecret {
				continue // its value is in SecretEnv below
			}
			env = append(env, v.Name+"="+v.Value)
		}
	}
	// Only in memory: after an agent restart a COMMAND check runs without
	// the task's secret variables (the shim never wrote them down).
	env = append(env, ctr.Spec().SecretEnv...)
	ex, out, err := ctr.Exec(ctx, container.ExecSpec{Args: args, Env: env})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("command check timed out: %s", truncate(string(out), 200))
		}
		return fmt.Errorf("command check: %w", err)
	}
	if !ex.Success() {
		return fmt.Errorf("command check: %s: %s", ex, truncate(string(out), 200))
	}
	return nil
}
