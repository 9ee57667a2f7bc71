package cluster

import (
	"errors"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
)

// mayRunUnconfined refuses a task that asks for no seccomp filter
// (container.linux_info.seccomp.unconfined) unless the framework's principal
// is a superuser (docs/runtime.md, "Seccomp").
func mayRunUnconfined(p auth.Principal, ti api.TaskInfo) error {
	c := ti.Container
	if c == nil || c.LinuxInfo == nil || c.LinuxInfo.Seccomp == nil || !c.LinuxInfo.Seccomp.Unconfined || p.Superuser {
		return nil
	}
	return errors.New("not authorized to launch without a seccomp filter (unconfined needs a superuser principal)")
}
