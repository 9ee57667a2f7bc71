package apps

import "fmt"

// hostPathDetails are the 422 details of hostPath volumes that no agent's
// --allowed-host-paths covers (issue 15 point 6): such an app could never
// run. Without agents (or without Config.HostPathAllowed) the agents
// decide at launch, ending the task TASK_ERROR with the reason.
func (a *Apps) hostPathDetails(app *App) []Detail {
	if a.cfg.HostPathAllowed == nil || app.Container == nil {
		return nil
	}
	var ds []Detail
	for i, v := range app.Container.Volumes {
		if v.HostPath == "" || v.Persistent != nil {
			continue
		}
		if ok, known := a.cfg.HostPathAllowed(v.HostPath); known && !ok {
			ds = append(ds, Detail{Path: fmt.Sprintf("/container/volumes/%d/hostPath", i), Errors: []string{
				fmt.Sprintf("host path %s is not under any agent's --allowed-host-paths", v.HostPath)}})
		}
	}
	return ds
}
