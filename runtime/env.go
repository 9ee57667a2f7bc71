package runtime

import (
	"fmt"
	"strconv"
	"strings"

	"nodectl/cluster/api"
)

// taskEnv is the environment of a command task: Mesos' executor variables,
// PORT0…PORTn and PORTS from the task's port resources, HOST, then the
// image's and the task's own variables (the task's win).
func taskEnv(t *task, agentID, host, sandboxInside string, imageEnv []string) []string {
	env := []string{
		"MESOS_FRAMEWORK_ID=" + t.frameworkID,
		"MESOS_EXECUTOR_ID=" + t.executorID,
		"MESOS_TASK_ID=" + t.id,
		"NODECTL_TASK_ID=" + t.id,
		"MESOS_AGENT_ID=" + agentID,
		"MESOS_SLAVE_ID=" + agentID,
		"MESOS_DIRECTORY=" + t.sandbox,
		"MESOS_SANDBOX=" + sandboxInside,
		"MESOS_CHECKPOINT=" + boolDigit(t.framework.Checkpoint),
		"HOST=" + host,
	}
	var ports []string
	for _, r := range t.info.Resources.RangesOf("ports") {
		for p := r.Begin; p <= r.End && len(ports) < 1000; p++ {
			ports = append(ports, strconv.FormatUint(p, 10))
		}
	}
	for i, p := range ports {
		env = append(env, fmt.Sprintf("PORT%d=%s", i, p))
	}
	if len(ports) > 0 {
		env = append(env, "PORT="+ports[0], "PORTS="+strings.Join(ports, ","))
	}
	env = append(env, imageEnv...)
	if c := t.info.Command; c != nil && c.Environment != nil {
		for _, v := range c.Environment.Variables {
			if v.Type == api.EnvTypeSecret {
				continue // its value is in t.secrets, never in info
			}
			env = append(env, v.Name+"="+v.Value)
		}
	}
	return dedupEnv(env) // secret variables: container.Spec.SecretEnv
}

// dedupEnv keeps the last value of each variable, in first-seen order.
func dedupEnv(env []string) []string {
	idx := map[string]int{}
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
