// Package overlay joins the agents' subnets of the cluster networks into
// one network, as flannel's vxlan backend does
// (https://github.com/flannel-io/flannel/blob/master/Documentation/backends.md#vxlan):
// one VXLAN device per host (Device) and, for every other agent's subnet
// lease, a route to the subnet through the device (onlink, via the
// subnet's first address), a permanent neighbor entry mapping that
// address to the other agent's VXLAN MAC, and a forwarding (FDB) entry
// sending frames for that MAC to the other agent's underlay address.
// Everything goes through github.com/vishvananda/netlink; no overlay
// protocol of nodectl's own.
//
// Isolation between networks and masquerading for traffic leaving the
// cluster networks are nftables rules in the table Table (inet family),
// which the package owns whole: it is rewritten at every Sync and deleted
// by Teardown.
package overlay

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"sigs.k8s.io/knftables"
)

// Names and numbers of the overlay on a host.
const (
	Device = "nodectl-vx" // the VXLAN device
	VNI    = 4242         // its VXLAN network identifier
	Port   = 8472         // its UDP port (the Linux and flannel default)
	Table  = "nodectl_overlay"
	// vxlanOverhead is what VXLAN adds to each frame (IPv4 underlay).
	vxlanOverhead = 50
)

// Net is one cluster network as this host sees it.
type Net struct {
	Name   string
	CIDR   string   // the whole network
	Subnet string   // this host's lease
	Allow  []string // networks whose tasks may reach this one's
}

// Peer is another agent's lease.
type Peer struct {
	Network, Subnet, UnderlayIP, VTEPMAC string
}

// MAC is the VXLAN device MAC of an agent: fixed by its id, so a restart
// keeps the one the other agents know (a locally administered unicast
// address).
func MAC(agentID string) net.HardwareAddr {
	h := sha256.Sum256([]byte("nodectl-vtep/" + agentID))
	mac := net.HardwareAddr(h[:6])
	mac[0] = (mac[0] | 0x02) &^ 0x01
	return mac
}

// BridgeName is the Linux bridge of network name's tasks on a host.
func BridgeName(name string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return fmt.Sprintf("ncn%08x", h.Sum32())
}

// MTU is the MTU of task interfaces on the overlay: the underlay's less
// the VXLAN header.
func MTU(underlayIP string) (int, error) {
	l, err := underlay(underlayIP)
	if err != nil {
		return 0, err
	}
	return l.Attrs().MTU - vxlanOverhead, nil
}

// underlay is the link holding ip.
func underlay(ip string) (netlink.Link, error) {
	want := net.ParseIP(ip)
	if want == nil {
		return nil, fmt.Errorf("underlay address %q is no IP address (set the agent's --ip)", ip)
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if a.IP.Equal(want) {
			return netlink.LinkByIndex(a.LinkIndex)
		}
	}
	return nil, fmt.Errorf("no interface holds the underlay address %s (the agent's --ip)", ip)
}

