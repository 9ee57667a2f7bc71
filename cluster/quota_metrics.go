package cluster

import (
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// Quota metrics under Mesos' names (docs/quota.md, "Metrics"):
// allocator/mesos/quota/roles/<role>/resources/<resource>/guarantee and
// .../limit in /metrics/snapshot and GET_METRICS; for Prometheus one
// family each, nodectl_allocator_mesos_quota_guarantee and
// nodectl_allocator_mesos_quota_limit, labelled by role and resource
// (role names need not be valid Prometheus names).

var (
	quotaGuaranteeDesc = prometheus.NewDesc("nodectl_allocator_mesos_quota_guarantee", "a role's quota guarantee of a resource", []string{"role", "resource"}, nil)
	quotaLimitDesc     = prometheus.NewDesc("nodectl_allocator_mesos_quota_limit", "a role's quota limit of a resource", []string{"role", "resource"}, nil)
)

// quotaMetric is one value of the quota metrics.
type quotaMetric struct {
	role, resource string
	limit          bool
	value          float64
}

// quotaMetrics lists the configured quota; a standby has none.
func (m *Master) quotaMetrics() []quotaMetric {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.elected {
		return nil
	}
	var out []quotaMetric
	qs := m.roleState.rec.Quotas
	for _, role := range slices.Sorted(maps.Keys(qs)) {
		q := qs[role]
		for _, n := range slices.Sorted(maps.Keys(q.Guarantees)) {
			out = append(out, quotaMetric{role: role, resource: n, value: q.Guarantees[n]})
		}
		for _, n := range slices.Sorted(maps.Keys(q.Limits)) {
			out = append(out, quotaMetric{role: role, resource: n, limit: true, value: q.Limits[n]})
		}
	}
	return out
}

func (m *Master) registerQuotaMetrics() {
	m.metrics.AddSet(func() map[string]float64 {
		out := map[string]float64{}
		for _, q := range m.quotaMetrics() {
			kind := "guarantee"
			if q.limit {
				kind = "limit"
			}
			out["allocator/mesos/quota/roles/"+q.role+"/resources/"+q.resource+"/"+kind] = q.value
		}
		return out
	}, quotaCollector{m})
}

// quotaCollector exports the quota metrics to Prometheus.
type quotaCollector struct{ m *Master }

func (c quotaCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- quotaGuaranteeDesc
	ch <- quotaLimitDesc
}

func (c quotaCollector) Collect(ch chan<- prometheus.Metric) {
	for _, q := range c.m.quotaMetrics() {
		d := quotaGuaranteeDesc
		if q.limit {
			d = quotaLimitDesc
		}
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, q.value, q.role, q.resource)
	}
}
