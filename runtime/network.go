package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// pendingNetwork is a task's network attachment made while its container
// is prepared and created (startContainer). The namespace is made first
// (cni Prepare, in-process, milliseconds); the container is created in it
// and waits at its gate (container.Spec.WaitBeforeExec) while CNI ADD —
// plugin and nft processes — runs; the gate opens once ADD succeeded
// (open). A failed ADD or a KILL meanwhile destroys the created container
// instead: its process never runs.
type pendingNetwork struct {
	prepared chan struct{} // closed once ns is made, or could not be
	done     chan struct{} // closed once the attachment is over
	ns       string        // the prepared namespace ("" none)
	// resolvConf is the task's own resolv.conf (not on the built-in
	// bridge), mounted empty at create and filled after ADD from spec.
	resolvConf string
	spec       container.Spec // the resolv.conf mount ADD's result chose
	err        error
}

// beginNetwork starts attaching the task's container to its network, if
// it has one, under ctx (a KILL during launch ends the ADD, which then
// removes what it made).
func (a *Agent) beginNetwork(ctx context.Context, t *task) *pendingNetwork {
	p := &pendingNetwork{prepared: make(chan struct{}), done: make(chan struct{})}
	if name, _, err := taskNetwork(t.info); err == nil && name == "" {
		close(p.prepared)
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		p.err = a.attachNetwork(ctx, t, p)
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

// joinNetwork waits for the namespace; spec joins it, with the resolv.conf
// mount, and waits at its gate for open. A task without a network is
// left as it is.
func (a *Agent) joinNetwork(p *pendingNetwork, spec *container.Spec) error {
	<-p.prepared
	if p.ns == "" { // no network, or it failed before the namespace was made
		<-p.done
		return p.err
	}
	spec.NetNSPath = p.ns
	spec.WaitBeforeExec = true
	if p.resolvConf != "" {
		spec.Mounts = append(spec.Mounts, container.Mount{Source: p.resolvConf, Destination: "/etc/resolv.conf", ReadOnly: true})
	} else {
		a.dnsResolvConf(spec) // dns.go: the built-in bridge's, known already
	}
	return nil
}

// Launch stages of a task on a network (launchHook, tests only).
const (
	stageGated    launchStage = "gated"    // its container is created and waits at its gate
	stageAttached launchStage = "attached" // ADD succeeded, the gate is not open yet
)

// openGate waits for the attachment of a container created from
// joinNetwork's spec, fills its resolv.conf and lets its process run. On
// error the caller destroys the container.
func (a *Agent) openGate(ctx context.Context, t *task, p *pendingNetwork, ctr taskContainer) error {
	if !ctr.Spec().WaitBeforeExec {
		return nil // host network: no gate
	}
	atStage(stageGated, t)
	<-p.done
	if p.err != nil {
		return p.err
	}
	if p.resolvConf != "" {
		if err := fillResolvConf(p.resolvConf, p.spec); err != nil {
			return err
		}
	}
	atStage(stageAttached, t)
	return ctr.OpenGate(ctx)
}

// taskResolvConf is where the resolv.conf of a task on a network other
// than the built-in bridge is: its name server is known only once the
// task's network is set up.
func (a *Agent) taskResolvConf(containerID string) string {
	return filepath.Join(a.cfg.WorkDir, "dns", "tasks", containerID)
}

// fillResolvConf writes, in place (the container's bind mount holds the
// inode), the content of the resolv.conf spec mounts — the agent's DNS
// server on the network — or else the host's.
func fillResolvConf(path string, spec container.Spec) error {
	src := "/etc/resolv.conf"
	for _, m := range spec.Mounts {
		if m.Destination == "/etc/resolv.conf" {
			src = m.Source
		}
	}
	b, err := os.ReadFile(src)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("resolv.conf: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("resolv.conf: %w", err)
	}
	return nil
}

// attachNetwork puts the task's container on its network, if it has one:
// the namespace first (p.prepared), then the network's setup and CNI ADD.
func (a *Agent) attachNetwork(ctx context.Context, t *task, p *pendingNetwork) error {
	prepared := sync.OnceFunc(func() { close(p.prepared) })
	defer prepared()
	name, ports, err := taskNetwork(t.info)
	if err != nil || name == "" {
		return err
	}
	if a.net == nil {
		return fmt.Errorf("this agent cannot put tasks on networks: %w", a.netErr)
	}
	var conf string
	if name != cni.BridgeNetwork {
		conf = a.taskResolvConf(t.containerID)
		if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
			return fmt.Errorf("network %s: resolv.conf: %w", name, err)
		}
		if err := os.WriteFile(conf, nil, 0o644); err != nil {
			return fmt.Errorf("network %s: resolv.conf: %w", name, err)
		}
	}
	ns, err := a.net.Prepare(t.containerID)
	if err != nil {
		_ = os.Remove(conf)
		return fmt.Errorf("network %s: %w", name, err)
	}
	p.ns, p.resolvConf = ns, conf
	prepared()
	cluster, err := a.prepareClusterNetwork(ctx, name, t.containerID) // overlay.go
	if err != nil {
		return fmt.Errorf("network %s: %w", name, errors.Join(err, a.net.Unprepare(t.containerID)))
	}
	att, err := a.net.Add(ctx, t.containerID, name, ports)
	if err != nil {
		if cluster {
			a.dropOverlayUser(t.containerID)
		}
		return fmt.Errorf("network %s: %w", name, err)
	}
	spec := &p.spec
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
	_ = os.Remove(a.taskResolvConf(t.containerID))
	a.dropOverlayUser(t.containerID) // overlay.go: the last one removes the overlay
}
