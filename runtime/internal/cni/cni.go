// Package cni attaches task containers to CNI networks, as Mesos'
// network/cni isolator does (docs: https://mesos.apache.org/documentation/latest/cni/):
// each task with a network gets a network namespace of its own, pinned
// under the agent's work dir, and the CNI plugins of its network are run
// on it (ADD before the container starts, DEL when it is destroyed).
//
// The reference plugins (github.com/containernetworking/plugins: bridge,
// host-local, portmap, loopback) are built by `make build` into pluginbin/
// and embedded in nodectl, then installed under the work dir at start, the
// way k3s ships its own; --network_cni_plugins_dir is searched first.
//
// The built-in network is Mesos' "mesos-bridge" (Marathon's container/bridge
// mode): a Linux bridge, addresses from host-local IPAM under the work dir,
// port forwards for the task's port mappings written by the agent over
// netlink (portfwd.go, what the portmap plugin would do), and one
// masquerade rule for the bridge's subnet (masq.go). Operators
// add networks with CNI configuration lists in --network_cni_config_dir.
package cni

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"nodectl/runtime/internal/embedbin"

	"github.com/containernetworking/cni/libcni"
	"golang.org/x/sys/unix"
)

// BridgeNetwork is the name of the built-in bridge network (the name
// Marathon gives container/bridge networking on the Mesos containerizer,
// its --mesos_bridge_name default).
const BridgeNetwork = "mesos-bridge"

// Defaults of the built-in bridge network.
const (
	DefaultBridge = "nodectl0"
	DefaultSubnet = "172.31.0.0/16"
)

// Plugins are the embedded plugin binaries.
var Plugins = []string{"bridge", "host-local", "loopback", "portmap"}

// pluginFS holds the plugins when `make build` put them in pluginbin/.
//
//go:embed all:pluginbin
var pluginFS embed.FS

// ErrNoPlugins: nodectl was built without the embedded CNI plugins.
var ErrNoPlugins = errors.New("nodectl was built without the CNI plugins; build with make build")

// Config configures a Manager.
type Config struct {
	// Dir holds the namespaces (netns/), IPAM leases (ipam/) and libcni's
	// result cache (cache/); BinDir gets the embedded plugins.
	Dir, BinDir string
	// ConfDir (--network_cni_config_dir) holds operators' network
	// configuration lists; PluginsDir (--network_cni_plugins_dir) is
	// searched for plugins before BinDir.
	ConfDir, PluginsDir string
	// Bridge and Subnet of the built-in network; defaults above.
	Bridge, Subnet string
	// Logger gets what background work could not do (slog.Default if nil).
	Logger *slog.Logger
}

// Manager runs CNI for the agent's tasks.
type Manager struct {
	cfg    Config
	cni    *libcni.CNIConfig
	bridge *libcni.NetworkConfigList
	// lo: the loopback network earlier versions attached each namespace
	// to (newNetNS brings loopback up now); kept for their DEL.
	lo *libcni.NetworkConfigList
	// mu: attachments share it (RLock) for as long as they run; removing
	// the bridge once no namespace is left takes it exclusively.
	mu sync.RWMutex
	// idMu serialises a container's ADD, DEL and cleanup (cleanup.go),
	// striped by container id.
	idMu [64]sync.Mutex
	// idleMu guards the background removal of the idle bridge and tables
	// (sweepIdle, cleanup.go).
	idleMu               sync.Mutex
	sweeping, sweepAgain bool
}

// lockID locks container id's stripe and returns the unlock.
func (m *Manager) lockID(id string) func() {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	mu := &m.idMu[h.Sum32()%uint32(len(m.idMu))]
	mu.Lock()
	return mu.Unlock
}

// PortMapping forwards HostPort on the host to ContainerPort in the task's
// namespace; Protocol is tcp or udp.
type PortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
}

// Attachment is a task's place on a network.
type Attachment struct {
	NetNS string   // the pinned namespace the container joins
	IPs   []string // the task's addresses (CIDR notation)
}

// New installs the plugins and prepares the built-in network.
func New(cfg Config) (*Manager, error) {
	if cfg.Bridge == "" {
		cfg.Bridge = DefaultBridge
	}
	if cfg.Subnet == "" {
		cfg.Subnet = DefaultSubnet
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := installPlugins(cfg.BinDir); err != nil {
		return nil, err
	}
	for _, d := range []string{"netns", "ipam", "cache"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	var path []string
	if cfg.PluginsDir != "" {
		path = append(path, cfg.PluginsDir)
	}
	path = append(path, cfg.BinDir)
	m := &Manager{cfg: cfg, cni: libcni.NewCNIConfigWithCacheDir(path, filepath.Join(cfg.Dir, "cache"), nil)}
	var err error
	if m.bridge, err = libcni.ConfListFromBytes(bridgeConf(cfg)); err != nil {
		return nil, fmt.Errorf("built-in bridge network: %w", err)
	}
	if m.lo, err = libcni.ConfListFromBytes([]byte(`{"cniVersion":"1.0.0","name":"nodectl-loopback","plugins":[{"type":"loopback"}]}`)); err != nil {
		return nil, err
	}
	return m, nil
}

func bridgeConf(cfg Config) []byte {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       BridgeNetwork,
		"plugins": []any{
			map[string]any{
				// ipMasq: one rule for the subnet (masq.go), not one per task;
				// port forwards: portfwd.go, not the portmap plugin.
				"type": "bridge", "bridge": cfg.Bridge, "isGateway": true, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": hostIPAMDir, // owners.go: one pool for every agent of the host
					"ranges":  []any{[]any{map[string]any{"subnet": cfg.Subnet}}},
					"routes":  []any{map[string]any{"dst": "0.0.0.0/0"}},
				},
			},
		},
	}
	b, _ := json.Marshal(conf)
	return b
}

