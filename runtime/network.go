package runtime

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"nodectl/cluster/api"
	"nodectl/runtime/internal/cni"
	"nodectl/runtime/internal/container"
)

// Container networking, as Mesos' network/cni isolator
// (https://mesos.apache.org/documentation/latest/cni/): a task whose
// ContainerInfo names a network (network_infos) gets a network namespace
// of its own, pinned under <work-dir>/cni/netns/<container id>, attached
// with CNI before its container starts and detached (CNI DEL: address,
// veth, port forwards) when the task's container is released. The
// namespace's path is derived from the container id and the network from
// the checkpointed TaskInfo, so a recovered task keeps its namespace and
// is detached when it ends; libcni's cache under <work-dir>/cni/cache
// keeps each attachment's result for the DEL.

// newNetworks prepares CNI: the embedded plugins go to <work-dir>/bin/cni.
// Without them the agent still runs host-network tasks.
func newNetworks(cfg Config) (*cni.Manager, error) {
	m, err := cni.New(cni.Config{
		Dir: filepath.Join(cfg.WorkDir, "cni"), BinDir: filepath.Join(cfg.WorkDir, "bin", "cni"),
		ConfDir: cfg.NetworkCNIConfigDir, PluginsDir: cfg.NetworkCNIPluginsDir, Logger: cfg.Logger,
	})
	if err != nil {
		if cfg.Logger != nil {
			cfg.Logger.Warn("container networks disabled on this agent (tasks can use the host network only)", "err", err)
		}
		return nil, err
	}
	return m, nil
}

