package node

import (
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster"
	"nodectl/cluster/apps"
	"nodectl/cluster/auth"
	"nodectl/embed"
)

// appsFramework builds the built-in Marathon (cluster/apps) on top of the
// master: it schedules through the master's framework interface and keeps
// its state in the master's etcd. Run it in the master stage and mount its
// Handler at /v2/ and /ping. Its writes are fenced by the master's term,
// and it follows the master's term events.
func appsFramework(master *cluster.Master, etcd *clientv3.Client, log *slog.Logger, role string, reservationTimeout time.Duration, maxVersions int, guard *auth.Guard, user string, mods ...func(*apps.Config)) (*apps.Apps, error) {
	cfg := apps.Config{
		Scheduler: master, Etcd: etcd, IsLeader: master.IsLeader, Leader: master.Leader, Logger: log,
		Fence: master.Fence, TermEvents: master.TermEvents, TxnMeter: master.AppsTxnMeter(),
		Role: role, TaskReservationTimeout: reservationTimeout, MaxVersions: maxVersions, Guard: guard, User: user,
		Abdicate: master.Abdicate, HostPathAllowed: master.HostPathAllowed, NetworkKnown: master.NetworkKnown, AgentDisks: master.AgentDisks,
		MaxTxnOps:      int(embed.DefaultMaxTxnOps), // the master's own member (startEtcd)
		DrainingAgents: master.DrainingAgents,
	}
	for _, f := range mods {
		f(&cfg)
	}
	return apps.New(cfg)
}

// maintenanceMode passes Marathon's maintenance flags to the built-in
// apps framework (cluster/apps/maintenance.go).
func maintenanceMode(cfg Config) func(*apps.Config) {
	return func(c *apps.Config) {
		c.DisableMaintenanceMode = cfg.DisableMaintenanceMode
		c.MaintenanceDraining = time.Duration(cfg.DrainingSeconds) * time.Second
	}
}
