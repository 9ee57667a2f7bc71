package cluster

import (
	"path/filepath"
	"strings"

	"nodectl/cluster/api"
)

// HostPathAllowed says whether some registered agent's --allowed-host-paths
// (advertised in its AgentInfo) covers host path p, lexically: the agent
// still decides at launch, with symlinks resolved. known is false while
// no agent is registered (nothing can be told yet).
func (m *Master) HostPathAllowed(p string) (allowed, known bool) {
	if !filepath.IsAbs(p) {
		return false, true
	}
	p = filepath.Clean(p)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range m.agents {
		known = true
		for _, e := range a.Info.AllowedHostPaths {
			dir := e
			if d, mode, ok := strings.Cut(e, ":"); ok && (mode == "rw" || mode == "ro") {
				dir = d
			}
			dir = filepath.Clean(dir)
			if p == dir || dir == "/" || strings.HasPrefix(p, dir+"/") {
				return true, true
			}
		}
	}
	return false, known
}

// AgentDisks lists the PATH and MOUNT disks the registered agents report
// (their whole sizes, free or not). known is false while no agent is
// registered.
func (m *Master) AgentDisks() (disks api.Resources, known bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range m.agents {
		known = true
		for _, r := range a.Info.Resources {
			if r.Source() != nil {
				disks = append(disks, r.Unreserved())
			}
		}
	}
	return disks, known
}