// taskNetwork is the network a task joins ("" for the host's) and the
// port mappings to it.
func taskNetwork(ti api.TaskInfo) (string, []cni.PortMapping, error) {
	if ti.Container == nil || len(ti.Container.NetworkInfos) == 0 {
		return "", nil, nil
	}
	if len(ti.Container.NetworkInfos) > 1 {
		return "", nil, errors.New("a task on more than one network is not yet supported")
	}
	n := ti.Container.NetworkInfos[0]
	name := n.Name
	if name == "" {
		name = cni.BridgeNetwork
	}
	var ports []cni.PortMapping
	for _, p := range n.PortMappings {
		proto := strings.ToLower(p.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		for _, pr := range strings.Split(proto, ",") {
			if pr != "tcp" && pr != "udp" {
				return "", nil, fmt.Errorf("port mapping %d→%d: protocol %q (tcp or udp)", p.HostPort, p.ContainerPort, p.Protocol)
			}
		}
		if p.HostPort == 0 || p.HostPort > 65535 || p.ContainerPort == 0 || p.ContainerPort > 65535 {
			return "", nil, fmt.Errorf("port mapping %d→%d: ports must be in 1..65535", p.HostPort, p.ContainerPort)
		}
		ports = append(ports, cni.PortMapping{HostPort: int(p.HostPort), ContainerPort: int(p.ContainerPort), Protocol: proto})
	}
	return name, ports, nil
}

// pendingNetwork is a task's network attachment made while the rest of
// its container is prepared (startContainer): CNI ADD, mostly plugin and
// nft processes, overlaps image and sandbox preparation.
type pendingNetwork struct {
	done chan struct{}
	spec container.Spec // the namespace and the resolv.conf mount
	err  error
}

// beginNetwork starts attaching the task's container to its network, if
// it has one, under ctx (a KILL during launch ends the ADD, which then
// removes what it made).
func (a *Agent) beginNetwork(ctx context.Context, t *task) *pendingNetwork {
	p := &pendingNetwork{done: make(chan struct{})}
	if name, _, err := taskNetwork(t.info); err == nil && name == "" {
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		p.err = a.attachNetwork(ctx, t, &p.spec)
	}()
	return p
}

// wait waits for the attachment to be over: a start that failed returns
// only then, so the release that follows (releaseRootfs) detaches
// whatever it made.
func (p *pendingNetwork) wait() { <-p.done }

// failed is the attachment's error if it is over already.
func (p *pendingNetwork) failed() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// join waits for the attachment; spec joins the namespace.
func (p *pendingNetwork) join(spec *container.Spec) error {
	<-p.done
	if p.err != nil {
		return p.err
	}
	if p.spec.NetNSPath != "" {
		spec.NetNSPath = p.spec.NetNSPath
		spec.Mounts = append(spec.Mounts, p.spec.Mounts...)
	}
	return nil
}

// attachNetwork puts the task's container on its network, if it has one:
// spec joins the prepared namespace.
func (a *Agent) attachNetwork(ctx context.Context, t *task, spec *container.Spec) error {
	name, ports, err := taskNetwork(t.info)
	if err != nil || name == "" {
		return err
	}
	if a.net == nil {
		return fmt.Errorf("this agent cannot put tasks on networks: %w", a.netErr)
	}
	cluster, err := a.prepareClusterNetwork(ctx, name, t.containerID) // overlay.go
	if err != nil {
		return fmt.Errorf("network %s: %w", name, err)
	}
	att, err := a.net.Attach(ctx, t.containerID, name, ports)
	if err != nil {
		if cluster {
			a.dropOverlayUser(t.containerID)
		}
		return fmt.Errorf("network %s: %w", name, err)
	}
	spec.NetNSPath = att.NetNS
	if gw := a.clusterGateway(name); gw != nil {
		a.dnsResolvConfOn(spec, gw) // dns.go
	} else {
		a.dnsResolvConf(spec) // dns.go
	}
	a.setNetInfos(t, name, att)
	a.log.Info("task attached to network", "task_id", t.id, "network", name, "ips", att.IPs, "netns", att.NetNS)
	return nil
}

// setNetInfos records the task's addresses for its status updates, /state
// and /containers (Mesos' ContainerStatus.network_infos).
func (a *Agent) setNetInfos(t *task, name string, att cni.Attachment) {
	var ips []any
	for _, ip := range att.IPs {
		addr, _, _ := strings.Cut(ip, "/")
		proto := "IPv4"
		if strings.Contains(addr, ":") {
			proto = "IPv6"
		}
		ips = append(ips, map[string]any{"protocol": proto, "ip_address": addr})
	}
	info := map[string]any{"name": name, "ip_addresses": ips}
	if pm := t.info.Container.NetworkInfos[0].PortMappings; len(pm) > 0 {
		info["port_mappings"] = pm
	}
	a.tasks.mu.Lock()
	t.netInfos = []any{info}
	a.tasks.mu.Unlock()
}

// adoptNetwork takes back a reattached task's network attachment after an
// agent restart: the namespace, address lease and port forwards it had
// are kept (never added again) and its addresses are reported again.
func (a *Agent) adoptNetwork(ctx context.Context, t *task) {
	name, ports, err := taskNetwork(t.info)
	if err != nil || name == "" || a.net == nil {
		return
	}
	a.adoptOverlayUser(name, t.containerID) // overlay.go
	att, err := a.net.Adopt(ctx, t.containerID, name, ports)
	if len(att.IPs) > 0 {
		a.setNetInfos(t, name, att)
	}
	if err != nil {
		a.log.Warn("recovered task's network attachment is damaged", "task_id", t.id, "network", name, "err", err)
		return
	}
	if a.net.IsClusterNetwork(name) && len(att.IPs) > 0 {
		a.dnsAdoptGateway(att.IPs[0]) // dns.go
	}
	a.log.Info("task's network attachment recovered", "task_id", t.id, "network", name, "ips", att.IPs)
}

// cleanupNetworkOrphans tears down, at agent start, the networking of
// containers that no reattached task owns: orphans the checkpoint does
// not know, and tasks whose end was recorded but whose networking was
// not released before the agent died.
func (a *Agent) cleanupNetworkOrphans(ctx context.Context) {
	if a.net == nil {
		return
	}
	a.tasks.mu.Lock()
	keep := map[string]bool{}
	for _, t := range a.tasks.live {
		if t.ctr != nil { // reattached: its end releases its network
			keep[t.containerID] = true
		}
	}
	a.tasks.mu.Unlock()
	ids, err := a.net.CleanupOrphans(ctx, func(id string) bool { return keep[id] })
	if len(ids) > 0 {
		a.log.Info("removed the networking of orphan containers", "container_ids", ids)
	}
	if err != nil {
		a.log.Warn("clean up orphan container networking", "err", err)
	}
	a.sweepOverlay(ctx) // overlay.go
}

// releaseNetwork detaches an ended task from its network; harmless for a
// task never attached.
func (a *Agent) releaseNetwork(t *task) {
	name, ports, err := taskNetwork(t.info)
	if err != nil || name == "" || a.net == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.net.Detach(ctx, t.containerID, name, ports); err != nil {
		a.log.Warn("detach task from its network", "task_id", t.id, "network", name, "err", err)
	}
	a.dropOverlayUser(t.containerID) // overlay.go: the last one removes the overlay
}
