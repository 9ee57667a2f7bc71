package api

import (
	"fmt"
	"strings"
)

// LabelRestartOnBoot is the task label (a Marathon app label is carried
// into its tasks' TaskInfo labels) with which a task asks its agent to
// relaunch it from the agent's own checkpoint after a host reboot, with or
// without a reachable master: "true" turns it on. Without it (the default)
// a rebooted agent ends the task as Mesos does, TASK_LOST or TASK_GONE
// (https://mesos.apache.org/documentation/latest/agent-recovery/).
const LabelRestartOnBoot = "nodectl.restart-on-boot"

// RestartOnBoot reads LabelRestartOnBoot from labels: "true" or "false"
// (any case); absent is false. Any other value is an error, which
// frameworks refuse at submission and agents treat as false.
func RestartOnBoot(labels *Labels) (bool, error) {
	if labels == nil {
		return false, nil
	}
	on := false
	for _, l := range labels.Labels {
		if l.Key != LabelRestartOnBoot {
			continue
		}
		v, err := RestartOnBootValue(l.Value)
		if err != nil {
			return false, err
		}
		on = v
	}
	return on, nil
}

// RestartOnBootValue parses one value of LabelRestartOnBoot.
func RestartOnBootValue(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("label %s is %q: must be true or false", LabelRestartOnBoot, v)
}
