package cluster

import (
	"github.com/prometheus/client_golang/prometheus"

	"nodectl/cluster/api"
)

type masterMetrics struct {
	registrations, reregistrations, unhealthy prometheus.Counter
}

func (m *Master) registerMetrics() masterMetrics {
	mt := m.metrics
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	count := func(active bool) func() float64 {
		return func() float64 {
			m.mu.Lock()
			defer m.mu.Unlock()
			n := 0
			for _, a := range m.agents {
				if a.active == active {
					n++
				}
			}
			return float64(n)
		}
	}
	mt.GaugeFunc("master/elected", "1 if this master is the leader", func() float64 { return b(m.IsLeader()) })
	mt.GaugeFunc("master/uptime_secs", "seconds since this master started", func() float64 { return m.cfg.Now().Sub(m.started).Seconds() })
	mt.GaugeFunc("master/slaves_active", "active agents", count(true))
	mt.GaugeFunc("master/slaves_inactive", "inactive agents", count(false))
	mt.GaugeFunc("master/slaves_connected", "agents pinging in time", count(true))
	mt.GaugeFunc("master/slaves_disconnected", "agents not pinging in time", count(false))
	mt.GaugeFunc("master/slaves_unreachable", "unreachable agents", func() float64 { return 0 })
	scalar := func(name string) func() float64 {
		return func() float64 {
			m.mu.Lock()
			defer m.mu.Unlock()
			var v float64
			for _, a := range m.agents {
				if a.active {
					v += a.Info.Resources.Scalar(name)
				}
			}
			return v
		}
	}
	for _, r := range []string{"cpus", "mem", "disk", "gpus"} {
		mt.GaugeFunc("master/"+r+"_total", "total "+r+" of active agents", scalar(r))
		mt.GaugeFunc("master/"+r+"_used", "used "+r, func() float64 { return 0 })
	}
	api.AddSystemMetrics(mt)
	return masterMetrics{
		registrations:   mt.Counter("master/slave_registrations", "agent registrations"),
		reregistrations: mt.Counter("master/slave_reregistrations", "agent re-registrations"),
		unhealthy:       mt.Counter("master/slave_removals/reason_unhealthy", "agents marked inactive for missed pings"),
	}
}
