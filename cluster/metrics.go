package cluster

import (
	"math"

	"github.com/prometheus/client_golang/prometheus"

	"nodectl/cluster/api"
)

type masterMetrics struct {
	registrations, reregistrations, unhealthy prometheus.Counter
	removals, fenced                          prometheus.Counter
	maintenanceRefusals                       prometheus.Counter
	unreachableScheduled                      prometheus.Counter
	unreachableCompleted, unreachableCanceled prometheus.Counter
	validUpdates, invalidUpdates              prometheus.Counter
	validAcks, invalidAcks                    prometheus.Counter
	launches, kills                           prometheus.Counter
	leaderChanges, deadLeaderRevokes          prometheus.Counter
	leaseMoves                                prometheus.Counter
	terminal                                  map[api.TaskState]prometheus.Counter
}

// countState counts a task entering a state that has a counter.
func (mm masterMetrics) countState(s api.TaskState) {
	if c, ok := mm.terminal[s]; ok {
		c.Inc()
	}
}

func (m *Master) registerMetrics() masterMetrics {
	mt := m.metrics
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	// locked reads leader state under the lock; a standby reports 0.
	locked := func(f func() float64) func() float64 {
		return func() float64 {
			m.mu.Lock()
			defer m.mu.Unlock()
			if !m.elected {
				return 0
			}
			return f()
		}
	}
	countAgents := func(active bool) func() float64 {
		return locked(func() float64 {
			n := 0
			for _, a := range m.agents {
				if a.active == active {
					n++
				}
			}
			return float64(n)
		})
	}
	mt.GaugeFunc("master/elected", "1 if this master is the leader", func() float64 { return b(m.IsLeader()) })
	mt.GaugeFunc("master/leader_lease_ttl_secs", "TTL of the lease behind this master's leadership (0 unless elected)", locked(func() float64 { return m.leaseTTL.Seconds() }))
	// Mesos' registrar/state_fetch_ms: the elected master's read of its
	// state (https://mesos.apache.org/documentation/latest/monitoring/).
	mt.GaugeFunc("registrar/state_fetch_ms", "how long this leader took to get its state when elected (0 unless elected)", locked(func() float64 { return float64(m.stateFetch.Microseconds()) / 1000 }))
	mt.GaugeFunc("master/state_from_standby", "1 if this leader took its state from the copy it kept as a standby, 0 if it read etcd (or is not elected)", locked(func() float64 { return b(m.stateFromStandby) }))
	mt.GaugeFunc("master/uptime_secs", "seconds since this master started", func() float64 { return m.cfg.Now().Sub(m.started).Seconds() })
	mt.GaugeFunc("master/slaves_active", "active agents", countAgents(true))
	mt.GaugeFunc("master/slaves_inactive", "inactive agents", countAgents(false))
	mt.GaugeFunc("master/slaves_connected", "agents pinging in time", countAgents(true))
	mt.GaugeFunc("master/slaves_disconnected", "agents not pinging in time", countAgents(false))
	mt.GaugeFunc("master/slaves_unreachable", "agents marked unreachable in the registry", locked(func() float64 { return float64(m.unreachableCountLocked()) }))

	total := func(name string) float64 {
		var v float64
		for _, a := range m.agents {
			if a.active {
				v += a.Info.Resources.Scalar(name)
			}
		}
		return math.Round(v*1000) / 1000
	}
	// What tasks use is what is in the allocator's Used pools (a task's
	// resources are there exactly while t.inAlloc), kept as they change:
	// summing the tasks walked every one of them, eight times a snapshot,
	// under the lock (300,000 at 10,000 agents).
	used := func(name string) float64 {
		if m.alloc == nil {
			return 0
		}
		return math.Round(m.alloc.UsedScalar(name)*1000) / 1000 // resources are in thousandths
	}
	for _, r := range []string{"cpus", "mem", "disk", "gpus"} {
		mt.GaugeFunc("master/"+r+"_total", "total "+r+" of active agents", locked(func() float64 { return total(r) }))
		mt.GaugeFunc("master/"+r+"_used", "allocated "+r+" used by tasks", locked(func() float64 { return used(r) }))
		mt.GaugeFunc("master/"+r+"_percent", "share of "+r+" used", locked(func() float64 {
			if t := total(r); t > 0 {
				return used(r) / t
			}
			return 0
		}))
	}
	for _, s := range []api.TaskState{api.TaskStaging, api.TaskStarting, api.TaskRunning, api.TaskKilling, api.TaskUnreachable} {
		mt.GaugeFunc("master/tasks_"+stateSuffix(s), "tasks in "+string(s), locked(func() float64 { return float64(m.live[s]) }))
	}
	countFw := func(f func(*framework) bool) func() float64 {
		return locked(func() float64 {
			n := 0
			for _, fw := range m.frameworks {
				if f(fw) {
					n++
				}
			}
			return float64(n)
		})
	}
	mt.GaugeFunc("master/frameworks_active", "subscribed frameworks", countFw(func(fw *framework) bool { return fw.connected() }))
	mt.GaugeFunc("master/frameworks_inactive", "frameworks waiting to re-subscribe", countFw(func(fw *framework) bool { return !fw.connected() }))
	mt.GaugeFunc("master/frameworks_connected", "frameworks with an open subscription", countFw(func(fw *framework) bool { return fw.connected() }))
	mt.GaugeFunc("master/frameworks_disconnected", "frameworks without a subscription", countFw(func(fw *framework) bool { return !fw.connected() }))
	mt.GaugeFunc("master/outstanding_offers", "offers not yet accepted, declined or rescinded", locked(func() float64 { return float64(len(m.offers)) }))
	// Quorum health (the etcd Raft quorum stands in for Mesos'
	// replicated log, https://mesos.apache.org/documentation/latest/replicated-log-internals/), from the quorum loop's last reading.
	quorum := func(f func(q api.Quorum) float64) func() float64 {
		return func() float64 { return f(m.Quorum()) }
	}
	mt.GaugeFunc("master/etcd_members", "voting etcd members (masters in the quorum)", quorum(func(q api.Quorum) float64 { return float64(q.Voters) }))
	mt.GaugeFunc("master/etcd_learners", "etcd learners (masters still joining)", quorum(func(q api.Quorum) float64 { return float64(q.Learners) }))
	mt.GaugeFunc("master/etcd_healthy_members", "voting etcd members that answered the last status check", quorum(func(q api.Quorum) float64 { return float64(q.HealthyVoters) }))
	mt.GaugeFunc("master/etcd_quorum_healthy", "1 if a majority of voting members is healthy and Raft has a leader", quorum(func(q api.Quorum) float64 { return b(q.Healthy) }))
	mt.GaugeFunc("master/etcd_alarm_nospace", "1 if etcd's NOSPACE alarm is raised: the database is full and writes fail (docs/ha.md)", func() float64 { return b(m.noSpace()) })
	mt.GaugeFunc("master/etcd_db_quota_bytes", "etcd's database quota", quorum(func(q api.Quorum) float64 { return float64(q.DBQuota) }))
	mt.GaugeFunc("master/etcd_db_size_bytes", "the largest member database file", quorum(func(q api.Quorum) float64 {
		var n int64
		for _, mem := range q.Members {
			n = max(n, mem.DBSize)
		}
		return float64(n)
	}))
	mt.GaugeFunc("registrar/log/ensemble_size", "Mesos name: voting members of the quorum", quorum(func(q api.Quorum) float64 { return float64(q.Voters) }))
	mt.GaugeFunc("registrar/log/recovered", "Mesos name: 1 if the quorum is healthy", quorum(func(q api.Quorum) float64 { return b(q.Healthy) }))
	m.registerTxnMeters(mt.GaugeFunc) // txnmeter.go
	api.AddSystemMetrics(mt)

	mm := masterMetrics{
		leaderChanges:        mt.Counter("master/leader_changes", "leader changes this master observed (the first leader included)"),
		deadLeaderRevokes:    mt.Counter("master/dead_leader_revocations", "election leases this master revoked because the leader's process was gone"),
		leaseMoves:           mt.Counter("master/leader_lease_moves", "times this master, leading, moved its term to a lease fitted to a changed etcd membership"),
		registrations:        mt.Counter("master/slave_registrations", "agent registrations"),
		reregistrations:      mt.Counter("master/slave_reregistrations", "agent re-registrations"),
		unhealthy:            mt.Counter("master/slave_removals/reason_unhealthy", "agents marked unreachable for missed pings"),
		removals:             mt.Counter("master/slave_removals", "agents removed: marked unreachable or gone, or replaced by a new id"),
		fenced:               mt.Counter("master/slave_gone_refusals", "requests refused because their agent was marked gone"),
		maintenanceRefusals:  mt.Counter("master/slave_maintenance_refusals", "registrations refused because the agent's machine is down for maintenance"),
		unreachableScheduled: mt.Counter("master/slave_unreachable_scheduled", "agents scheduled to be marked unreachable"),
		unreachableCompleted: mt.Counter("master/slave_unreachable_completed", "agents marked unreachable in the registry"),
		unreachableCanceled:  mt.Counter("master/slave_unreachable_canceled", "scheduled markings dropped: the agent re-registered first"),
		validUpdates:         mt.Counter("master/valid_status_updates", "agent status updates applied"),
		invalidUpdates:       mt.Counter("master/invalid_status_updates", "agent status updates refused or for unknown tasks"),
		validAcks:            mt.Counter("master/valid_status_update_acknowledgements", "acknowledgements relayed to agents"),
		invalidAcks:          mt.Counter("master/invalid_status_update_acknowledgements", "acknowledgements naming unknown agents"),
		launches:             mt.Counter("master/messages_launch_tasks", "tasks sent to agents to launch"),
		kills:                mt.Counter("master/messages_kill_task", "KILL calls"),
		terminal:             map[api.TaskState]prometheus.Counter{},
	}
	for _, s := range []api.TaskState{api.TaskFinished, api.TaskFailed, api.TaskKilled, api.TaskLost, api.TaskError, api.TaskDropped, api.TaskGone, api.TaskGoneByOperator} {
		mm.terminal[s] = mt.Counter("master/tasks_"+stateSuffix(s), "tasks that reached "+string(s))
	}
	return mm
}

// stateSuffix is a state's metric name part: TASK_GONE_BY_OPERATOR →
// gone_by_operator.
func stateSuffix(s api.TaskState) string {
	out := []byte(string(s)[len("TASK_"):])
	for i, c := range out {
		if c >= 'A' && c <= 'Z' {
			out[i] = c + 'a' - 'A'
		}
	}
	return string(out)
}

// unreachableCountLocked counts the agents the registry holds as unreachable.
func (m *Master) unreachableCountLocked() int {
	n := 0
	for _, a := range m.agents {
		if a.UnreachableTime != nil {
			n++
		}
	}
	return n
}
