// Package netup brings up an appliance node's network at boot: loopback,
// then each configured NIC with DHCP (insomniacslk/dhcp's nclient4) or a
// static address, through netlink (vishvananda/netlink). It also keeps a
// DHCP lease renewed.
//
// It imports no other nodectl package.
package netup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
)

// NIC is a non-loopback Ethernet interface.
type NIC struct {
	Name string
	MAC  string // lower case, colon-separated
}

// NICs lists the Ethernet interfaces, sorted by name.
func NICs() ([]NIC, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var out []NIC
	for _, l := range links {
		a := l.Attrs()
		if a.Flags&net.FlagLoopback != 0 || len(a.HardwareAddr) != 6 || l.Type() != "device" {
			continue
		}
		out = append(out, NIC{Name: a.Name, MAC: strings.ToLower(a.HardwareAddr.String())})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Loopback brings lo up.
func Loopback() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("lo: %w", err)
	}
	return netlink.LinkSetUp(lo)
}

// Lease is what a NIC got.
type Lease struct {
	NIC     string
	Addr    netip.Prefix
	Gateway netip.Addr
	DNS     []netip.Addr
	Expiry  time.Duration // lease time; 0 for static

	client *nclient4.Client
	lease  *nclient4.Lease
}

// Static sets a fixed address (and default route via gw if valid) on nic.
func Static(nic string, addr netip.Prefix, gw netip.Addr) (Lease, error) {
	l := Lease{NIC: nic, Addr: addr, Gateway: gw}
	return l, apply(l)
}

// DHCP asks for a lease on nic and applies it. The returned Lease must be
// kept renewed with Renew (or closed with Close).
func DHCP(ctx context.Context, nic string, log *slog.Logger) (Lease, error) {
	link, err := netlink.LinkByName(nic)
	if err != nil {
		return Lease{}, fmt.Errorf("%s: %w", nic, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return Lease{}, fmt.Errorf("%s up: %w", nic, err)
	}
	c, err := nclient4.New(nic, nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(3))
	if err != nil {
		return Lease{}, fmt.Errorf("dhcp client on %s: %w", nic, err)
	}
	var lease *nclient4.Lease
	for attempt := 1; ; attempt++ {
		hostname, _ := os.Hostname()
		lease, err = c.Request(ctx, dhcpv4.WithOption(dhcpv4.OptHostName(hostname)))
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			c.Close()
			return Lease{}, fmt.Errorf("dhcp on %s: %w", nic, err)
		}
		log.Warn("dhcp: no lease yet; retrying", "nic", nic, "attempt", attempt, "err", err)
	}
	l := fromACK(nic, lease.ACK)
	l.client, l.lease = c, lease
	if err := apply(l); err != nil {
		c.Close()
		return Lease{}, err
	}
	return l, nil
}

func fromACK(nic string, ack *dhcpv4.DHCPv4) Lease {
	ip, _ := netip.AddrFromSlice(ack.YourIPAddr.To4())
	ones, _ := ack.SubnetMask().Size()
	if ack.SubnetMask() == nil {
		ones = 24
	}
	l := Lease{NIC: nic, Addr: netip.PrefixFrom(ip, ones), Expiry: ack.IPAddressLeaseTime(time.Hour)}
	if r := ack.Router(); len(r) > 0 {
		l.Gateway, _ = netip.AddrFromSlice(r[0].To4())
	}
	for _, d := range ack.DNS() {
		if a, ok := netip.AddrFromSlice(d.To4()); ok {
			l.DNS = append(l.DNS, a)
		}
	}
	return l
}

// apply sets the link up, its address and the default route.
func apply(l Lease) error {
	link, err := netlink.LinkByName(l.NIC)
	if err != nil {
		return fmt.Errorf("%s: %w", l.NIC, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("%s up: %w", l.NIC, err)
	}
	ipn := &net.IPNet{IP: l.Addr.Addr().AsSlice(), Mask: net.CIDRMask(l.Addr.Bits(), l.Addr.Addr().BitLen())}
	if err := netlink.AddrReplace(link, &netlink.Addr{IPNet: ipn}); err != nil {
		return fmt.Errorf("%s address %s: %w", l.NIC, l.Addr, err)
	}
	if l.Gateway.IsValid() {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: l.Gateway.AsSlice(), Dst: nil}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("%s default route via %s: %w", l.NIC, l.Gateway, err)
		}
	}
	return nil
}

// Renew keeps a DHCP lease until ctx ends, renewing at half its time and
// retrying a failed renewal every minute. It returns at once for a static
// lease.
func (l Lease) Renew(ctx context.Context, log *slog.Logger) error {
	if l.client == nil {
		return nil
	}
	defer l.client.Close()
	wait := l.Expiry / 2
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		nl, err := l.client.Renew(rctx, l.lease)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Warn("dhcp renewal failed; retrying", "nic", l.NIC, "err", err)
			wait = time.Minute
			continue
		}
		fresh := fromACK(l.NIC, nl.ACK)
		if fresh.Addr != l.Addr {
			log.Warn("dhcp renewal changed the address", "nic", l.NIC, "old", l.Addr, "new", fresh.Addr)
		}
		if err := apply(fresh); err != nil {
			log.Warn("dhcp renewal: apply", "nic", l.NIC, "err", err)
		}
		l.lease, l.Addr, l.Expiry = nl, fresh.Addr, fresh.Expiry
		wait = l.Expiry / 2
	}
}

// Close releases the DHCP client's socket (not the lease).
func (l Lease) Close() {
	if l.client != nil {
		l.client.Close()
	}
}

// ErrNoNIC is returned when no Ethernet interface appears.
var ErrNoNIC = errors.New("no network interface")

// WaitNICs polls until at least one NIC exists or the timeout passes
// (drivers probe asynchronously after their module loads).
func WaitNICs(timeout time.Duration) ([]NIC, error) {
	deadline := time.Now().Add(timeout)
	for {
		nics, err := NICs()
		if err != nil || len(nics) > 0 {
			return nics, err
		}
		if time.Now().After(deadline) {
			return nil, ErrNoNIC
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ResolvConf is /etc/resolv.conf for the DNS servers of the leases.
func ResolvConf(leases []Lease) string {
	var b strings.Builder
	b.WriteString("# written by nodectl init\n")
	seen := map[netip.Addr]bool{}
	for _, l := range leases {
		for _, d := range l.DNS {
			if !seen[d] {
				seen[d] = true
				fmt.Fprintf(&b, "nameserver %s\n", d)
			}
		}
	}
	return b.String()
}
