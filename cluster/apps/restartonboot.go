package apps

import (
	"fmt"

	"nodectl/cluster/api"
)

// validateRestartOnBoot checks the label api.LabelRestartOnBoot, which the
// app's tasks carry to their agent (taskInfo copies the app's labels): an
// agent restarting after a host reboot relaunches such tasks from its own
// checkpoint, master or not (runtime/bootrelaunch.go). Its value must be
// true or false; and an app with secrets cannot have it on, since the
// agent keeps no secret values to relaunch with (it would silently end
// TASK_LOST instead).
func (a *App) validateRestartOnBoot() []Detail {
	v, ok := a.Labels[api.LabelRestartOnBoot]
	if !ok {
		return nil
	}
	path := "/labels/" + api.LabelRestartOnBoot
	on, err := api.RestartOnBootValue(v)
	if err != nil {
		return []Detail{{Path: path, Errors: []string{err.Error()}}}
	}
	if on && len(a.Secrets) > 0 {
		return []Detail{{Path: path, Errors: []string{"an app with secrets cannot restart on boot: agents keep no secret values to relaunch its tasks with"}}}
	}
	return nil
}

// validateRestartOnBoot refuses the label on a pod (or one of its
// containers): a pod's tasks are a task group, which agents do not
// relaunch after a reboot yet.
func (p *Pod) validateRestartOnBoot() []Detail {
	var ds []Detail
	msg := notYet("label " + api.LabelRestartOnBoot + " on a pod (agents relaunch lone tasks after a reboot, not task groups)")
	if _, ok := p.Labels[api.LabelRestartOnBoot]; ok {
		ds = append(ds, Detail{Path: "/labels/" + api.LabelRestartOnBoot, Errors: []string{msg}})
	}
	for i, c := range p.Containers {
		if _, ok := c.Labels[api.LabelRestartOnBoot]; ok {
			ds = append(ds, Detail{Path: fmt.Sprintf("/containers/%d/labels/%s", i, api.LabelRestartOnBoot), Errors: []string{msg}})
		}
	}
	return ds
}
