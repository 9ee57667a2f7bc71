package apps

import (
	"fmt"
	"sort"
	"strconv"

	"nodectl/cluster/api"
)

// Pod endpoints in host networking (Marathon docs: "Pods", "Endpoints";
// types/pod.raml Endpoint in mesosphere/marathon): each endpoint of a
// container gets a host port from the offer (hostPort 0: any offered
// port; another value: that port, which the offer must hold). Every
// container of the instance sees each endpoint's port as
// EP_HOST_<NAME> (the name upper-cased, other characters than letters
// and digits as "_"), as Marathon sets it, since the containers share the
// host network; EP_CONTAINER_<NAME> is the same port, since in host
// networking the container's port is the host's (a containerPort is
// shown back but has no other effect, as in Marathon). The ports are in the instance status (endpoints with
// allocatedHostPort) and a container's http or tcp health check names
// the endpoint it probes, which the agent checks on 127.0.0.1:<hostPort>.
//
// Container and bridge networking (where containerPort means a port of
// the pod's own network namespace) and networkNames belong to the
// networking issue: they are refused with 422.

// PodEndpoint is one endpoint of a pod container.
type PodEndpoint struct {
	Name          string            `json:"name"`
	ContainerPort *int              `json:"containerPort,omitempty"`
	HostPort      *int              `json:"hostPort,omitempty"`
	Protocol      []string          `json:"protocol,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	NetworkNames  []string          `json:"networkNames,omitempty"`
}

// podHTTPCheck is a pod container's healthCheck.http
// (types/healthCheck.raml HttpHealthCheck).
type podHTTPCheck struct {
	Endpoint string `json:"endpoint"`
	Path     string `json:"path,omitempty"`
	Scheme   string `json:"scheme,omitempty"`
}

// podTCPCheck is a pod container's healthCheck.tcp.
type podTCPCheck struct {
	Endpoint string `json:"endpoint"`
}

// validateEndpoints returns the 422 details of the pod's endpoints and of
// the http and tcp health checks that name them.
func (p *Pod) validateEndpoints() []Detail {
	var ds []Detail
	add := func(at, msg string) { ds = append(ds, Detail{Path: at, Errors: []string{msg}}) }
	host := true
	for _, n := range p.Networks {
		host = host && n.Mode == "host"
	}
	names := map[string]bool{}
	fixed := map[int]bool{}
	for i, c := range p.Containers {
		for j, e := range c.Endpoints {
			pe := fmt.Sprintf("/containers/%d/endpoints/%d", i, j)
			switch {
			case !containerNameRE.MatchString(e.Name):
				add(pe+"/name", "must fully match regular expression '"+containerNameRE.String()+"'")
			case names[e.Name]:
				add(pe+"/name", "endpoint names must be unique in a pod")
			}
			names[e.Name] = true
			if e.ContainerPort != nil && !host {
				add(pe+"/containerPort", notYet("containerPort (container networking for pods)"))
			}
			if e.ContainerPort != nil && (*e.ContainerPort < 0 || *e.ContainerPort > 65535) {
				add(pe+"/containerPort", "must be between 0 and 65535")
			}
			if len(e.NetworkNames) > 0 {
				add(pe+"/networkNames", notYet("networkNames (container networking for pods)"))
			}
			switch hp := e.HostPort; {
			case hp == nil && !host:
			case hp == nil:
				add(pe+"/hostPort", "hostPort is required in host networking (0 for any port)")
			case *hp < 0 || *hp > 65535:
				add(pe+"/hostPort", "must be between 0 and 65535")
			case *hp != 0 && fixed[*hp]:
				add(pe+"/hostPort", fmt.Sprintf("host port %d is used by another endpoint of the pod", *hp))
			case *hp != 0:
				fixed[*hp] = true
			}
		}
	}
	for i, c := range p.Containers {
		hc := c.HealthCheck
		if hc == nil {
			continue
		}
		var ep, at string
		switch {
		case len(hc.HTTP) > 0:
			at = fmt.Sprintf("/containers/%d/healthCheck/http", i)
			var h podHTTPCheck
			if err := strictDecode(hc.HTTP, &h); err != nil {
				add(at, "invalid http health check: "+err.Error())
				continue
			}
			if h.Scheme != "" && h.Scheme != "HTTP" && h.Scheme != "HTTPS" {
				add(at+"/scheme", "must be HTTP or HTTPS")
			}
			ep = h.Endpoint
		case len(hc.TCP) > 0:
			at = fmt.Sprintf("/containers/%d/healthCheck/tcp", i)
			var t podTCPCheck
			if err := strictDecode(hc.TCP, &t); err != nil {
				add(at, "invalid tcp health check: "+err.Error())
				continue
			}
			ep = t.Endpoint
		default:
			continue
		}
		if !names[ep] {
			add(at+"/endpoint", fmt.Sprintf("endpoint %q is not one of the pod's endpoints", ep))
		}
	}
	return ds
}

// pickEndpointPorts picks the host ports of the pod's endpoints out of
// the ports of one role in left: the fixed ones first, then the lowest
// free port for each hostPort 0. It returns them by endpoint name.
func pickEndpointPorts(def *Pod, left api.Resources) (map[string]int, string, bool) {
	var eps []PodEndpoint
	for _, c := range def.Containers {
		eps = append(eps, c.Endpoints...)
	}
	if len(eps) == 0 {
		return nil, "", true
	}
	for _, r := range left {
		if r.Name != "ports" || r.Ranges == nil || r.Dynamic() != nil {
			continue
		}
		avail := r.Ranges.Range
		taken := map[uint64]bool{}
		out := map[string]int{}
		ok := true
		for _, e := range eps { // fixed first
			if e.HostPort == nil || *e.HostPort == 0 {
				continue
			}
			p, found := pickPort(avail, taken, *e.HostPort, true)
			if !found {
				ok = false
				break
			}
			taken[p], out[e.Name] = true, int(p)
		}
		for _, e := range eps {
			if !ok || e.HostPort != nil && *e.HostPort != 0 {
				continue
			}
			p, found := pickPort(avail, taken, 0, false)
			if !found {
				ok = false
				break
			}
			taken[p], out[e.Name] = true, int(p)
		}
		if ok {
			return out, r.Role, true
		}
	}
	return nil, "", false
}

// endpointPortsResource is the ports resource of container c's endpoints.
func endpointPortsResource(c PodContainer, ports map[string]int, role string) api.Resources {
	var rg []api.Range
	for _, e := range c.Endpoints {
		if p, ok := ports[e.Name]; ok {
			rg = append(rg, api.Range{Begin: uint64(p), End: uint64(p)})
		}
	}
	if len(rg) == 0 {
		return nil
	}
	sort.Slice(rg, func(i, j int) bool { return rg[i].Begin < rg[j].Begin })
	r := api.RangesResource("ports", rg...)
	r.Role = role
	return api.Resources{r}.Add(nil)
}

// allPortsResource is the ports resource of every endpoint of the pod.
func allPortsResource(def *Pod, ports map[string]int, role string) api.Resources {
	var out api.Resources
	for _, c := range def.Containers {
		out = out.Add(endpointPortsResource(c, ports, role))
	}
	return out
}

// endpointEnv adds EP_HOST_<NAME> of every endpoint of the instance.
func endpointEnv(inst *podInstance, env map[string]string) {
	for name, p := range inst.Ports {
		env["EP_HOST_"+envName(name)] = strconv.Itoa(p)
		env["EP_CONTAINER_"+envName(name)] = strconv.Itoa(p)
	}
}

// endpointCheck is the Mesos health check of a container's http or tcp
// healthCheck: on the host port of the endpoint it names. Nil when the
// check has none of those (or names no allocated port).
func endpointCheck(hc *PodHealthCheck, inst *podInstance) *api.HealthCheck {
	switch {
	case len(hc.HTTP) > 0:
		var h podHTTPCheck
		if strictDecode(hc.HTTP, &h) != nil {
			return nil
		}
		p, ok := inst.Ports[h.Endpoint]
		if !ok {
			return nil
		}
		path := h.Path
		if path == "" {
			path = "/"
		}
		out := &api.HealthCheck{Type: "HTTP", HTTP: &api.HTTPCheck{Port: uint32(p), Path: path, Scheme: "http"}}
		if h.Scheme == "HTTPS" {
			out.Type, out.HTTP.Scheme = "HTTPS", "https"
		}
		return out
	case len(hc.TCP) > 0:
		var t podTCPCheck
		if strictDecode(hc.TCP, &t) != nil {
			return nil
		}
		p, ok := inst.Ports[t.Endpoint]
		if !ok {
			return nil
		}
		return &api.HealthCheck{Type: "TCP", TCP: &api.TCPCheck{Port: uint32(p)}}
	}
	return nil
}

// endpointsJSON is a container's endpoints in its instance status.
func endpointsJSON(c *PodContainer, inst *podInstance) []any {
	out := []any{}
	if c == nil {
		return out
	}
	for _, e := range c.Endpoints {
		m := map[string]any{"name": e.Name}
		if p, ok := inst.Ports[e.Name]; ok {
			m["allocatedHostPort"] = p
		}
		out = append(out, m)
	}
	return out
}

// instanceHostPorts are the instance's host ports, in order.
func instanceHostPorts(inst *podInstance) []int {
	out := []int{}
	for _, p := range inst.Ports {
		out = append(out, p)
	}
	sort.Ints(out)
	return out
}
