package apps

import (
	"slices"
	"strings"

	"nodectl/cluster/api"
)

// taskName is a task's Mesos name as Marathon gives it (PathId.toHostname):
// the app id's path segments in reverse order, joined with dots, so that
// Mesos-DNS names app /shop/web "web-shop.marathon.mesos".
func taskName(appID string) string {
	segs := strings.Split(strings.Trim(appID, "/"), "/")
	slices.Reverse(segs)
	return strings.Join(segs, ".")
}

// discoveryInfo is the Mesos DiscoveryInfo Marathon sets on a task: its
// name and its host ports (named as the app names them, with their
// protocol), which DNS serves as SRV records (cluster/dnsrecords.go).
func discoveryInfo(def *App, ports []int) *api.DiscoveryInfo {
	di := &api.DiscoveryInfo{Visibility: "FRAMEWORK", Name: taskName(def.ID)}
	defs := def.hostPortDefs()
	var dps []api.Port
	for i, p := range ports {
		var pd PortDefinition
		if i < len(defs) {
			pd = defs[i]
		}
		proto := strings.ToLower(pd.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		for _, pr := range strings.Split(proto, ",") {
			dps = append(dps, api.Port{Number: uint32(p), Name: pd.Name, Protocol: pr})
		}
	}
	if len(dps) > 0 {
		di.Ports = &api.DiscoveryPort{Ports: dps}
	}
	return di
}