// installPlugins writes the embedded plugins to dir, replacing a file only
// when its content differs (embedbin: nothing is read while dir is as this
// nodectl binary left it).
func installPlugins(dir string) error {
	_, err := embedbin.Install(pluginFS, "pluginbin", dir, Plugins...)
	if errors.Is(err, embedbin.ErrMissing) {
		return ErrNoPlugins
	}
	if err != nil {
		return fmt.Errorf("install the CNI plugins: %w", err)
	}
	return nil
}

// NetNSPath is where the namespace of container id is pinned.
func (m *Manager) NetNSPath(id string) string { return filepath.Join(m.cfg.Dir, "netns", id) }

// network is the configuration list of a network by name: the built-in
// bridge or one of ConfDir's.
func (m *Manager) network(name string) (*libcni.NetworkConfigList, error) {
	if name == "" || name == BridgeNetwork {
		return m.bridge, nil
	}
	if l, ok, err := m.clusterNetwork(name); ok { // clusternet.go
		return l, err
	}
	if m.cfg.ConfDir == "" {
		return nil, fmt.Errorf("unknown network %q (no --network_cni_config_dir)", name)
	}
	l, err := libcni.LoadNetworkConf(m.cfg.ConfDir, name)
	if err != nil {
		return nil, fmt.Errorf("network %q: %w", name, err)
	}
	return l, nil
}

func (m *Manager) runtimeConf(id string, ports []PortMapping, netns, ifName string) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{ContainerID: id, NetNS: netns, IfName: ifName}
	var pm []map[string]any
	for _, p := range ports {
		protos := strings.Split(p.Protocol, ",")
		if p.Protocol == "" {
			protos = []string{"tcp"}
		}
		for _, proto := range protos {
			pm = append(pm, map[string]any{"hostPort": p.HostPort, "containerPort": p.ContainerPort, "protocol": proto})
		}
	}
	if len(pm) > 0 {
		rt.CapabilityArgs = map[string]any{"portMappings": pm}
	}
	return rt
}

// Attach creates container id's namespace and adds it to network with
// the port mappings: Prepare, then Add (prepare.go). On failure nothing
// is left behind.
func (m *Manager) Attach(ctx context.Context, id, network string, ports []PortMapping) (Attachment, error) {
	if _, err := m.network(network); err != nil {
		return Attachment{}, err
	}
	if _, err := m.Prepare(id); err != nil {
		return Attachment{}, err
	}
	return m.Add(ctx, id, network, ports)
}

// Detach removes container id from network (CNI DEL: its address lease,
// veth and port forwards) and removes its namespace. It is idempotent: a
// task never attached, or already detached, is no error.
func (m *Manager) Detach(ctx context.Context, id, network string, ports []PortMapping) error {
	list, err := m.network(network)
	if err != nil {
		return err
	}
	m.mu.RLock()
	unlockID := m.lockID(id)
	unlock := hostLock(unix.LOCK_SH)
	err = m.detach(ctx, id, list, ports)
	unlock()
	unlockID()
	m.mu.RUnlock()
	m.sweepIdle() // cleanup.go
	return err
}

func (m *Manager) detach(ctx context.Context, id string, list *libcni.NetworkConfigList, ports []PortMapping) error {
	ns := m.NetNSPath(id)
	rtNS := ns
	if _, err := os.Stat(ns); err != nil {
		rtNS = "" // plugins release what they hold without the namespace
	}
	var errs []error
	if list == m.bridge { // the forwards first, as portmap's DEL ran before bridge's
		if err := dropRules(ctx, id); err != nil { // portfwd.go, cleanup.go
			errs = append(errs, err)
		}
		unforwardPorts(ports)
	}
	err := m.cni.DelNetworkList(ctx, list, m.runtimeConf(id, ports, rtNS, "eth0"))
	if err != nil {
		// Once more: a plugin's DEL may race another agent's nft
		// transaction; the plugins' DEL is idempotent.
		err = m.cni.DelNetworkList(ctx, list, m.runtimeConf(id, ports, rtNS, "eth0"))
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("cni del %s: %w", list.Name, err))
	}
	if err := dropRules(ctx, id); err != nil { // cleanup.go
		errs = append(errs, err)
	}
	// Namespaces made before loopback came up in newNetNS have a loopback
	// attachment in libcni's cache.
	if _, err := os.Stat(filepath.Join(m.cfg.Dir, "cache", "results", m.lo.Name+"-"+id+"-lo")); err == nil {
		if err := m.cni.DelNetworkList(ctx, m.lo, m.runtimeConf(id, nil, rtNS, "lo")); err != nil {
			errs = append(errs, fmt.Errorf("loopback del: %w", err))
		}
	}
	if err := removeNetNS(ns); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		unclaim(id) // owners.go
	}
	return errors.Join(errs...)
}
