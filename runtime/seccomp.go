package runtime

import (
	"nodectl/cluster/api"
	"nodectl/runtime/internal/container"
)

// CheckSeccompProfile checks that the profile name in dir (Mesos'
// --seccomp_config_dir and --seccomp_profile_name) is a usable OCI
// LinuxSeccomp JSON file, so a bad flag stops the agent at start.
func CheckSeccompProfile(dir, name string) error {
	_, err := container.LoadSeccompProfile(dir, name)
	return err
}

// taskSeccomp is the task's seccomp choice (Mesos
// ContainerInfo.linux_info.seccomp): a profile name in the agent's config
// dir, or unconfined, which the master allowed for the launching principal.
func taskSeccomp(info api.TaskInfo) (profile string, unconfined bool) {
	c := info.Container
	if c == nil || c.LinuxInfo == nil || c.LinuxInfo.Seccomp == nil {
		return "", false
	}
	return c.LinuxInfo.Seccomp.ProfileName, c.LinuxInfo.Seccomp.Unconfined
}
