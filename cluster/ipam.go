package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"nodectl/cluster/api"
)

// IPAM of the cluster networks (api.ClusterNetwork): the leader leases each
// agent a subnet of every network's CIDR (a /24 of 10.42.0.0/16, say), as
// flannel leases node subnets (https://github.com/flannel-io/flannel/blob/master/Documentation/configuration.md),
// but the leases live in the masters' etcd and only the leader writes them,
// fenced like every registry write; agents ask over their HTTPS agent
// protocol (api.PathNetworkLeases), never etcd. Within its subnet an agent
// hands out task addresses itself (CNI host-local IPAM).
//
//	/nodectl/registry/ipam/<agent id>/<network>   api.NetworkLease (fenced)
//
// A lease outlives agent restarts and leader changes (the same agent gets
// the same subnet back) and is deleted when the agent is removed (marked
// gone), in the same transaction.
const keyIPAMPrefix = "/nodectl/registry/ipam/"

// leasePoll is how long a long-polling agent waits for a change before it
// is answered with the same index.
var leasePoll = 25 * time.Second

// networkName is what a cluster network may be called: short enough for
// interface names derived from it, in DNS-label characters.
var networkName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$`)

// ValidateClusterNetworks checks the masters' network definitions: valid
// unique names, IPv4 CIDRs that do not overlap, host subnets inside them,
// and allow lists naming defined networks. A zero HostPrefix becomes 24
// (or the CIDR's own length when that is longer).
func ValidateClusterNetworks(nets []api.ClusterNetwork) error {
	seen := map[string]netip.Prefix{}
	for i := range nets {
		n := &nets[i]
		if !networkName.MatchString(n.Name) {
			return fmt.Errorf("cluster network %q: a name is 1-32 lowercase letters, digits and dashes", n.Name)
		}
		if n.Name == "mesos-bridge" {
			return fmt.Errorf("cluster network %q: the name of the built-in bridge network", n.Name)
		}
		if _, dup := seen[n.Name]; dup {
			return fmt.Errorf("cluster network %q is defined twice", n.Name)
		}
		p, err := netip.ParsePrefix(n.CIDR)
		if err != nil || !p.Addr().Is4() {
			return fmt.Errorf("cluster network %s: CIDR %q: want an IPv4 CIDR such as 10.42.0.0/16", n.Name, n.CIDR)
		}
		p = p.Masked()
		n.CIDR = p.String()
		if n.HostPrefix == 0 {
			n.HostPrefix = max(24, p.Bits())
		}
		if n.HostPrefix < p.Bits() || n.HostPrefix > 28 {
			return fmt.Errorf("cluster network %s: host subnets /%d must be inside %s and at most /28", n.Name, n.HostPrefix, p)
		}
		for other, q := range seen {
			if p.Overlaps(q) {
				return fmt.Errorf("cluster networks %s (%s) and %s (%s) overlap", n.Name, p, other, q)
			}
		}
		seen[n.Name] = p
	}
	for _, n := range nets {
		for _, a := range n.Allow {
			if _, ok := seen[a]; !ok {
				return fmt.Errorf("cluster network %s: allow names %q, which is not a cluster network", n.Name, a)
			}
		}
	}
	return nil
}

// ipamState is the leader's copy of the leases, loaded from etcd in the
// first lease call of a term (the term's writeBehind marks it).
type ipamState struct {
	mu      sync.Mutex // guards the fields below; may be taken under registrar and m.mu, never takes them
	term    *writeBehind
	leases  map[string]map[string]api.NetworkLease // agent id → network → lease
	index   uint64
	changed chan struct{}              // closed and replaced at every change
	cni     map[string]map[string]bool // agent id → its CNI config dir's networks
}

// changedLocked publishes a change to long-polling agents.
func (s *ipamState) changedLocked() {
	s.index++
	if s.changed != nil {
		close(s.changed)
	}
	s.changed = make(chan struct{})
}

// loadLeasesLocked reads the leases when wb's term has not yet.
func (m *Master) loadLeasesLocked(ctx context.Context, wb *writeBehind) error {
	s := &m.ipam
	if s.term == wb {
		return nil
	}
	kvs, err := wb.st.load(ctx, keyIPAMPrefix)
	if err != nil {
		return err
	}
	leases := map[string]map[string]api.NetworkLease{}
	for _, x := range kvs {
		var l api.NetworkLease
		if err := json.Unmarshal(x.val, &l); err != nil || l.AgentID == "" || l.Network == "" {
			m.log.Warn("skipping undecodable network lease", "key", x.key)
			continue
		}
		if leases[l.AgentID] == nil {
			leases[l.AgentID] = map[string]api.NetworkLease{}
		}
		leases[l.AgentID][l.Network] = l
	}
	s.term, s.leases = wb, leases
	s.changedLocked()
	return nil
}

// ensureLeases gives agent id a lease in every cluster network (its
// underlay address and VXLAN MAC updated), written fenced before it is
// served.
func (m *Master) ensureLeases(ctx context.Context, req api.NetworkLeasesRequest) error {
	m.registrar.Lock()
	defer m.registrar.Unlock()
	m.mu.Lock()
	if !m.elected {
		m.mu.Unlock()
		return ErrNotLeader
	}
	if _, gone := m.removals.gone[req.AgentID]; gone {
		m.mu.Unlock()
		return agentGoneError(req.AgentID)
	}
	a := m.agents[req.AgentID]
	if a == nil {
		m.mu.Unlock()
		return ErrUnknownAgent
	}
	if req.UnderlayIP == "" {
		req.UnderlayIP = a.Info.IP
	}
	wb := m.wb
	m.mu.Unlock()

	s := &m.ipam
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := m.loadLeasesLocked(ctx, wb); err != nil {
		return fmt.Errorf("read network leases: %w", err)
	}
	if s.cni == nil {
		s.cni = map[string]map[string]bool{}
	}
	names := map[string]bool{}
	for _, n := range req.CNINetworks {
		names[n] = true
	}
	s.cni[req.AgentID] = names
	mine := s.leases[req.AgentID]
	next := map[string]api.NetworkLease{}
	var ops []op
	for _, n := range m.cfg.Networks {
		l, ok := mine[n.Name]
		if ok && l.UnderlayIP == req.UnderlayIP && l.VTEPMAC == req.VTEPMAC && subnetOf(l.Subnet, n) {
			next[n.Name] = l
			continue
		}
		if !ok || !subnetOf(l.Subnet, n) {
			sub, err := freeSubnet(n, s.leases)
			if err != nil {
				return err
			}
			l = api.NetworkLease{Network: n.Name, AgentID: req.AgentID, Subnet: sub}
		}
		l.UnderlayIP, l.VTEPMAC = req.UnderlayIP, req.VTEPMAC
		next[n.Name] = l
		ops = append(ops, op{kind: opPut, key: keyIPAMPrefix + req.AgentID + "/" + n.Name, val: l})
	}
	for name := range mine {
		if _, ok := next[name]; !ok { // a network no longer defined
			ops = append(ops, op{kind: opDelete, key: keyIPAMPrefix + req.AgentID + "/" + name})
		}
	}
	if len(ops) == 0 {
		return nil
	}
	if err := wb.st.commit(ctx, ops); err != nil {
		return fmt.Errorf("write network leases of agent %s: %w", req.AgentID, err)
	}
	if len(next) == 0 {
		delete(s.leases, req.AgentID)
	} else {
		s.leases[req.AgentID] = next
	}
	for _, l := range next {
		if !ok(mine, l) {
			m.log.Info("network subnet leased", "agent_id", l.AgentID, "network", l.Network, "subnet", l.Subnet, "underlay_ip", l.UnderlayIP)
		}
	}
	s.changedLocked()
	return nil
}

// ok: l is already mine's lease of its network, same subnet.
func ok(mine map[string]api.NetworkLease, l api.NetworkLease) bool {
	old, found := mine[l.Network]
	return found && old.Subnet == l.Subnet
}

// subnetOf: s is a host subnet of network n.
func subnetOf(s string, n api.ClusterNetwork) bool {
	p, err := netip.ParsePrefix(s)
	c, err2 := netip.ParsePrefix(n.CIDR)
	return err == nil && err2 == nil && p.Bits() == n.HostPrefix && c.Contains(p.Addr())
}

// freeSubnet is the lowest host subnet of n no lease holds.
func freeSubnet(n api.ClusterNetwork, leases map[string]map[string]api.NetworkLease) (string, error) {
	c, err := netip.ParsePrefix(n.CIDR)
	if err != nil {
		return "", err
	}
	used := map[netip.Addr]bool{}
	for _, ls := range leases {
		if l, ok := ls[n.Name]; ok {
			if p, err := netip.ParsePrefix(l.Subnet); err == nil {
				used[p.Addr()] = true
			}
		}
	}
	count := uint64(1) << (n.HostPrefix - c.Bits())
	step := uint32(1) << (32 - n.HostPrefix)
	b := c.Addr().As4()
	base := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	for i := uint64(0); i < count; i++ {
		v := base + uint32(i)*step
		a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		if !used[a] {
			return netip.PrefixFrom(a, n.HostPrefix).String(), nil
		}
	}
	return "", api.Kind(api.ErrUnavailable, fmt.Sprintf("cluster network %s (%s) has no free /%d subnet left", n.Name, n.CIDR, n.HostPrefix))
}

// releaseLeasesOps are the ops that delete agent id's leases, for the
// transaction that removes the agent.
func releaseLeasesOps(id string) op { return op{kind: opDeletePrefix, key: keyIPAMPrefix + id + "/"} }

// leasesReleased drops agent id's leases from the leader's copy once the
// transaction removing it committed.
func (m *Master) leasesReleased(id string) {
	s := &m.ipam
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.cni, id)
	if _, ok := s.leases[id]; ok {
		delete(s.leases, id)
		s.changedLocked()
		m.log.Info("network subnets released", "agent_id", id)
	}
}

// leasesAnswer is the networks and every lease, and the channel that
// closes at the next change.
func (m *Master) leasesAnswer() (api.NetworkLeasesResponse, <-chan struct{}) {
	s := &m.ipam
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	out := api.NetworkLeasesResponse{Index: s.index, Networks: slices.Clone(m.cfg.Networks), Leases: []api.NetworkLease{}}
	for _, ls := range s.leases {
		for _, l := range ls {
			out.Leases = append(out.Leases, l)
		}
	}
	slices.SortFunc(out.Leases, func(a, b api.NetworkLease) int {
		return strings.Compare(a.Network+"/"+a.Subnet, b.Network+"/"+b.Subnet)
	})
	return out, s.changed
}

// handleNetworkLeases serves POST api.PathNetworkLeases.
func (m *Master) handleNetworkLeases(w http.ResponseWriter, r *http.Request) {
	var req api.NetworkLeasesRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.AgentID == "" {
		writeError(w, http.StatusBadRequest, "agent_id is required")
		return
	}
	if err := m.ensureLeases(r.Context(), req); err != nil {
		writeErr(w, err)
		return
	}
	out, changed := m.leasesAnswer()
	if req.Index != 0 && req.Index == out.Index {
		wait := leasePoll
		if w := time.Duration(req.WaitSeconds) * time.Second; w > 0 && w < wait {
			wait = w
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-changed:
			out, _ = m.leasesAnswer()
		case <-t.C:
		case <-r.Context().Done():
			return
		case <-m.closing:
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// ClusterNetworks are the cluster networks the masters define.
func (m *Master) ClusterNetworks() []api.ClusterNetwork { return slices.Clone(m.cfg.Networks) }

// NetworkKnown reports whether tasks may name network: the built-in
// bridge, a cluster network, or a network of some agent's
// --network_cni_config_dir (that agent reported it).
func (m *Master) NetworkKnown(name string) bool {
	if name == "" || name == "mesos-bridge" {
		return true
	}
	for _, n := range m.cfg.Networks {
		if n.Name == name {
			return true
		}
	}
	s := &m.ipam
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, names := range s.cni {
		if names[name] {
			return true
		}
	}
	return false
}

// validateTaskNetworks refuses network_infos naming networks no one knows.
func (m *Master) validateTaskNetworks(ti api.TaskInfo) error {
	if ti.Container == nil {
		return nil
	}
	for _, ni := range ti.Container.NetworkInfos {
		if !m.NetworkKnown(ni.Name) {
			return fmt.Errorf("container.network_infos: unknown network %q (the cluster networks: %s)", ni.Name, m.networkNames())
		}
	}
	return nil
}

func (m *Master) networkNames() string {
	var names []string
	for _, n := range m.cfg.Networks {
		names = append(names, n.Name)
	}
	if len(names) == 0 {
		return "none; masters define them with --cluster-cidr and --cluster-network"
	}
	return strings.Join(names, ", ")
}

// ParseClusterNetworks builds the cluster networks from --cluster-cidr
// (the network api.DefaultClusterNetwork; "" for none) and each
// --cluster-network, written NAME=CIDR[;allow=NET+NET][;host-prefix=N],
// and validates them.
func ParseClusterNetworks(clusterCIDR string, defs []string) ([]api.ClusterNetwork, error) {
	var out []api.ClusterNetwork
	if c := strings.TrimSpace(clusterCIDR); c != "" {
		out = append(out, api.ClusterNetwork{Name: api.DefaultClusterNetwork, CIDR: c})
	}
	for _, d := range defs {
		d = strings.TrimSpace(d)
		if d == "" {
			continue
		}
		parts := strings.Split(d, ";")
		name, cidr, found := strings.Cut(parts[0], "=")
		if !found {
			return nil, fmt.Errorf("cluster network %q: want NAME=CIDR[;allow=NET+NET][;host-prefix=N]", d)
		}
		n := api.ClusterNetwork{Name: strings.TrimSpace(name), CIDR: strings.TrimSpace(cidr)}
		for _, p := range parts[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			switch k {
			case "allow":
				for _, a := range strings.Split(v, "+") {
					if a = strings.TrimSpace(a); a != "" {
						n.Allow = append(n.Allow, a)
					}
				}
			case "host-prefix":
				if _, err := fmt.Sscanf(v, "%d", &n.HostPrefix); err != nil || n.HostPrefix <= 0 {
					return nil, fmt.Errorf("cluster network %s: host-prefix %q: want a prefix length such as 24", n.Name, v)
				}
			default:
				return nil, fmt.Errorf("cluster network %s: unknown option %q (allow, host-prefix)", n.Name, p)
			}
		}
		out = append(out, n)
	}
	if err := ValidateClusterNetworks(out); err != nil {
		return nil, err
	}
	return out, nil
}
