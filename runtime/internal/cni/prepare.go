package cni

import (
	"context"
	"errors"
	"fmt"

	types100 "github.com/containernetworking/cni/pkg/types/100"
	"golang.org/x/sys/unix"
)

// Attaching in two steps, for a container created while its network is
// attached (the agent's gated start, runtime/network.go): Prepare makes
// the namespace the container is created in — in-process, a few
// milliseconds — and Add runs the network's plugins on it meanwhile.
// Attach is the two in a row.

// Prepare claims container id's networking (owners.go) and creates its
// namespace, pinned at NetNSPath(id), for Add. The network need not be
// known yet (a cluster network is defined on its first task's start).
// Unprepare, Add's failure or Detach removes a prepared namespace.
func (m *Manager) Prepare(id string) (string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	defer m.lockID(id)()
	unlock := hostLock(unix.LOCK_SH) // cleanup.go: no sweep between claim and namespace
	defer unlock()
	if err := m.claim(id); err != nil { // owners.go: before any rule exists
		return "", err
	}
	ns := m.NetNSPath(id)
	if err := newNetNS(ns); err != nil {
		unclaim(id)
		return "", fmt.Errorf("create network namespace: %w", err)
	}
	return ns, nil
}

// Unprepare removes the namespace Prepare made for container id when no
// Add ran on it (its network could not be set up).
func (m *Manager) Unprepare(id string) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	defer m.lockID(id)()
	unlock := hostLock(unix.LOCK_SH)
	defer unlock()
	if err := removeNetNS(m.NetNSPath(id)); err != nil {
		return err
	}
	unclaim(id)
	return nil
}

// Add adds container id's prepared namespace to network with the port
// mappings (CNI ADD). On failure nothing is left behind: not even the
// namespace, which a container created in it keeps alive until it ends.
func (m *Manager) Add(ctx context.Context, id, network string, ports []PortMapping) (Attachment, error) {
	list, err := m.network(network)
	if err != nil {
		return Attachment{}, errors.Join(err, m.Unprepare(id))
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	defer m.lockID(id)()
	unlock := hostLock(unix.LOCK_SH) // cleanup.go: no bridge removal meanwhile
	defer unlock()
	ns := m.NetNSPath(id)
	fail := func(err error) (Attachment, error) {
		return Attachment{}, errors.Join(err, m.detach(context.WithoutCancel(ctx), id, list, ports))
	}
	if !isNetNS(ns) {
		return fail(fmt.Errorf("network namespace %s: not prepared", ns))
	}
	if list == m.bridge {
		if err := m.ensureMasquerade(); err != nil { // masq.go
			return fail(err)
		}
	}
	res, err := m.cni.AddNetworkList(ctx, list, m.runtimeConf(id, ports, ns, "eth0"))
	if err != nil {
		return fail(fmt.Errorf("cni add %s: %w", list.Name, err))
	}
	att := Attachment{NetNS: ns}
	if r, err := types100.NewResultFromResult(res); err == nil {
		for _, ip := range r.IPs {
			att.IPs = append(att.IPs, ip.Address.String())
		}
	}
	if list == m.bridge {
		if err := m.forwardPorts(id, att.IPs, ports); err != nil { // portfwd.go
			return fail(err)
		}
	}
	return att, nil
}
