package apps

import (
	"fmt"
	"path/filepath"

	"nodectl/cluster/api"
)

// Pod host volumes (Marathon's pod.raml: volumes[].host, a directory of
// the agent bound at each mount's mountPath): the same rules as apps'
// hostPath volumes (hostpaths.go). The agent decides each at launch
// against its --allowed-host-paths (TASK_ERROR otherwise, read-only
// unless the entry allows rw); with agents registered, a host path none
// of them allows is a 422 here. Pods' persistent volumes are not built:
// they are refused with 422 (pods.go).

// validateHostVolumes returns the 422 details of the pod's host volumes
// and of their mounts.
func (p *Pod) validateHostVolumes() []Detail {
	var ds []Detail
	host := map[string]bool{}
	for i, v := range p.Volumes {
		if v.Host == "" {
			continue
		}
		host[v.Name] = true
		if !filepath.IsAbs(v.Host) {
			ds = append(ds, Detail{Path: fmt.Sprintf("/volumes/%d/host", i), Errors: []string{"must be an absolute path on the agent"}})
		}
		if len(v.Persistent) > 0 || v.Secret != "" {
			ds = append(ds, Detail{Path: fmt.Sprintf("/volumes/%d", i), Errors: []string{"a volume is one of host, persistent or secret"}})
		}
	}
	for i, c := range p.Containers {
		for j, m := range c.VolumeMounts {
			if host[m.Name] && !filepath.IsAbs(m.MountPath) {
				ds = append(ds, Detail{Path: fmt.Sprintf("/containers/%d/volumeMounts/%d/mountPath", i, j),
					Errors: []string{"a host volume's mountPath must be an absolute path in the container"}})
			}
		}
	}
	return ds
}

// podHostPathDetails: host volumes no registered agent's
// --allowed-host-paths covers (as hostPathDetails for apps).
func (a *Apps) podHostPathDetails(p *Pod) []Detail {
	if a.cfg.HostPathAllowed == nil {
		return nil
	}
	var ds []Detail
	for i, v := range p.Volumes {
		if v.Host == "" || !filepath.IsAbs(v.Host) {
			continue
		}
		if ok, known := a.cfg.HostPathAllowed(v.Host); known && !ok {
			ds = append(ds, Detail{Path: fmt.Sprintf("/volumes/%d/host", i), Errors: []string{
				fmt.Sprintf("host path %s is not under any agent's --allowed-host-paths", v.Host)}})
		}
	}
	return ds
}

// podHostVolume is the container volume of mount m when it mounts one of
// the pod's host volumes, else nil.
func podHostVolume(def *Pod, m PodVolumeMount) *api.Volume {
	for _, v := range def.Volumes {
		if v.Name != m.Name || v.Host == "" {
			continue
		}
		mode := api.VolumeRW
		if m.ReadOnly {
			mode = api.VolumeRO
		}
		return &api.Volume{ContainerPath: m.MountPath, HostPath: v.Host, Mode: mode}
	}
	return nil
}
