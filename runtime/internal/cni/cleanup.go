package cni

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"sigs.k8s.io/knftables"
)

// Recovery and cleanup. A task's networking outlives the agent: the
// namespace stays pinned under Dir/netns, host-local keeps its lease
// files under Dir/ipam, the plugins' nftables rules stay in the kernel
// and libcni keeps each attachment (its configuration, runtime arguments
// and result) under Dir/cache. A restarted agent adopts the attachments
// of the containers it reattaches (Adopt) and tears down the others with
// the cached configuration (CleanupOrphans), as Mesos' network/cni
// isolator does in its recover step (src/slave/containerizer/mesos/
// isolators/network/cni/cni.cpp: "cleanup" of unknown orphans).
//
// Several agents may share a host (and tests run side by side), so the
// shared objects — the bridge and the plugins' nftables tables — are
// removed only when idle, under a host-wide lock every nodectl agent
// takes: shared around ADD and DEL, exclusive around removal. Anything
// else touched is this agent's: files under Dir and rules whose comment
// names one of its container ids.

// hostLockPath serialises nodectl agents of one host around the shared
// bridge and nftables tables.
const hostLockPath = "/run/lock/nodectl-cni.lock"

// hostLock takes the host-wide lock (how: unix.LOCK_SH or LOCK_EX) and
// returns its release. Without /run/lock it degrades to no lock.
func hostLock(how int) func() {
	_ = os.MkdirAll(filepath.Dir(hostLockPath), 0o755)
	f, err := os.OpenFile(hostLockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return func() {}
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	return func() { _ = f.Close() } // closing releases the lock
}

// Adopt takes back a recovered container's attachment to network: its
// pinned namespace must still be there, and its addresses are read from
// libcni's cache (nothing is added again). A CNI CHECK verifies the
// veth and address the plugins set up; adoptPorts (portfwd.go) the port
// forwards.
func (m *Manager) Adopt(ctx context.Context, id, network string, ports []PortMapping) (Attachment, error) {
	list, err := m.network(network)
	if err != nil {
		return Attachment{}, err
	}
	ns := m.NetNSPath(id)
	if !isNetNS(ns) {
		return Attachment{}, fmt.Errorf("the pinned network namespace %s is gone", ns)
	}
	rt := m.runtimeConf(id, ports, ns, "eth0")
	res, err := m.cni.GetNetworkListCachedResult(list, rt)
	if err != nil || res == nil {
		return Attachment{}, fmt.Errorf("no cached CNI result for %s on %s: %w", id, list.Name, err)
	}
	att := Attachment{NetNS: ns}
	if r, err := types100.NewResultFromResult(res); err == nil {
		for _, ip := range r.IPs {
			att.IPs = append(att.IPs, ip.Address.String())
		}
	}
	unlock := hostLock(unix.LOCK_SH)
	defer unlock()
	if err := m.cni.CheckNetworkList(ctx, list, rt); err != nil {
		return att, fmt.Errorf("cni check %s: %w", list.Name, err)
	}
	if list == m.bridge {
		if err := m.adoptPorts(id, att.IPs, ports); err != nil { // portfwd.go
			return att, err
		}
	}
	return att, nil
}

// isNetNS reports whether path is a pinned network namespace (an nsfs
// mount).
func isNetNS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// CleanupOrphans tears down the networking of every container that keep
// rejects: CNI DEL with libcni's cached configuration and arguments (the
// plugins release the address lease, the veth and the port forwards),
// the namespace unpinned, leases left without a cache entry released,
// and the bridge and nftables tables removed if nothing uses them.
func (m *Manager) CleanupOrphans(ctx context.Context, keep func(id string) bool) ([]string, error) {
	m.mu.RLock()
	var errs []error
	cleaned := map[string]bool{}
	atts, err := m.cni.GetCachedAttachments("")
	if err != nil {
		errs = append(errs, fmt.Errorf("read the cni cache: %w", err))
	}
	// Loopback last: it must see the namespace the others DEL in.
	slices.SortStableFunc(atts, func(a, b *libcni.NetworkAttachment) int {
		return boolInt(a.IfName == "lo") - boolInt(b.IfName == "lo")
	})
	unlock := hostLock(unix.LOCK_SH)
	for _, att := range atts {
		if keep(att.ContainerID) {
			continue
		}
		cleaned[att.ContainerID] = true
		if err := m.delCached(ctx, att); err != nil {
			errs = append(errs, err)
		}
	}
	unlock()
	if es, err := os.ReadDir(filepath.Join(m.cfg.Dir, "netns")); err == nil {
		for _, e := range es {
			if keep(e.Name()) {
				continue
			}
			cleaned[e.Name()] = true
			unlockID := m.lockID(e.Name())
			if err := removeNetNS(m.NetNSPath(e.Name())); err != nil {
				errs = append(errs, err)
			}
			unlockID()
		}
	}
	for _, id := range m.releaseOrphanLeases(keep) {
		cleaned[id] = true
	}
	for id := range cleaned {
		unclaim(id) // owners.go
	}
	m.mu.RUnlock()
	// Rules of agents whose work dir is gone (they never start again to
	// clean up after themselves): any agent of the host removes them.
	if swept, err := SweepHost(ctx); err != nil {
		errs = append(errs, err)
	} else if len(swept) > 0 {
		m.cfg.Logger.Info("removed port forwards of containers whose agent's work dir is gone", "containers", swept)
	}
	m.sweepIdle()
	var ids []string
	for id := range cleaned {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, errors.Join(errs...)
}

// delCached runs CNI DEL for a cached attachment with its cached
// configuration and arguments; the namespace is passed while pinned.
func (m *Manager) delCached(ctx context.Context, att *libcni.NetworkAttachment) error {
	defer m.lockID(att.ContainerID)()
	list, err := libcni.ConfListFromBytes(att.Config)
	if err != nil {
		_ = os.Remove(filepath.Join(m.cfg.Dir, "cache", "results", att.Network+"-"+att.ContainerID+"-"+att.IfName))
		return fmt.Errorf("cached config of %s on %s: %w", att.ContainerID, att.Network, err)
	}
	rt := &libcni.RuntimeConf{ContainerID: att.ContainerID, IfName: att.IfName, Args: att.CniArgs, CapabilityArgs: att.CapabilityArgs}
	if ns := m.NetNSPath(att.ContainerID); isNetNS(ns) {
		rt.NetNS = ns
	}
	err = m.cni.DelNetworkList(ctx, list, rt)
	if err != nil {
		err = fmt.Errorf("cni del %s of orphan %s: %w", list.Name, att.ContainerID, err)
	}
	return errors.Join(err, dropRules(ctx, att.ContainerID))
}

// dropRules deletes the rules of the nodectl and plugin tables whose
// comment names container id: its port forwards (portfwd.go), and what a
// plugin's DEL leaves when it cannot run whole (the bridge plugin tears
// its masquerade rules down only while the namespace exists; tasks
// attached by versions that used portmap). portmap's and nodectl's
// comment is the id, bridge's ends with "id: <id>". Netlink dumps and one
// transaction, no nft process.
func dropRules(_ context.Context, id string) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("remove the nftables rules of %s: %w", id, err)
	}
	return dropRulesIn(c, id)
}

