package cluster

import (
	"net/http"
	"sync"
	"time"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
)

// Cluster utilisation and the agents' resource history
// (docs/runtime.md "Resource history").
//
// Every agent's ping carries its latest usage sample (the sums over its
// tasks, runtime/usage.go). The leader keeps each live agent's latest and,
// at most every clusterUsageInterval, appends the cluster's sum (used,
// allocated and total) to a ring of the last clusterUsageHistory, served
// at GET /monitor/cluster. An agent's own series (per task, and its
// summary) stay on the agent; the master proxies them, so a browser needs
// only the master's port:
//
//	GET /agents/{agentId}/monitor/history?task=ID → the agent's /monitor/history
//	GET /agents/{agentId}/monitor/summary         → the agent's /monitor/summary

const (
	clusterUsageInterval = 10 * time.Second
	clusterUsageHistory  = time.Hour
	// agentUsageTimeout bounds one proxied history request.
	agentUsageTimeout = 30 * time.Second
)

// clusterUsage is the leader's utilisation history.
type clusterUsage struct {
	mu      sync.Mutex // guards the fields below
	latest  map[string]api.UsageSample
	samples []api.UsageSample // oldest first, at most clusterUsageHistory/clusterUsageInterval
	lastAt  time.Time
}

// recordAgentUsage takes the usage sample of a live agent's ping and, when
// due, appends the cluster's sum.
func (m *Master) recordAgentUsage(id string, s *api.UsageSample) {
	if s == nil {
		return
	}
	type agentTotals struct{ total, used api.Resources }
	m.mu.Lock()
	if !m.elected {
		m.mu.Unlock()
		return
	}
	now := m.cfg.Now()
	live := map[string]agentTotals{}
	for aid, a := range m.agents {
		if !a.active || a.recovered {
			continue
		}
		t := agentTotals{total: a.totalResources()}
		if ar, ok := m.alloc.Agent(aid); ok {
			t.used = ar.Used
		}
		live[aid] = t
	}
	m.mu.Unlock()

	u := &m.usage
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.latest == nil {
		u.latest = map[string]api.UsageSample{}
	}
	u.latest[id] = *s
	for aid := range u.latest {
		if _, ok := live[aid]; !ok {
			delete(u.latest, aid)
		}
	}
	if !u.lastAt.IsZero() && now.Sub(u.lastAt) < clusterUsageInterval {
		return
	}
	u.lastAt = now
	sum := api.UsageSample{T: now.Unix(), Agents: len(live)}
	for aid, t := range live {
		sum.TotalCPUs += t.total.Scalar("cpus")
		sum.TotalMemMB += t.total.Scalar("mem")
		sum.TotalDiskMB += t.total.Scalar("disk")
		sum.AllocCPUs += t.used.Scalar("cpus")
		sum.AllocMemMB += t.used.Scalar("mem")
		sum.AllocDiskMB += t.used.Scalar("disk")
		if l, ok := u.latest[aid]; ok {
			sum.CPUs += l.CPUs
			sum.MemBytes += l.MemBytes
			sum.DiskBytes += l.DiskBytes
			sum.NetRxBps += l.NetRxBps
			sum.NetTxBps += l.NetTxBps
		}
	}
	u.samples = append(u.samples, sum)
	if over := len(u.samples) - int(clusterUsageHistory/clusterUsageInterval); over > 0 {
		u.samples = append([]api.UsageSample(nil), u.samples[over:]...)
	}
}

// ClusterUsage is the utilisation history, oldest first.
func (m *Master) ClusterUsage() api.ClusterUsage {
	m.usage.mu.Lock()
	defer m.usage.mu.Unlock()
	return api.ClusterUsage{IntervalSeconds: clusterUsageInterval.Seconds(), Samples: append([]api.UsageSample{}, m.usage.samples...)}
}

// usageRoutes are this file's routes, with and without /master.
func (m *Master) usageRoutes() []auth.Route {
	cluster := m.leaderOnly(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, m.ClusterUsage()) })
	proxy := m.leaderOnly(m.proxyAgentUsage)
	var rs []auth.Route
	for _, prefix := range []string{"", "/master"} {
		rs = append(rs,
			auth.Route{Pattern: "GET " + prefix + "/monitor/cluster", Perm: auth.GetEndpoints, Handler: cluster},
			auth.Route{Pattern: "GET " + prefix + "/agents/{agentId}/monitor/{op}", Perm: auth.GetEndpoints, Handler: proxy})
	}
	return rs
}

func (m *Master) proxyAgentUsage(w http.ResponseWriter, r *http.Request) {
	id, op := r.PathValue("agentId"), r.PathValue("op")
	if op != "history" && op != "summary" {
		writeError(w, http.StatusNotFound, "unknown monitor endpoint '"+op+"': want history or summary")
		return
	}
	m.proxyToAgent(w, r, id, "/monitor/"+op, "monitor", agentUsageTimeout)
}
