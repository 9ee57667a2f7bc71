package node

import (
	"net/url"
	"time"
)

// validateHA checks the HA master flags (docs/ha.md).
func (cfg *Config) validateHA(bad func(flag, format string, args ...any) error) error {
	if cfg.Join != "" {
		if !cfg.runsMaster() && cfg.Role != "agent" {
			return bad("join", "needs --role=master or --role=agent")
		}
		u, err := url.Parse(cfg.Join)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("join", "%q is not http[s]://HOST:PORT", cfg.Join)
		}
	}
	if cfg.WipeRemoved && cfg.Join == "" {
		return bad("wipe-removed", "needs --join (the master to join through after wiping)")
	}
	if cfg.ClusterReset && cfg.Join != "" {
		return bad("cluster-reset", "excludes --join: a reset member starts a cluster of its own")
	}
	if cfg.Restore != "" && !cfg.ClusterReset {
		return bad("restore", "needs --cluster-reset")
	}
	if cfg.SnapshotInterval < 0 {
		return bad("snapshot-interval", "must not be negative")
	}
	if cfg.SnapshotRetention < 1 && cfg.SnapshotInterval > 0 {
		return bad("snapshot-retention", "must be at least 1")
	}
	if cfg.EtcdHeartbeatInterval <= 0 && cfg.EtcdElectionTimeout > 0 || cfg.EtcdElectionTimeout > 0 && cfg.EtcdElectionTimeout < 5*cfg.EtcdHeartbeatInterval {
		return bad("etcd-election-timeout", "%s is less than 5 heartbeats of %s", cfg.EtcdElectionTimeout, cfg.EtcdHeartbeatInterval)
	}
	if cfg.LeaderLeaseTTL != 0 && (cfg.LeaderLeaseTTL < 2*time.Second || cfg.LeaderLeaseTTL%time.Second != 0) {
		return bad("leader-lease-ttl", "%s is not a whole number of seconds ≥ 2s", cfg.LeaderLeaseTTL)
	}
	return nil
}
