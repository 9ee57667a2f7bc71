package apps

import (
	"fmt"
	"path/filepath"
)

// hostPathDetails are the 422 details of hostPath volumes that no agent's
// --allowed-host-paths covers (issue 15 point 6): such an app could never
// run. Without agents (or without Config.HostPathAllowed) the agents
// decide at launch, ending the task TASK_ERROR with the reason.
//
// A relative hostPath is Mesos' sandbox-relative host path; nodectl takes
// one only when it is the containerPath of one of the app's persistent
// volumes, which is how Marathon's documentation mounts a persistent
// volume at an absolute path of an image (the MySQL example of
// https://mesosphere.github.io/marathon/docs/persistent-volumes.html).
// Any other sandbox path could be a link the task made, pointing anywhere.
func (a *Apps) hostPathDetails(app *App) []Detail {
	if app.Container == nil {
		return nil
	}
	persistent := map[string]bool{}
	for _, v := range app.Container.Volumes {
		if v.Persistent != nil {
			persistent[filepath.Clean(v.ContainerPath)] = true
		}
	}
	var ds []Detail
	for i, v := range app.Container.Volumes {
		if v.HostPath == "" || v.Persistent != nil {
			continue
		}
		if !filepath.IsAbs(v.HostPath) {
			if !persistent[filepath.Clean(v.HostPath)] {
				ds = append(ds, Detail{Path: fmt.Sprintf("/container/volumes/%d/hostPath", i), Errors: []string{
					fmt.Sprintf("a relative hostPath (%s) must be the containerPath of one of the app's persistent volumes", v.HostPath)}})
			}
			continue
		}
		if a.cfg.HostPathAllowed == nil {
			continue
		}
		if ok, known := a.cfg.HostPathAllowed(v.HostPath); known && !ok {
			ds = append(ds, Detail{Path: fmt.Sprintf("/container/volumes/%d/hostPath", i), Errors: []string{
				fmt.Sprintf("host path %s is not under any agent's --allowed-host-paths", v.HostPath)}})
		}
	}
	ds = append(ds, a.networkDetails(app)...) // the same question for named networks (network.go)
	return append(ds, a.diskDetails(app)...)  // the same question for path and mount volumes (diskplace.go)
}
