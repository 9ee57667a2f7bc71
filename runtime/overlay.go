package runtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"nodectl/cluster/api"
	"nodectl/runtime/internal/cni"
	"nodectl/runtime/internal/overlay"
)

// Cluster networks on the agent (docs/networking.md). While registered,
// the agent long-polls the leader's network leases (api.PathNetworkLeases):
// its own subnet of every cluster network and every other agent's. A task
// on a cluster network gets its own namespace on a bridge of that network,
// with an address from host-local IPAM in the agent's subnet; the overlay
// (runtime/internal/overlay: a VXLAN device, a route, neighbor and FDB
// entry per other agent, the isolation rules) is built when the first such
// task attaches, follows lease changes within a poll, and is removed when
// the last one ends. An agent starting with none of them removes an
// overlay left in its network namespace (one agent's overlay per network
// namespace).

// overlayState is the agent's view of the cluster networks.
type overlayState struct {
	mu    sync.Mutex
	resp  api.NetworkLeasesResponse
	heard chan struct{} // closed once the master answered
	once  sync.Once
	users map[string]bool // container ids attached to a cluster network
	// built: the kernel side is up (Sync ran since the last Teardown).
	built bool
}

// hear marks the master's first answer.
func (s *overlayState) hear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.heard:
	default:
		close(s.heard)
	}
}

func (s *overlayState) init() {
	s.once.Do(func() {
		s.heard = make(chan struct{})
		s.users = map[string]bool{}
	})
}

// overlayLoop polls the leader's leases until ctx ends (the agent's
// registration with that leader).
func (a *Agent) overlayLoop(ctx context.Context, leader, id string) {
	if a.net == nil {
		return
	}
	s := &a.ovl
	s.init()
	var index uint64
	for ctx.Err() == nil {
		req := api.NetworkLeasesRequest{AgentID: id, UnderlayIP: a.cfg.IP, VTEPMAC: overlay.MAC(id).String(),
			CNINetworks: a.net.ConfNames(), Index: index, WaitSeconds: 5}
		var resp api.NetworkLeasesResponse
		if _, err := a.client.post(ctx, leader, api.PathNetworkLeases, req, &resp); err != nil {
			if ctx.Err() != nil {
				return
			}
			if r := (*refusal)(nil); errors.As(err, &r) && r.code == http.StatusNotFound {
				s.hear() // a master without cluster networks
				return
			}
			a.log.Debug("network leases", "err", err)
			index = 0
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second): // the master's answer paces the loop; this only its failures
			}
			continue
		}
		changed := resp.Index != index
		index = resp.Index
		s.mu.Lock()
		s.resp = resp
		s.mu.Unlock()
		s.hear()
		if changed {
			if err := a.syncOverlay(ctx, id); err != nil {
				a.log.Warn("cluster network overlay", "err", err)
			}
		}
	}
}

// clusterNetwork is the definition of cluster network name and this
// agent's lease in it, once the master answered; ok is false for a name
// that is no cluster network.
func (a *Agent) clusterNetwork(ctx context.Context, name string) (api.ClusterNetwork, api.NetworkLease, bool, error) {
	s := &a.ovl
	s.init()
	select {
	case <-s.heard:
	case <-ctx.Done():
		return api.ClusterNetwork{}, api.NetworkLease{}, false, ctx.Err()
	case <-time.After(15 * time.Second):
		return api.ClusterNetwork{}, api.NetworkLease{}, false, errors.New("no network leases from the master yet")
	}
	id := a.ID()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.resp.Networks {
		if n.Name != name {
			continue
		}
		for _, l := range s.resp.Leases {
			if l.Network == name && l.AgentID == id {
				return n, l, true, nil
			}
		}
		return n, api.NetworkLease{}, true, fmt.Errorf("cluster network %s: this agent holds no subnet lease", name)
	}
	return api.ClusterNetwork{}, api.NetworkLease{}, false, nil
}

