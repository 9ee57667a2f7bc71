package cluster

import (
	"strings"
	"testing"

	"nodectl/cluster/api"
)

// TestValidateVolumeSource: secrets and PARENT sandbox paths pass, every
// other source is refused by name.
func TestValidateVolumeSource(t *testing.T) {
	ok := []api.Volume{
		{ContainerPath: "h", HostPath: "/srv"},
		{ContainerPath: "s", Source: &api.VolumeSource{Type: api.VolumeTypeSecret}},
		{ContainerPath: "p", Source: &api.VolumeSource{Type: api.VolumeSourceSandboxPath, SandboxPath: &api.SandboxPath{Type: api.SandboxPathParent, Path: "data"}}},
	}
	for _, v := range ok {
		if err := validateVolumeSource(v); err != nil {
			t.Errorf("%s: %v", v.ContainerPath, err)
		}
	}
	bad := map[string]api.Volume{
		"DOCKER_VOLUME": {ContainerPath: "d", Source: &api.VolumeSource{Type: "DOCKER_VOLUME"}},
		"SELF":          {ContainerPath: "p", Source: &api.VolumeSource{Type: api.VolumeSourceSandboxPath, SandboxPath: &api.SandboxPath{Type: "SELF", Path: "x"}}},
		"..":            {ContainerPath: "p", Source: &api.VolumeSource{Type: api.VolumeSourceSandboxPath, SandboxPath: &api.SandboxPath{Type: api.SandboxPathParent, Path: "../x"}}},
	}
	for want, v := range bad {
		if err := validateVolumeSource(v); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error naming it", want, err)
		}
	}
}
