package cni

import (
	"errors"
	"fmt"
	"net"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// Masquerade of the built-in bridge. The bridge plugin's ipMasq adds a
// rule per container (its nftables backend runs nft four times per ADD
// and as many per DEL, most of a bridge task's start-up cost); the
// agents of a host masquerade the bridge's whole subnet instead, with
// one rule in a table of their own: what leaves the subnet from an
// address in it, multicast aside, goes out with the host's address —
// what the plugin's per-container rules do ("ip saddr <task> ip daddr !=
// <subnet> masquerade" after a multicast return, github.com/
// containernetworking/plugins pkg/ip/ipmasq_nftables_linux.go). The
// table lives as long as the bridge: Attach puts it in place (a netlink
// dump, no process), removeIdle removes it with the idle bridge. Both run
// under the host lock (shared for Attach, exclusive for removeIdle), and
// a write replaces the chain's content in one transaction, so agents
// racing to put it in place leave one rule.

// MasqTable is the nftables table (inet family) masquerading bridge's
// subnet.
func MasqTable(bridge string) string { return "nodectl_masq_" + bridge }

// masqComment is the comment of the one rule: the subnet it is for, so a
// changed subnet rewrites it.
func masqComment(bridge, subnet string) string {
	return "nodectl: " + subnet + " of bridge " + bridge + " leaving its subnet"
}

// ensureMasquerade puts the built-in bridge's masquerade in place unless
// it is there already.
func (m *Manager) ensureMasquerade() error {
	_, ipn, err := net.ParseCIDR(m.cfg.Subnet)
	if err != nil || ipn.IP.To4() == nil {
		return fmt.Errorf("bridge subnet %q: not an IPv4 network", m.cfg.Subnet)
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("masquerade of %s: %w", m.cfg.Subnet, err)
	}
	comment := masqComment(m.cfg.Bridge, m.cfg.Subnet)
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: MasqTable(m.cfg.Bridge)}
	if rules, err := c.GetRules(t, &nftables.Chain{Name: "postrouting", Table: t}); err == nil && len(rules) == 1 {
		if got, _ := userdata.GetString(rules[0].UserData, userdata.TypeComment); got == comment {
			return nil
		}
	}
	c.AddTable(t)
	ch := c.AddChain(&nftables.Chain{
		Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource,
	})
	c.FlushChain(ch)
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: masqExprs(ipn), UserData: userdata.AppendString(nil, userdata.TypeComment, comment)})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("masquerade of %s: nftables table inet %s: %w", m.cfg.Subnet, t.Name, err)
	}
	return nil
}

// masqExprs: ip saddr <subnet> ip daddr != <subnet> ip daddr != 224.0.0.0/4 masquerade.
func masqExprs(subnet *net.IPNet) []expr.Any {
	mcast := &net.IPNet{IP: net.IPv4(224, 0, 0, 0).To4(), Mask: net.CIDRMask(4, 32)}
	match := func(offset uint32, op expr.CmpOp, n *net.IPNet) []expr.Any {
		return []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: n.Mask, Xor: make([]byte, 4)},
			&expr.Cmp{Op: op, Register: 1, Data: n.IP.To4()},
		}
	}
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
	}
	e = append(e, match(12, expr.CmpOpEq, subnet)...)  // source
	e = append(e, match(16, expr.CmpOpNeq, subnet)...) // destination
	e = append(e, match(16, expr.CmpOpNeq, mcast)...)
	return append(e, &expr.Masq{})
}

// removeMasquerade deletes the built-in bridge's masquerade table; a
// table that is not there is no error.
func (m *Manager) removeMasquerade() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("remove the masquerade of %s: %w", m.cfg.Bridge, err)
	}
	t, err := c.ListTableOfFamily(MasqTable(m.cfg.Bridge), nftables.TableFamilyINet)
	if err != nil {
		return nil // not there
	}
	c.DelTable(t)
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove nftables table inet %s: %w", t.Name, err)
	}
	return nil
}

// masqPresent reports whether the built-in bridge's masquerade table
// exists (true when unsure).
func (m *Manager) masqPresent() bool {
	c, err := nftables.New()
	if err != nil {
		return true
	}
	_, err = c.ListTableOfFamily(MasqTable(m.cfg.Bridge), nftables.TableFamilyINet)
	return err == nil
}