// Sync makes the host's overlay match: the VXLAN device (made if
// missing, with mac and the underlay address), an address per local
// subnet on it, a route, neighbor and FDB entry per peer (others'
// removed), and the nftables table.
func Sync(ctx context.Context, underlayIP string, mac net.HardwareAddr, nets []Net, peers []Peer) error {
	vx, err := ensureDevice(underlayIP, mac)
	if err != nil {
		return err
	}
	idx := vx.Attrs().Index
	var errs []error
	// Local subnets: the first address on the device, as flannel does, so
	// the host itself reaches other hosts' tasks from its own subnet.
	wantAddr := map[string]bool{}
	for _, n := range nets {
		p, err := netip.ParsePrefix(n.Subnet)
		if err != nil {
			errs = append(errs, fmt.Errorf("network %s: subnet %q: %w", n.Name, n.Subnet, err))
			continue
		}
		a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(32, 32)}}
		wantAddr[a.IPNet.String()] = true
		if err := netlink.AddrReplace(vx, a); err != nil {
			errs = append(errs, fmt.Errorf("address %s on %s: %w", a.IPNet, Device, err))
		}
	}
	if addrs, err := netlink.AddrList(vx, netlink.FAMILY_V4); err == nil {
		for _, a := range addrs {
			if !wantAddr[a.IPNet.String()] {
				_ = netlink.AddrDel(vx, &a)
			}
		}
	}
	// Peers.
	wantRoute, wantNeigh, wantFDB := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, p := range peers {
		sub, err := netip.ParsePrefix(p.Subnet)
		under := net.ParseIP(p.UnderlayIP)
		mac, merr := net.ParseMAC(p.VTEPMAC)
		if err != nil || under == nil || merr != nil {
			errs = append(errs, fmt.Errorf("lease %s of %s: bad subnet, underlay address or MAC", p.Subnet, p.UnderlayIP))
			continue
		}
		gw := net.IP(sub.Addr().AsSlice())
		dst := &net.IPNet{IP: gw, Mask: net.CIDRMask(sub.Bits(), 32)}
		wantRoute[dst.String()], wantNeigh[gw.String()], wantFDB[mac.String()] = true, true, true
		if err := netlink.NeighSet(&netlink.Neigh{LinkIndex: idx, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT, Type: syscall.RTN_UNICAST, IP: gw, HardwareAddr: mac}); err != nil {
			errs = append(errs, fmt.Errorf("neighbor %s on %s: %w", gw, Device, err))
		}
		if err := netlink.NeighSet(&netlink.Neigh{LinkIndex: idx, Family: syscall.AF_BRIDGE, Flags: netlink.NTF_SELF, State: netlink.NUD_PERMANENT, IP: under, HardwareAddr: mac}); err != nil {
			errs = append(errs, fmt.Errorf("fdb %s → %s on %s: %w", mac, under, Device, err))
		}
		if err := netlink.RouteReplace(&netlink.Route{LinkIndex: idx, Dst: dst, Gw: gw, Flags: int(netlink.FLAG_ONLINK)}); err != nil {
			errs = append(errs, fmt.Errorf("route %s via %s: %w", dst, Device, err))
		}
	}
	if routes, err := netlink.RouteList(vx, netlink.FAMILY_V4); err == nil {
		for _, r := range routes {
			if r.Dst != nil && r.Gw != nil && !wantRoute[r.Dst.String()] {
				_ = netlink.RouteDel(&r)
			}
		}
	}
	if ns, err := netlink.NeighList(idx, netlink.FAMILY_V4); err == nil {
		for _, n := range ns {
			if !wantNeigh[n.IP.String()] {
				_ = netlink.NeighDel(&n)
			}
		}
	}
	if ns, err := netlink.NeighList(idx, syscall.AF_BRIDGE); err == nil {
		for _, n := range ns {
			if n.IP != nil && !wantFDB[n.HardwareAddr.String()] {
				_ = netlink.NeighDel(&n)
			}
		}
	}
	if err := syncRules(ctx, nets); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ensureDevice returns the VXLAN device, made if missing.
func ensureDevice(underlayIP string, mac net.HardwareAddr) (netlink.Link, error) {
	if l, err := netlink.LinkByName(Device); err == nil {
		if _, ok := l.(*netlink.Vxlan); !ok {
			return nil, fmt.Errorf("%s exists and is no VXLAN device", Device)
		}
		if l.Attrs().Flags&net.FlagUp == 0 {
			if err := netlink.LinkSetUp(l); err != nil {
				return nil, fmt.Errorf("set %s up: %w", Device, err)
			}
		}
		return l, nil
	}
	ul, err := underlay(underlayIP)
	if err != nil {
		return nil, err
	}
	vx := &netlink.Vxlan{
		LinkAttrs: netlink.LinkAttrs{Name: Device, HardwareAddr: mac, MTU: ul.Attrs().MTU - vxlanOverhead},
		VxlanId:   VNI, VtepDevIndex: ul.Attrs().Index, SrcAddr: net.ParseIP(underlayIP), Port: Port,
		Learning: false,
	}
	if err := netlink.LinkAdd(vx); err != nil {
		return nil, fmt.Errorf("create VXLAN device %s: %w", Device, err)
	}
	l, err := netlink.LinkByName(Device)
	if err != nil {
		return nil, err
	}
	if err := netlink.LinkSetUp(l); err != nil {
		_ = netlink.LinkDel(l)
		return nil, fmt.Errorf("set %s up: %w", Device, err)
	}
	return l, nil
}