// dropRulesIn is dropRules on connection c (a namespace's in tests).
func dropRulesIn(c *nftables.Conn, id string) error {
	err := dropRulesOnce(c, id)
	if errors.Is(err, unix.ENOENT) { // a rule went meanwhile: the batch did nothing
		err = dropRulesOnce(c, id)
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove the nftables rules of %s: %w", id, err)
	}
	return nil
}

func dropRulesOnce(c *nftables.Conn, id string) error {
	tables, err := c.ListTables()
	if err != nil {
		return err
	}
	n := 0
	for _, t := range pluginTables {
		tbl := &nftables.Table{Family: nftFamily(t.family), Name: t.name}
		if !slices.ContainsFunc(tables, func(x *nftables.Table) bool { return x.Name == tbl.Name && x.Family == tbl.Family }) {
			continue
		}
		for _, ch := range t.chains {
			rules, err := c.GetRules(tbl, &nftables.Chain{Name: ch, Table: tbl})
			if err != nil {
				continue // no such table or chain
			}
			for _, r := range rules {
				s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
				if s != "" && (s == id || strings.HasSuffix(s, "id: "+id)) {
					r.Table = tbl
					if err := c.DelRule(r); err != nil {
						return err
					}
					n++
				}
			}
		}
	}
	if n == 0 {
		return nil
	}
	return c.Flush()
}

