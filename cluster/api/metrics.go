package api

import (
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics keeps each metric under its Mesos name ("master/slaves_active")
// for /metrics/snapshot and registers the same collector with Prometheus
// under the name with "/" replaced by "_" for /metrics. One source of truth
// feeds both endpoints.
type Metrics struct {
	Registry *prometheus.Registry

	mu     sync.Mutex // guards values and sets
	values map[string]func() float64
	// sets are metrics whose names are known only when read (one per
	// role, say); see AddSet.
	sets []func() map[string]float64
}

// AddSet adds metrics whose names change over time (Mesos'
// allocator/mesos/quota/roles/<role>/...): snapshot gives them under
// their Mesos names for /metrics/snapshot; c exports them to Prometheus
// (its own families, with labels).
func (m *Metrics) AddSet(snapshot func() map[string]float64, c prometheus.Collector) {
	m.Registry.MustRegister(c)
	m.mu.Lock()
	m.sets = append(m.sets, snapshot)
	m.mu.Unlock()
}

// NewMetrics returns an empty set with its own Prometheus registry.
func NewMetrics() *Metrics {
	return &Metrics{Registry: prometheus.NewRegistry(), values: map[string]func() float64{}}
}

func promName(name string) string {
	return "nodectl_" + strings.NewReplacer("/", "_", "-", "_", ".", "_").Replace(name)
}

// GaugeFunc adds a gauge whose value is computed on read.
func (m *Metrics) GaugeFunc(name, help string, f func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: promName(name), Help: help}, f))
	m.mu.Lock()
	m.values[name] = f
	m.mu.Unlock()
}

// Counter adds a monotonically increasing counter and returns it.
func (m *Metrics) Counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: promName(name), Help: help})
	m.Registry.MustRegister(c)
	m.mu.Lock()
	m.values[name] = func() float64 { return counterValue(c) }
	m.mu.Unlock()
	return c
}

// Gauge adds a settable gauge and returns it.
func (m *Metrics) Gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: promName(name), Help: help})
	m.Registry.MustRegister(g)
	m.mu.Lock()
	m.values[name] = func() float64 { return gaugeValue(g) }
	m.mu.Unlock()
	return g
}

// Snapshot returns the flat Mesos /metrics/snapshot map.
func (m *Metrics) Snapshot() map[string]float64 {
	m.mu.Lock()
	fs := make(map[string]func() float64, len(m.values))
	for k, f := range m.values {
		fs[k] = f
	}
	sets := m.sets
	m.mu.Unlock()
	out := make(map[string]float64, len(fs))
	for k, f := range fs {
		out[k] = f()
	}
	for _, s := range sets {
		for k, v := range s() {
			out[k] = v
		}
	}
	return out
}

// Names lists the registered Mesos metric names, sorted.
func (m *Metrics) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.values))
	for k := range m.values {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
