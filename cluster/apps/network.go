package apps

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"nodectl/cluster/api"
)

// Networking of Marathon apps (https://mesosphere.github.io/marathon/docs/networking.html,
// ports.html). Built: host networking (the default) and container/bridge
// with portMappings (also the legacy container.docker.network BRIDGE with
// container.docker.portMappings). A bridge task runs on the agent's
// built-in CNI bridge network, "mesos-bridge" (Marathon's name for it on
// the Mesos containerizer); each port mapping takes a host port from the
// offer (hostPort 0: any), which the agent forwards to the containerPort.
// As Marathon documents, the task's PORT0…/PORT_<NAME>/PORTS are the host
// ports. Refused with a 422 until built: container networks
// (mode "container", named networks), ipAddress, networkNames.

// Network is one of an app's networks (Marathon's Network).
type Network struct {
	Mode   string            `json:"mode"`
	Name   string            `json:"name,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

// PortMapping maps a host port (0: one from the offer) to a container
// port in bridge mode (Marathon's ContainerPortMapping).
type PortMapping struct {
	ContainerPort int               `json:"containerPort"`
	HostPort      int               `json:"hostPort"`
	ServicePort   int               `json:"servicePort"`
	Protocol      string            `json:"protocol,omitempty"`
	Name          string            `json:"name,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	NetworkNames  []string          `json:"networkNames,omitempty"`
}

