package cni

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Port forwards of the built-in bridge. The portmap plugin (nftables
// backend) runs nft three times per ADD (a version check, a listing and
// the transaction), 100 ms to seconds on a loaded host; the agent writes
// the same rules itself over netlink instead, in one transaction per
// ADD, in a table of its own. What the rules do is what portmap's do
// with snat on (github.com/containernetworking/plugins plugins/meta/
// portmap/portmap_nftables.go and main.go):
//
//   - chain prerouting (nat, dstnat) and chain output (nat, dstnat):
//     "fib daddr type local jump hostports": traffic for an address of
//     the host, from outside and from the host itself (127.0.0.1 too);
//   - chain hostports: per mapping "<proto> dport <hostPort> dnat to
//     <task address>:<containerPort>";
//   - chain masquerading (nat, srcnat): per task "ip saddr <task> ip daddr
//     <task> masquerade" (a task reaching itself through its host port:
//     hairpin) and "ip saddr 127.0.0.1 ip daddr <task> masquerade" (the
//     host's localhost), with route_localnet on the bridge so that a
//     packet from 127.0.0.1 may be routed to it;
//   - UDP conntrack entries of the host ports flushed after ADD and DEL,
//     so that a flow seen before the rule does not stay black-holed.
//
// Every per-task rule carries the container id as its comment (as
// portmap's do), so that a DEL, an orphan cleanup (CleanupOrphans,
// SweepHost) or a repeated ADD finds exactly that container's rules:
// dropRules deletes them, removeIdle removes the table once no rule names
// a container. The table is shared by the agents of the host (their
// tasks' addresses come from one pool, owners.go); a write touches only
// the fixed rules and its own container's.

// PortsTable is the nftables table (ip family) of the built-in bridge's
// port forwards.
const PortsTable = "nodectl_hostport"

// Chains of PortsTable.
const (
	pfHostports   = "hostports"
	pfPrerouting  = "prerouting"
	pfOutput      = "output"
	pfMasquerades = "masquerading"
)

var pfTable = &nftables.Table{Family: nftables.TableFamilyIPv4, Name: PortsTable}

// forward is one forwarded port: host port to the task's address and
// container port, for one protocol (its IP protocol number).
type forward struct {
	proto              byte
	hostPort, contPort uint16
}

// forwards expands port mappings ("tcp", "udp", "tcp,udp"; "" is tcp)
// to one forward per protocol, as runtimeConf hands them to portmap.
func forwards(ports []PortMapping) ([]forward, error) {
	var out []forward
	for _, p := range ports {
		if p.HostPort <= 0 || p.HostPort > 65535 || p.ContainerPort <= 0 || p.ContainerPort > 65535 {
			return nil, fmt.Errorf("port mapping %d→%d: a port is out of range", p.HostPort, p.ContainerPort)
		}
		protos := strings.Split(p.Protocol, ",")
		if p.Protocol == "" {
			protos = []string{"tcp"}
		}
		for _, proto := range protos {
			var n byte
			switch strings.TrimSpace(strings.ToLower(proto)) {
			case "tcp":
				n = unix.IPPROTO_TCP
			case "udp":
				n = unix.IPPROTO_UDP
			case "sctp":
				n = unix.IPPROTO_SCTP
			default:
				return nil, fmt.Errorf("port mapping %d→%d: unknown protocol %q", p.HostPort, p.ContainerPort, proto)
			}
			out = append(out, forward{proto: n, hostPort: uint16(p.HostPort), contPort: uint16(p.ContainerPort)})
		}
	}
	return out, nil
}

// taskIPv4 is the IPv4 address among a task's addresses (CIDR notation).
func taskIPv4(ips []string) net.IP {
	for _, s := range ips {
		if ip, _, err := net.ParseCIDR(s); err == nil && ip.To4() != nil {
			return ip.To4()
		}
	}
	return nil
}

// forwardPorts puts container id's port forwards to its address in
// place (Attach), replacing any it has: idempotent.
func (m *Manager) forwardPorts(id string, ips []string, ports []PortMapping) error {
	if len(ports) == 0 {
		return nil
	}
	ip := taskIPv4(ips)
	if ip == nil {
		return fmt.Errorf("port forwards of %s: no IPv4 address in %v", id, ips)
	}
	fw, err := forwards(ports)
	if err != nil {
		return err
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("port forwards of %s: %w", id, err)
	}
	if err := writeForwards(c, id, ip, fw); err != nil {
		return err
	}
	if err := enableRouteLocalnet(m.cfg.Bridge); err != nil {
		return err
	}
	flushUDPConntrack(fw)
	return nil
}

// adoptPorts makes sure a recovered container's forwards are in place
// (Adopt): when its table holds exactly its rules they are kept as they
// are, and when not (a rule lost) they are written again, replacing what
// is there; never twice. A task attached by a version that used the
// portmap plugin keeps the plugin's rules (legacyForwards).
func (m *Manager) adoptPorts(id string, ips []string, ports []PortMapping) error {
	if len(ports) == 0 {
		return nil
	}
	ip := taskIPv4(ips)
	fw, err := forwards(ports)
	if ip == nil || err != nil {
		return errors.Join(err, fmt.Errorf("port forwards of %s: no IPv4 address in %v", id, ips))
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("port forwards of %s: %w", id, err)
	}
	if legacyForwards(c, id) {
		return nil
	}
	hp, err := c.GetRules(pfTable, &nftables.Chain{Name: pfHostports, Table: pfTable})
	if err == nil {
		mq, err2 := c.GetRules(pfTable, &nftables.Chain{Name: pfMasquerades, Table: pfTable})
		if err2 == nil && len(rulesOf(hp, id)) == len(fw) && len(rulesOf(mq, id)) == 2 && structureInPlace(c) {
			return nil
		}
	}
	m.cfg.Logger.Warn("port forwards of a recovered task incomplete; writing them again", "container", id)
	if err := writeForwards(c, id, ip, fw); err != nil {
		return err
	}
	return enableRouteLocalnet(m.cfg.Bridge)
}

// legacyForwards reports whether the portmap plugin's table (ip
// cni_hostport) holds rules of container id: a task recovered from a
// version that used it, whose DEL removes them (dropRules).
func legacyForwards(c *nftables.Conn, id string) bool {
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: "cni_hostport"}
	rules, err := c.GetRules(t, &nftables.Chain{Name: "hostports", Table: t})
	return err == nil && len(rulesOf(rules, id)) > 0
}