// syncRules rewrites the table: in the forward hook, packets from a
// network's CIDR to another network's are dropped unless the target
// allows the source; in the postrouting hook, packets from a local subnet
// leaving the cluster networks are masqueraded.
func syncRules(ctx context.Context, nets []Net) error {
	nft, err := knftables.New(knftables.InetFamily, Table)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	tx := nft.NewTransaction()
	tx.Add(&knftables.Table{Comment: knftables.PtrTo("nodectl cluster networks: isolation and masquerade")})
	tx.Flush(&knftables.Table{})
	tx.Add(&knftables.Chain{Name: "forward", Type: knftables.PtrTo(knftables.FilterType), Hook: knftables.PtrTo(knftables.ForwardHook), Priority: knftables.PtrTo(knftables.FilterPriority)})
	tx.Add(&knftables.Chain{Name: "postrouting", Type: knftables.PtrTo(knftables.NATType), Hook: knftables.PtrTo(knftables.PostroutingHook), Priority: knftables.PtrTo(knftables.SNATPriority)})
	var cidrs []string
	for _, n := range nets {
		cidrs = append(cidrs, n.CIDR)
	}
	for _, to := range nets {
		for _, from := range nets {
			if from.Name == to.Name || slices.Contains(to.Allow, from.Name) {
				continue
			}
			tx.Add(&knftables.Rule{Chain: "forward", Rule: knftables.Concat("ip saddr", from.CIDR, "ip daddr", to.CIDR, "drop"),
				Comment: knftables.PtrTo(from.Name + " to " + to.Name)})
		}
	}
	if len(cidrs) > 0 {
		for _, n := range nets {
			tx.Add(&knftables.Rule{Chain: "postrouting", Rule: knftables.Concat("ip saddr", n.Subnet, "ip daddr != {", strings.Join(cidrs, ", "), "} masquerade"),
				Comment: knftables.PtrTo(n.Name + " leaving the cluster networks")})
		}
	}
	if err := nft.Run(ctx, tx); err != nil {
		return fmt.Errorf("nftables table inet %s: %w", Table, err)
	}
	return nil
}

// Teardown removes what Sync made on this host: the VXLAN device (its
// routes, neighbor and FDB entries go with it), the nftables table, and
// the idle bridges of the networks named.
func Teardown(ctx context.Context, networks []string) error {
	var errs []error
	if l, err := netlink.LinkByName(Device); err == nil {
		if err := netlink.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", Device, err))
		}
	}
	if nft, err := knftables.New(knftables.InetFamily, Table); err == nil {
		tx := nft.NewTransaction()
		tx.Delete(&knftables.Table{})
		if err := nft.Run(ctx, tx); err != nil && !knftables.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove nftables table inet %s: %w", Table, err))
		}
	}
	for _, n := range networks {
		l, err := netlink.LinkByName(BridgeName(n))
		if err != nil {
			continue
		}
		if hasPorts(l.Attrs().Index) {
			continue
		}
		if err := netlink.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("remove bridge %s of network %s: %w", l.Attrs().Name, n, err))
		}
	}
	return errors.Join(errs...)
}

// Present reports whether this host has the overlay's device or table.
func Present(ctx context.Context) bool {
	if _, err := netlink.LinkByName(Device); err == nil {
		return true
	}
	nft, err := knftables.New(knftables.InetFamily, Table)
	if err != nil {
		return false
	}
	_, err = nft.List(ctx, "chains")
	return err == nil
}

func hasPorts(idx int) bool {
	links, err := netlink.LinkList()
	if err != nil {
		return true
	}
	for _, l := range links {
		if l.Attrs().MasterIndex == idx {
			return true
		}
	}
	return false
}
