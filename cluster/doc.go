// Package cluster is the master: it campaigns for leadership through an etcd
// election and, while it leads, runs the Mesos model of the cluster:
//
//   - the agent registry (etcd) and agent liveness by pings (registry.go),
//     with re-registration reconciling the tasks an agent reports;
//   - the master side of the agent protocol: a message stream per agent
//     (LAUNCH, KILL, ACKNOWLEDGE, SHUTDOWN_FRAMEWORK) and status updates
//     (agentstream.go);
//   - frameworks, offers from the DRF allocator (internal/alloc), launches,
//     kills, acknowledgements and reconciliation, all behind one Go
//     interface, Scheduler (scheduler.go), which the public v1 scheduler
//     HTTP API wraps (schedhttp.go) and built-in frameworks call directly;
//   - the task lifecycle, every change through api.Next (tasks.go), with
//     frameworks and tasks persisted in etcd by a group-committing,
//     leadership-fenced writer (store.go, persist.go);
//   - the Mesos-style operator endpoints (/state, /tasks, /frameworks,
//     /metrics/snapshot, /master/teardown).
//
// The leader's state is guarded by one mutex; the allocator, which is not
// safe for concurrent use, is only touched with it held. Leader-only loops
// (allocation rounds, timers, the state writer) run in an errgroup for the
// term of the leadership.
//
// The join protocol and token administration (join.go) sign node
// certificates with the cluster CA of cluster/pki.
//
// It talks to etcd only through the etcd client. It imports no other nodectl
// package except its own wire-type leaf, cluster/api, its PKI leaf,
// cluster/pki, and its allocator, cluster/internal/alloc; in particular it
// must not import embed, runtime, storage, ui or node.
package cluster