// structureInPlace reports whether the fixed part of PortsTable is there:
// its four chains, the two base chains each with its one jump.
func structureInPlace(c *nftables.Conn) bool {
	for _, ch := range []string{pfPrerouting, pfOutput} {
		rules, err := c.GetRules(pfTable, &nftables.Chain{Name: ch, Table: pfTable})
		if err != nil || len(rules) != 1 {
			return false
		}
	}
	return true
}

// rulesOf is the rules whose comment is container id.
func rulesOf(rules []*nftables.Rule, id string) []*nftables.Rule {
	var out []*nftables.Rule
	for _, r := range rules {
		if s, _ := userdata.GetString(r.UserData, userdata.TypeComment); s == id {
			out = append(out, r)
		}
	}
	return out
}

// writeForwards writes, in one transaction, the fixed part of PortsTable
// unless in place and container id's rules for address ip, replacing
// those it has.
func writeForwards(c *nftables.Conn, id string, ip net.IP, fw []forward) error {
	hp, errH := c.GetRules(pfTable, &nftables.Chain{Name: pfHostports, Table: pfTable})
	mq, errM := c.GetRules(pfTable, &nftables.Chain{Name: pfMasquerades, Table: pfTable})
	hostports := &nftables.Chain{Name: pfHostports, Table: pfTable}
	masq := &nftables.Chain{Name: pfMasquerades, Table: pfTable}
	if errH != nil || errM != nil || !structureInPlace(c) {
		c.AddTable(pfTable)
		hostports = c.AddChain(hostports)
		masq = c.AddChain(&nftables.Chain{
			Name: pfMasquerades, Table: pfTable, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource,
		})
		for _, base := range []struct {
			name string
			hook *nftables.ChainHook
		}{{pfPrerouting, nftables.ChainHookPrerouting}, {pfOutput, nftables.ChainHookOutput}} {
			ch := c.AddChain(&nftables.Chain{
				Name: base.name, Table: pfTable, Type: nftables.ChainTypeNAT,
				Hooknum: base.hook, Priority: nftables.ChainPriorityNATDest,
			})
			c.FlushChain(ch) // racing writers leave one jump
			c.AddRule(&nftables.Rule{Table: pfTable, Chain: ch, Exprs: localJumpExprs()})
		}
	}
	for _, r := range append(rulesOf(hp, id), rulesOf(mq, id)...) {
		r.Table = pfTable
		if err := c.DelRule(r); err != nil {
			return fmt.Errorf("port forwards of %s: %w", id, err)
		}
	}
	comment := userdata.AppendString(nil, userdata.TypeComment, id)
	for _, f := range fw {
		c.AddRule(&nftables.Rule{Table: pfTable, Chain: hostports, Exprs: dnatExprs(f, ip), UserData: comment})
	}
	loopback := net.IPv4(127, 0, 0, 1).To4()
	for _, src := range []net.IP{ip, loopback} {
		c.AddRule(&nftables.Rule{Table: pfTable, Chain: masq, Exprs: masqPairExprs(src, ip), UserData: comment})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("port forwards of %s: nftables table ip %s: %w", id, PortsTable, err)
	}
	return nil
}

