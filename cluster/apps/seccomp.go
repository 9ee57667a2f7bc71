package apps

import (
	"net/http"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
)

// LinuxInfo is Marathon's container.linuxInfo; only seccomp is supported.
type LinuxInfo struct {
	Seccomp *Seccomp `json:"seccomp,omitempty"`
}

// Seccomp is Marathon's container.linuxInfo.seccomp: a profile in the
// agents' --seccomp_config_dir instead of their default, or no filter at all.
type Seccomp struct {
	ProfileName string `json:"profileName,omitempty"`
	Unconfined  bool   `json:"unconfined,omitempty"`
}

func (c *Container) seccomp() *Seccomp {
	if c == nil || c.LinuxInfo == nil {
		return nil
	}
	return c.LinuxInfo.Seccomp
}

// linuxInfo is the Mesos ContainerInfo.linux_info the app's tasks carry.
func (c *Container) linuxInfo() *api.LinuxInfo {
	sc := c.seccomp()
	if sc == nil {
		return nil
	}
	return &api.LinuxInfo{Seccomp: &api.SeccompInfo{ProfileName: sc.ProfileName, Unconfined: sc.Unconfined}}
}

// permitSeccomp refuses an unconfined (no seccomp filter) app unless the
// request's principal is a superuser: leaving the filter off reopens the
// kernel surface every other task is kept from (docs/runtime.md).
func (a *Apps) permitSeccomp(w http.ResponseWriter, r *http.Request, app *App) bool {
	sc := app.Container.seccomp()
	if sc == nil || !sc.Unconfined || a.cfg.Guard == nil {
		return true
	}
	if p, ok := auth.From(r.Context()); ok && p.Superuser {
		return true
	}
	writeMessage(w, http.StatusForbidden, "Not Authorized to perform this action! (container.linuxInfo.seccomp.unconfined needs a superuser principal)")
	return false
}