// IPAddress is Marathon's legacy ipAddress: the app runs on the
// container network NetworkName (as networks [{"mode": "container",
// "name": NetworkName}]).
type IPAddress struct {
	NetworkName string            `json:"networkName,omitempty"`
	Groups      []string          `json:"groups,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Discovery   *struct {
		Ports []struct {
			Number   int               `json:"number"`
			Name     string            `json:"name"`
			Protocol string            `json:"protocol"`
			Labels   map[string]string `json:"labels,omitempty"`
		} `json:"ports"`
	} `json:"discovery,omitempty"`
}

// Network modes.
const (
	modeHost   = "host"
	modeBridge = "container/bridge"
	modeUser   = "container"
)

// bridgeNetworkName is the agent's built-in CNI bridge network.
const bridgeNetworkName = "mesos-bridge"

// legacyModes are the network modes of the legacy docker.network values.
var legacyModes = map[string]string{"BRIDGE": modeBridge, "HOST": modeHost}

// normalizeNetworks derives networks from the legacy docker.network (kept
// as given, with docker.portMappings), fills protocols in, and gives a
// bridge app no port definitions (its host ports are its mappings').
func (a *App) normalizeNetworks() {
	a.normalizeIPAddress()
	c := a.Container
	if c == nil {
		return
	}
	if d := c.Docker; d != nil {
		if legacy := legacyModes[d.Network]; legacy != "" && len(a.Networks) == 0 {
			a.Networks = []Network{{Mode: legacy}}
		}
		for i := range d.PortMappings {
			if d.PortMappings[i].Protocol == "" {
				d.PortMappings[i].Protocol = "tcp"
			}
		}
	}
	for i := range c.PortMappings {
		if c.PortMappings[i].Protocol == "" {
			c.PortMappings[i].Protocol = "tcp"
		}
	}
	if (a.bridged() || a.containerNetwork() != "") && a.PortDefinitions == nil && a.Ports == nil {
		a.PortDefinitions = []PortDefinition{}
	}
}

// normalizeIPAddress derives networks from the legacy ipAddress (kept as
// given).
func (a *App) normalizeIPAddress() {
	if a.IPAddress != nil && len(a.Networks) == 0 {
		a.Networks = []Network{{Mode: modeUser, Name: a.IPAddress.NetworkName}}
	}
}

// containerNetwork is the network of an app in container mode ("" in
// host or bridge mode).
func (a *App) containerNetwork() string {
	if len(a.Networks) == 1 && a.Networks[0].Mode == modeUser {
		return a.Networks[0].Name
	}
	return ""
}

// networkDetails are the 422 details of network names no agent knows.
func (a *Apps) networkDetails(app *App) []Detail {
	name := app.containerNetwork()
	if name == "" || a.cfg.NetworkKnown == nil || a.cfg.NetworkKnown(name) {
		return nil
	}
	return []Detail{{Path: "/networks/0/name", Errors: []string{fmt.Sprintf("unknown network %q: not a cluster network (--cluster-cidr, --cluster-network) nor one of the agents' --network_cni_config_dir", name)}}}
}

// bridged: the app runs in container/bridge mode.
func (a *App) bridged() bool {
	return len(a.Networks) == 1 && a.Networks[0].Mode == modeBridge
}

// portMappings are the app's port mappings (container.portMappings, or
// the legacy container.docker.portMappings) and the path they are at.
func (a *App) portMappings() ([]PortMapping, string) {
	c := a.Container
	if c == nil {
		return nil, ""
	}
	if len(c.PortMappings) == 0 && c.Docker != nil && len(c.Docker.PortMappings) > 0 {
		return c.Docker.PortMappings, "/container/docker/portMappings"
	}
	return c.PortMappings, "/container/portMappings"
}

// hostPortDefs are the host ports a task of the app takes, in order: its
// port definitions, or in bridge mode one per port mapping.
func (a *App) hostPortDefs() []PortDefinition {
	if !a.bridged() {
		return a.PortDefinitions
	}
	var out []PortDefinition
	pms, _ := a.portMappings()
	for _, pm := range pms {
		out = append(out, PortDefinition{Port: pm.HostPort, Protocol: pm.Protocol, Name: pm.Name, Labels: pm.Labels})
	}
	return out
}

// fixedHostPorts: a nonzero requested host port must be that port (in
// bridge mode always, otherwise with requirePorts).
func (a *App) fixedHostPorts() bool { return a.RequirePorts || a.bridged() }

// validateNetworks is the 422 details of the app's networking.
func (a *App) validateNetworks() []Detail {
	var ds []Detail
	add := func(path string, msg ...string) { ds = append(ds, Detail{Path: path, Errors: msg}) }
	for i, n := range a.Networks {
		p := fmt.Sprintf("/networks/%d", i)
		switch n.Mode {
		case modeHost, modeBridge:
			if n.Name != "" {
				add(p+"/name", "a network name is only for mode container")
			}
		case modeUser:
			if n.Name == "" && a.IPAddress == nil { // legacy ipAddress: reported at /ipAddress below
				add(p+"/name", "mode container needs the name of a network")
			}
		default:
			add(p+"/mode", "must be one of host, container/bridge, container")
		}
	}
	if len(a.Networks) > 1 {
		add("/networks", "more than one network is not yet supported by nodectl (networking issue)")
	}
	if c := a.Container; c != nil && c.Docker != nil {
		if nw := c.Docker.Network; nw != "" {
			switch mode := legacyModes[nw]; {
			case mode == "":
				add("/container/docker/network", fmt.Sprintf("container.docker.network %q is not yet supported by nodectl (networking issue): use HOST or BRIDGE", nw))
			case len(a.Networks) != 1 || a.Networks[0].Mode != mode:
				add("/container/docker/network", fmt.Sprintf("container.docker.network %q contradicts networks", nw))
			}
		}
		if len(c.Docker.PortMappings) > 0 && len(c.PortMappings) > 0 {
			add("/container/docker/portMappings", "give port mappings in container.portMappings or container.docker.portMappings, not both")
		}
	}
	if ip := a.IPAddress; ip != nil {
		switch {
		case ip.NetworkName == "":
			add("/ipAddress", "ipAddress needs a networkName: the name of a container network") // the field the definition has
		case len(a.Networks) != 1 || a.Networks[0].Mode != modeUser || a.Networks[0].Name != ip.NetworkName:
			add("/ipAddress", "ipAddress contradicts networks")
		}
		if len(ip.Groups) > 0 {
			add("/ipAddress/groups", "ipAddress.groups is not supported (network isolation is by network: --cluster-network allow)")
		}
	}
	pms, pmPath := a.portMappings()
	if len(pms) > 0 && !a.bridged() && a.containerNetwork() == "" {
		add(pmPath, "port mappings need container/bridge or container networking (networks: [{\"mode\": \"container/bridge\"}])")
	}
	if a.containerNetwork() != "" {
		at := "/networks"
		if a.IPAddress != nil {
			at = "/ipAddress"
		}
		if c := a.Container; c == nil || c.Docker == nil || c.Docker.Image == "" {
			add(at, "container networking needs a container image (container.docker.image)")
		}
		if len(a.PortDefinitions) > 0 {
			add("/portDefinitions", "portDefinitions must be empty in container mode: use container.portMappings")
		}
		for i, pm := range pms {
			if pm.HostPort != 0 {
				add(fmt.Sprintf("%s/%d/hostPort", pmPath, i), "host ports in container mode are not yet supported by nodectl: the containerPort is reached on the task's own address")
			}
		}
	}
	if a.bridged() {
		if c := a.Container; c == nil || c.Docker == nil || c.Docker.Image == "" {
			add("/networks", "container/bridge networking needs a container image (container.docker.image)")
		}
		if len(a.PortDefinitions) > 0 {
			add("/portDefinitions", "portDefinitions must be empty in container/bridge mode: use container.portMappings")
		}
	}
	names := map[string]bool{}
	for i, pm := range pms {
		p := fmt.Sprintf("%s/%d", pmPath, i)
		if pm.ContainerPort < 0 || pm.ContainerPort > 65535 {
			add(p+"/containerPort", "must be between 0 and 65535")
		}
		if pm.HostPort < 0 || pm.HostPort > 65535 {
			add(p+"/hostPort", "must be between 0 and 65535")
		}
		if pm.ServicePort < 0 || pm.ServicePort > 65535 {
			add(p+"/servicePort", "must be between 0 and 65535")
		}
		switch pm.Protocol {
		case "tcp", "udp", "tcp,udp", "udp,tcp":
		default:
			add(p+"/protocol", "must be one of tcp, udp, tcp,udp")
		}
		if pm.Name != "" {
			if names[pm.Name] {
				add(p+"/name", "Port names must be unique.")
			}
			names[pm.Name] = true
		}
		if len(pm.NetworkNames) > 0 {
			add(p+"/networkNames", "networkNames is not yet supported by nodectl (networking issue)")
		}
	}
	return ds
}

// networkInfos is the Mesos ContainerInfo.network_infos of a bridge task
// whose host ports are ports (one per mapping, in order); a containerPort
// of 0 is the host port, as Marathon does.
func networkInfos(def *App, ports []int) []api.NetworkInfo {
	if name := def.containerNetwork(); name != "" {
		return []api.NetworkInfo{{Name: name}}
	}
	if !def.bridged() {
		return nil
	}
	ni := api.NetworkInfo{Name: bridgeNetworkName}
	pms, _ := def.portMappings()
	for i, pm := range pms {
		if i >= len(ports) {
			break
		}
		cp := pm.ContainerPort
		if cp == 0 {
			cp = ports[i]
		}
		ni.PortMappings = append(ni.PortMappings, api.NetPortMapping{HostPort: uint32(ports[i]), ContainerPort: uint32(cp), Protocol: strings.ToLower(pm.Protocol)})
	}
	return []api.NetworkInfo{ni}
}

// recordIPs takes the task's addresses from a status update's
// container_status.network_infos (as Marathon does for its ipAddresses);
// an update without them keeps the known ones. It reports a change.
func (t *task) recordIPs(st api.TaskStatus) bool {
	if st.ContainerStatus == nil || len(st.ContainerStatus.NetworkInfo) == 0 {
		return false
	}
	b, err := json.Marshal(st.ContainerStatus.NetworkInfo)
	if err != nil {
		return false
	}
	var nis []struct {
		IPAddresses []struct {
			IPAddress string `json:"ip_address"`
		} `json:"ip_addresses"`
	}
	if json.Unmarshal(b, &nis) != nil {
		return false
	}
	var ips []string
	for _, ni := range nis {
		for _, ip := range ni.IPAddresses {
			if ip.IPAddress != "" {
				ips = append(ips, ip.IPAddress)
			}
		}
	}
	if len(ips) == 0 || slices.Equal(ips, t.IPs) {
		return false
	}
	t.IPs = ips
	return true
}

// taskIPs is a task's Marathon ipAddresses: its own addresses on a
// container network, else its host's.
func taskIPs(t *task) []map[string]string {
	if len(t.IPs) == 0 {
		return ipsOf(t.Host)
	}
	out := []map[string]string{}
	for _, ip := range t.IPs {
		proto := "IPv4"
		if strings.Contains(ip, ":") {
			proto = "IPv6"
		}
		out = append(out, map[string]string{"ipAddress": ip, "protocol": proto})
	}
	return out
}

// Service ports (Marathon's servicePort: https://mesosphere.github.io/marathon/docs/ports.html):
// a bridge app's port mapping with servicePort 0 is given one from
// [localPortMin, localPortMax), the range /v2/info reports, unused by
// any other app; an update keeps the ports the previous version had.
const (
	localPortMin = 10000
	localPortMax = 20000
)

// assignServicePortsLocked fills app's zero service ports; old is its
// previous version (nil for a new app).
func (a *Apps) assignServicePortsLocked(old, app *App) {
	if !app.bridged() {
		return
	}
	pms, _ := app.portMappings()
	used := map[int]bool{}
	for id, st := range a.apps {
		if id == app.ID || st.def == nil {
			continue
		}
		for _, pm := range servicePortMappings(st.def) {
			used[pm.ServicePort] = true
		}
	}
	var prev []PortMapping
	if old != nil {
		prev = servicePortMappings(old)
	}
	for i := range pms {
		if pms[i].ServicePort == 0 && i < len(prev) && prev[i].ServicePort != 0 && !used[prev[i].ServicePort] {
			pms[i].ServicePort = prev[i].ServicePort
		}
		if pms[i].ServicePort != 0 {
			used[pms[i].ServicePort] = true
		}
	}
	next := localPortMin
	for i := range pms {
		if pms[i].ServicePort != 0 {
			continue
		}
		for next < localPortMax && used[next] {
			next++
		}
		if next == localPortMax {
			return // the range is full: the mapping keeps 0
		}
		pms[i].ServicePort, used[next] = next, true
	}
}

// servicePortMappings are a bridge app's port mappings (nil otherwise).
func servicePortMappings(app *App) []PortMapping {
	if !app.bridged() {
		return nil
	}
	pms, _ := app.portMappings()
	return pms
}

// taskServicePorts is a task's Marathon servicePorts: its app's service
// ports in bridge mode, else its host ports (as before).
func (a *Apps) taskServicePortsLocked(t *task) []int {
	st := a.apps[t.AppID]
	if st == nil || st.def == nil || !st.def.bridged() {
		return portsOf(t)
	}
	out := []int{}
	for _, pm := range servicePortMappings(st.def) {
		out = append(out, pm.ServicePort)
	}
	return out
}