// localJumpExprs: fib daddr type local jump hostports.
func localJumpExprs() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
		&expr.Verdict{Kind: expr.VerdictJump, Chain: pfHostports},
	}
}

// dnatExprs: <proto> dport <hostPort> dnat to <ip>:<containerPort>.
func dnatExprs(f forward, ip net.IP) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{f.proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(f.hostPort)},
		&expr.Immediate{Register: 1, Data: ip.To4()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(f.contPort)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	}
}

// masqPairExprs: ip saddr <src> ip daddr <dst> masquerade.
func masqPairExprs(src, dst net.IP) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: src.To4()},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: dst.To4()},
		&expr.Masq{},
	}
}

// enableRouteLocalnet sets route_localnet on the bridge, so that the
// host's 127.0.0.1 may be routed to a task (portmap's snat does the same
// on the interface routing to the task).
func enableRouteLocalnet(bridge string) error {
	path := "/proc/sys/net/ipv4/conf/" + bridge + "/route_localnet"
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == "1" {
		return nil
	}
	if err := os.WriteFile(path, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enable route_localnet on %s: %w", bridge, err)
	}
	return nil
}

// flushUDPConntrack deletes the conntrack entries of the UDP host ports
// (as portmap does after ADD and DEL): a flow seen before the forward
// existed, or after it went, would otherwise keep its stale NAT state.
// Failures only cost that; they are not reported.
func flushUDPConntrack(fw []forward) {
	for _, f := range fw {
		if f.proto != unix.IPPROTO_UDP {
			continue
		}
		filter := &netlink.ConntrackFilter{}
		if filter.AddProtocol(unix.IPPROTO_UDP) != nil || filter.AddPort(netlink.ConntrackOrigDstPort, f.hostPort) != nil {
			continue
		}
		_, _ = netlink.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, filter)
	}
}

// unforwardPorts is what a DEL of the built-in network does beyond
// dropRules (which removes container id's rules): the UDP conntrack
// flush.
func unforwardPorts(ports []PortMapping) {
	if fw, err := forwards(ports); err == nil {
		flushUDPConntrack(fw)
	}
}
