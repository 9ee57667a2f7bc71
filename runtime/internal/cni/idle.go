package cni

import (
	"errors"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netlink"
	"sigs.k8s.io/knftables"
)

// mayBeIdle is removeIdle's first look, taken under no lock and with
// netlink dumps only (no nft process): it reports false when everything
// removeIdle could remove is plainly in use — the built-in bridge has a
// port (or is not there, nor its masquerade) and every plugin table that
// exists holds a rule naming a container. The common case after a DEL
// while other tasks run: removeIdle then neither takes the exclusive
// locks, which would hold up every ADD and DEL of the host meanwhile, nor
// runs nft a dozen times. When unsure it reports true, and removeIdle
// looks again, exactly, under the exclusive locks. A DEL racing this look
// runs a sweep of its own afterwards, so the last one sees the idle state.
func (m *Manager) mayBeIdle() bool {
	l, err := netlink.LinkByName(m.cfg.Bridge)
	switch {
	case err == nil:
		if _, ok := l.(*netlink.Bridge); ok && !bridgeHasPorts(l.Attrs().Index) {
			return true
		}
	case errors.As(err, &netlink.LinkNotFoundError{}):
		if m.masqPresent() {
			return true
		}
	default:
		return true
	}
	c, err := nftables.New()
	if err != nil {
		return true
	}
	for _, t := range pluginTables {
		busy, ok := tableHasContainerRule(c, t)
		if !ok || !busy {
			return true
		}
	}
	return false
}

// tableHasContainerRule reports whether plugin table t, if it exists,
// holds a rule with a comment (every rule a plugin adds for a container
// has one); ok is false when the dump failed. A table that does not
// exist is busy: there is nothing to remove.
func tableHasContainerRule(c *nftables.Conn, t pluginTable) (busy, ok bool) {
	fam := map[knftables.Family]nftables.TableFamily{
		knftables.IPv4Family: nftables.TableFamilyIPv4, knftables.IPv6Family: nftables.TableFamilyIPv6, knftables.InetFamily: nftables.TableFamilyINet,
	}[t.family]
	tbl, err := c.ListTableOfFamily(t.name, fam)
	if err != nil {
		return true, true // not there
	}
	for _, ch := range t.chains {
		rules, err := c.GetRules(tbl, &nftables.Chain{Name: ch, Table: tbl})
		if err != nil {
			return false, false
		}
		for _, r := range rules {
			if s, _ := userdata.GetString(r.UserData, userdata.TypeComment); s != "" {
				return true, true
			}
		}
	}
	return false, true
}
