package cni

import "net"

// Gateway is the built-in bridge's address on the task side: the first
// address of its subnet, which host-local IPAM gives the bridge
// (isGateway). Tasks on the bridge reach the host's services there (the
// agent's DNS server, runtime/dns.go). Nil if the subnet is not IPv4.
func (m *Manager) Gateway() net.IP {
	_, n, err := net.ParseCIDR(m.cfg.Subnet)
	if err != nil || n.IP.To4() == nil {
		return nil
	}
	gw := make(net.IP, 4)
	copy(gw, n.IP.To4())
	gw[3]++
	return gw
}
