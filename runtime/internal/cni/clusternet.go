package cni

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/containernetworking/cni/libcni"
)

// Cluster networks (docs/networking.md): the agent writes the
// configuration list of each cluster network its tasks join under
// Dir/clusternet (a bridge of its own, addresses from host-local IPAM in
// the agent's subnet lease), so a recovered task is detached with the
// configuration it was attached with even before the master is heard
// again.

// ClusterNetwork is what the bridge of a cluster network needs.
type ClusterNetwork struct {
	Name, Bridge, Subnet string
	MTU                  int
}

func (m *Manager) clusterConfPath(name string) string {
	return filepath.Join(m.cfg.Dir, "clusternet", name+".conflist")
}

// SetClusterNetwork writes network n's configuration list.
func (m *Manager) SetClusterNetwork(n ClusterNetwork) error {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       n.Name,
		"plugins": []any{map[string]any{
			"type": "bridge", "bridge": n.Bridge, "isGateway": true, "ipMasq": false, "hairpinMode": true, "mtu": n.MTU,
			"ipam": map[string]any{
				"type":    "host-local",
				"dataDir": filepath.Join(m.cfg.Dir, "ipam"),
				"ranges":  []any{[]any{map[string]any{"subnet": n.Subnet}}},
				"routes":  []any{map[string]any{"dst": "0.0.0.0/0"}},
			},
		}},
	}
	b, _ := json.Marshal(conf)
	path := m.clusterConfPath(n.Name)
	if cur, err := os.ReadFile(path); err == nil && string(cur) == string(b) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		return fmt.Errorf("write cluster network %s: %w", n.Name, err)
	}
	return os.Rename(path+".tmp", path)
}

// IsClusterNetwork reports whether name's configuration is a cluster
// network's.
func (m *Manager) IsClusterNetwork(name string) bool {
	_, err := os.Stat(m.clusterConfPath(name))
	return err == nil
}

// clusterNetwork is cluster network name's configuration list, if any.
func (m *Manager) clusterNetwork(name string) (*libcni.NetworkConfigList, bool, error) {
	b, err := os.ReadFile(m.clusterConfPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, err
	}
	l, err := libcni.ConfListFromBytes(b)
	return l, true, err
}

// ConfNames are the networks of --network_cni_config_dir.
func (m *Manager) ConfNames() []string {
	if m.cfg.ConfDir == "" {
		return nil
	}
	files, err := libcni.ConfFiles(m.cfg.ConfDir, []string{".conf", ".conflist", ".json"})
	if err != nil {
		return nil
	}
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		var conf struct {
			Name string `json:"name"`
		}
		if err == nil && json.Unmarshal(b, &conf) == nil && conf.Name != "" {
			names = append(names, conf.Name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}