// prepareClusterNetwork readies cluster network name for container id:
// its configuration written, the overlay built. ok is false for a name
// that is no cluster network (nothing done).
func (a *Agent) prepareClusterNetwork(ctx context.Context, name, containerID string) (bool, error) {
	if name == "" || name == cni.BridgeNetwork {
		return false, nil
	}
	n, lease, ok, err := a.clusterNetwork(ctx, name)
	if !ok {
		if a.net.IsClusterNetwork(name) && err != nil {
			return true, fmt.Errorf("cluster network %s: %w", name, err)
		}
		return false, nil
	}
	if err != nil {
		return true, err
	}
	mtu, err := overlay.MTU(a.cfg.IP)
	if err != nil {
		return true, err
	}
	if err := a.net.SetClusterNetwork(cni.ClusterNetwork{Name: n.Name, Bridge: overlay.BridgeName(n.Name), Subnet: lease.Subnet, MTU: mtu}); err != nil {
		return true, err
	}
	s := &a.ovl
	s.mu.Lock()
	s.users[containerID] = true
	s.mu.Unlock()
	if err := a.syncOverlay(ctx, a.ID()); err != nil {
		a.dropOverlayUser(containerID)
		return true, err
	}
	return true, nil
}

// clusterGateway is this agent's address on cluster network name's bridge
// (the first address of its subnet lease, the bridge plugin's gateway),
// nil for a name that is no cluster network or holds no lease.
func (a *Agent) clusterGateway(name string) net.IP {
	if name == "" || name == cni.BridgeNetwork {
		return nil
	}
	s := &a.ovl
	s.init()
	id := a.ID()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.resp.Leases {
		if l.Network != name || l.AgentID != id {
			continue
		}
		_, subnet, err := net.ParseCIDR(l.Subnet)
		if err != nil || subnet.IP.To4() == nil {
			return nil
		}
		gw := slices.Clone(subnet.IP.To4())
		gw[3]++
		return gw
	}
	return nil
}

// adoptOverlayUser counts a recovered task on a cluster network.
func (a *Agent) adoptOverlayUser(name, containerID string) {
	if a.net == nil || !a.net.IsClusterNetwork(name) {
		return
	}
	s := &a.ovl
	s.init()
	s.mu.Lock()
	s.users[containerID] = true
	s.mu.Unlock()
}

// dropOverlayUser forgets container id; the overlay goes with the last.
func (a *Agent) dropOverlayUser(containerID string) {
	s := &a.ovl
	s.init()
	s.mu.Lock()
	if !s.users[containerID] {
		s.mu.Unlock()
		return
	}
	delete(s.users, containerID)
	last := len(s.users) == 0
	s.mu.Unlock()
	if last {
		a.teardownOverlay()
	}
}

// syncOverlay builds the overlay from the latest leases while a task
// uses it.
func (a *Agent) syncOverlay(ctx context.Context, self string) error {
	s := &a.ovl
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.users) == 0 {
		return nil
	}
	var nets []overlay.Net
	var peers []overlay.Peer
	defs := map[string]api.ClusterNetwork{}
	for _, n := range s.resp.Networks {
		defs[n.Name] = n
	}
	for _, l := range s.resp.Leases {
		n, ok := defs[l.Network]
		switch {
		case !ok:
		case l.AgentID == self:
			nets = append(nets, overlay.Net{Name: n.Name, CIDR: n.CIDR, Subnet: l.Subnet, Allow: n.Allow})
		default:
			peers = append(peers, overlay.Peer{Network: l.Network, Subnet: l.Subnet, UnderlayIP: l.UnderlayIP, VTEPMAC: l.VTEPMAC})
		}
	}
	s.built = true
	return overlay.Sync(ctx, a.cfg.IP, overlay.MAC(self), nets, peers)
}

// teardownOverlay removes the overlay once no task uses it.
func (a *Agent) teardownOverlay() {
	s := &a.ovl
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.users) > 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := overlay.Teardown(ctx, a.clusterNetworkNames()); err != nil {
		a.log.Warn("remove the cluster network overlay", "err", err)
		return
	}
	if s.built {
		a.log.Info("cluster network overlay removed: no task uses it")
	}
	s.built = false
}

// sweepOverlay removes, at agent start, an overlay no recovered task uses
// (an agent killed before its last task's end removed it).
func (a *Agent) sweepOverlay(ctx context.Context) {
	if a.net == nil {
		return
	}
	s := &a.ovl
	s.init()
	s.mu.Lock()
	used := len(s.users) > 0
	s.mu.Unlock()
	if used || !overlay.Present(ctx) {
		return
	}
	a.log.Info("removing a cluster network overlay no task uses")
	a.teardownOverlay()
}

// clusterNetworkNames are the cluster networks this agent configured.
func (a *Agent) clusterNetworkNames() []string {
	es, _ := os.ReadDir(filepath.Join(a.cfg.WorkDir, "cni", "clusternet"))
	var out []string
	for _, e := range es {
		if n, ok := strings.CutSuffix(e.Name(), ".conflist"); ok {
			out = append(out, n)
		}
	}
	return slices.Compact(out)
}