// nftFamily is google/nftables' family of a knftables family.
func nftFamily(f knftables.Family) nftables.TableFamily {
	switch f {
	case knftables.IPv4Family:
		return nftables.TableFamilyIPv4
	case knftables.IPv6Family:
		return nftables.TableFamilyIPv6
	default:
		return nftables.TableFamilyINet
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// releaseOrphanLeases removes host-local lease files (<ipam dir>/<network>/
// <address>, holding "<container id>\r\n<ifname>") of containers keep
// rejects: what a DEL would have released had the cache survived. It
// returns their container ids. In the host's shared pool (hostIPAMDir) it
// releases only leases of containers this agent owns (SweepHost those of
// owners whose directory is gone); Dir/ipam holds leases of nodectl
// versions that kept a pool per agent.
func (m *Manager) releaseOrphanLeases(keep func(string) bool) []string {
	self, _ := filepath.Abs(m.cfg.Dir)
	ids := releaseLeasesIn(filepath.Join(m.cfg.Dir, "ipam"), keep)
	return append(ids, releaseLeasesIn(hostIPAMDir, func(id string) bool {
		return keep(id) || ownerDir(id) != self // others' go in SweepHost
	})...)
}

// releaseLeasesIn removes the lease files under root of containers keep
// rejects.
func releaseLeasesIn(root string, keep func(string) bool) []string {
	var ids []string
	nets, _ := os.ReadDir(root)
	for _, n := range nets {
		dir := filepath.Join(root, n.Name())
		files, _ := os.ReadDir(dir)
		for _, f := range files {
			if f.Name() == "lock" || strings.HasPrefix(f.Name(), "last_reserved_ip") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, f.Name()))
			if err != nil {
				continue
			}
			id, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\r\n")
			id = strings.TrimSpace(id)
			if id == "" || keep(id) {
				continue
			}
			if os.Remove(filepath.Join(dir, f.Name())) == nil {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// sweepIdle runs removeIdle in the background (deleting a bridge waits
// for the kernel to finish tearing down the namespaces just released,
// which can take seconds): one sweep at a time, and one more if asked
// meanwhile.
func (m *Manager) sweepIdle() {
	m.idleMu.Lock()
	defer m.idleMu.Unlock()
	if m.sweeping {
		m.sweepAgain = true
		return
	}
	m.sweeping = true
	go func() {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			if err := m.removeIdle(ctx); err != nil {
				m.cfg.Logger.Warn("remove idle container networking", "err", err)
			}
			cancel()
			m.idleMu.Lock()
			if !m.sweepAgain {
				m.sweeping = false
				m.idleMu.Unlock()
				return
			}
			m.sweepAgain = false
			m.idleMu.Unlock()
		}
	}()
}

// removeIdle removes the built-in bridge (and its masquerade) once no
// interface is attached to it, and the nftables tables the plugins create
// once no rule of any container is left in them, under the exclusive host lock (no agent of
// this host is adding or deleting meanwhile).
func (m *Manager) removeIdle(ctx context.Context) error {
	if !m.mayBeIdle() { // idle.go
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	unlock := hostLock(unix.LOCK_EX)
	defer unlock()
	var errs []error
	for _, t := range pluginTables { // first: quick, where the bridge can take seconds
		if err := removeIdleTable(ctx, t); err != nil {
			errs = append(errs, err)
		}
	}
	l, err := netlink.LinkByName(m.cfg.Bridge)
	gone := errors.As(err, &netlink.LinkNotFoundError{})
	if err == nil {
		if _, ok := l.(*netlink.Bridge); ok && !bridgeHasPorts(l.Attrs().Index) {
			if err := netlink.LinkDel(l); err != nil {
				errs = append(errs, fmt.Errorf("remove idle bridge %s: %w", m.cfg.Bridge, err))
			} else {
				gone = true
			}
		}
	}
	if gone { // the masquerade goes with the bridge (masq.go)
		if err := m.removeMasquerade(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// bridgeHasPorts reports whether some interface is enslaved to the bridge
// with index idx.
func bridgeHasPorts(idx int) bool {
	links, err := netlink.LinkList()
	if err != nil {
		return true // unsure: keep it
	}
	for _, l := range links {
		if l.Attrs().MasterIndex == idx {
			return true
		}
	}
	return false
}

// pluginTable is an nftables table the reference plugins or nodectl
// (PortsTable) create, with the chains created in it.
type pluginTable struct {
	family knftables.Family
	name   string
	chains []string
}

// pluginTables: nodectl's port forwards (portfwd.go), portmap's (nftables
// backend: tasks of operators' networks, and of versions that used it on
// the bridge) and bridge's ipMasq (ipMasqBackend nftables, versions that
// used it), from github.com/containernetworking/plugins
// plugins/meta/portmap/portmap_nftables.go and pkg/ip/ipmasq_nftables_linux.go.
var pluginTables = []pluginTable{
	{knftables.IPv4Family, PortsTable, []string{pfHostports, pfPrerouting, pfOutput, pfMasquerades}},
	{knftables.IPv4Family, "cni_hostport", []string{"hostports", "hostip_hostports", "hostports_all", "prerouting", "output", "masquerading"}},
	{knftables.IPv6Family, "cni_hostport", []string{"hostports", "hostip_hostports", "hostports_all", "prerouting", "output", "masquerading"}},
	{knftables.InetFamily, "cni_plugins_masquerade", []string{"masq_checks", "postrouting"}},
}

// removeIdleTable deletes a plugin table holding nothing but the chains
// the plugin creates and their fixed rules: every rule a plugin adds for
// a container carries a comment naming it, so a table without a
// commented rule serves no container. A table with other chains, sets or
// maps is someone else's and kept.
func removeIdleTable(ctx context.Context, t pluginTable) error {
	nft, err := knftables.New(t.family, t.name)
	if err != nil {
		return nil // no nft: the plugins could not have made it either
	}
	objs, err := nft.ListAll(ctx)
	if err != nil {
		return nil // no such table (or nothing we may read)
	}
	for kind, names := range objs {
		switch kind {
		case "table", "rule":
		case "chain":
			for _, n := range names {
				if !slices.Contains(t.chains, n) {
					return nil
				}
			}
		default:
			return nil
		}
	}
	rules, err := nft.ListRules(ctx, "")
	if err != nil {
		return nil
	}
	for _, r := range rules {
		if r.Comment != nil && *r.Comment != "" {
			return nil
		}
	}
	tx := nft.NewTransaction()
	tx.Delete(&knftables.Table{})
	if err := nft.Run(ctx, tx); err != nil && !knftables.IsNotFound(err) {
		return fmt.Errorf("remove idle nftables table %s %s: %w", t.family, t.name, err)
	}
	return nil
}
