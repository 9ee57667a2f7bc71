package runtime

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"nodectl/cluster/api"
)

// Handler serves the agent's HTTP endpoints (Mesos agent routes, with and
// without the /slave(1) prefix).
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	both := func(path string, h http.HandlerFunc) {
		mux.HandleFunc("GET "+path, h)
		mux.HandleFunc("GET /slave(1)"+path, h)
	}
	both("/health", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, a.diskSpaceJSON()) })
	both("/state", a.handleState)
	both("/flags", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"flags": joinFlags(a.cfg.Flags)})
	})
	both("/metrics/snapshot", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, a.metrics.Snapshot()) })
	both("/containers", a.handleContainers)
	both("/version", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, api.BuildInfo()) })
	mux.HandleFunc("GET /system/stats.json", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, api.SystemStats()) })
	both("/monitor/statistics", a.handleStatistics)
	both("/monitor/statistics.json", a.handleStatistics)
	both("/monitor/history", a.handleUsageHistory) // usage.go
	both("/monitor/summary", a.handleUsageSummary)
	mux.HandleFunc("POST /api/v1", a.handleOperator) // operator.go
	mux.HandleFunc("POST /slave(1)/api/v1", a.handleOperator)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.Registry, promhttp.HandlerOpts{}))
	return mux
}

func (a *Agent) handleState(w http.ResponseWriter, r *http.Request) {
	info := a.info()
	st := map[string]any{
		"version":              api.Version,
		"id":                   info.ID,
		"pid":                  "slave(1)@" + info.IP + ":" + strconv.Itoa(info.Port),
		"hostname":             info.Hostname,
		"start_time":           float64(a.started.UnixNano()) / 1e9,
		"resources":            info.Resources.Summary(),
		"unreserved_resources": info.Resources.Summary(),
		"reserved_resources":   map[string]any{},
		"attributes":           nonNil(info.Attributes),
		"master_hostname":      a.masterHostname(),
		"flags":                joinFlags(a.cfg.Flags),
		"frameworks":           a.frameworksJSON(),
		"completed_frameworks": []any{},
	}
	st["reserved_resources_full"] = reservedFull(a.checkpointedResources())
	st["persistent_volumes"] = a.volumesJSON()
	// "reserved_resources" is Mesos' (role reservations); the node's own
	// share is this (docs/runtime.md "Protected control-plane capacity").
	st["system_reserved_resources"] = info.SystemReserved.Summary()
	st["disk_space"] = a.diskSpaceJSON()
	writeJSON(w, st)
}

func nonNil(a api.Attributes) api.Attributes {
	if a == nil {
		return api.Attributes{}
	}
	return a
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// agentMetrics are the counters the agent bumps.
type agentMetrics struct {
	invalidAcks    prometheus.Counter
	bootRelaunches prometheus.Counter // bootrelaunch.go
}

func (a *Agent) registerMetrics() agentMetrics {
	m := a.metrics
	m.GaugeFunc("slave/uptime_secs", "seconds since the agent started", func() float64 { return time.Since(a.started).Seconds() })
	m.GaugeFunc("slave/registered", "1 if registered with a master", func() float64 {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.registered {
			return 1
		}
		return 0
	})
	m.GaugeFunc("slave/recovery_errors", "checkpoint records skipped during recovery", func() float64 {
		a.mu.Lock()
		defer a.mu.Unlock()
		return float64(a.recoveryErrors)
	})
	m.GaugeFunc("slave/recovery_time_secs", "how long the last recovery took", func() float64 {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.recoveryTime.Seconds()
	})
	m.GaugeFunc("slave/recovered", "1 once recovery has finished", func() float64 {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.recovered {
			return 1
		}
		return 0
	})
	for _, r := range []string{"cpus", "mem", "disk", "gpus"} {
		m.GaugeFunc("slave/"+r+"_total", "total "+r, func() float64 { return a.cfg.Resources.Scalar(r) })
		m.GaugeFunc("slave/"+r+"_used", "used "+r, func() float64 { return a.usedResources().Scalar(r) })
	}
	for _, st := range []api.TaskState{api.TaskStaging, api.TaskStarting, api.TaskRunning, api.TaskKilling} {
		name := "slave/tasks_" + strings.ToLower(strings.TrimPrefix(string(st), "TASK_"))
		m.GaugeFunc(name, "tasks in "+string(st), func() float64 { return float64(a.countTasks(st)) })
	}
	m.GaugeFunc("slave/frameworks_active", "frameworks with tasks here", func() float64 { return float64(len(a.frameworksJSON())) })
	m.GaugeFunc("slave/status_updates_unacknowledged", "status updates waiting for acknowledgement", func() float64 { return float64(a.status.unacked()) })
	a.registerDiskSpaceMetrics()
	api.AddSystemMetrics(m)
	return agentMetrics{
		invalidAcks:    m.Counter("slave/invalid_status_updates", "acknowledgements that matched no pending update"),
		bootRelaunches: m.Counter("slave/tasks_relaunched_after_reboot", "tasks the agent relaunched from its checkpoint after a host reboot (label "+api.LabelRestartOnBoot+")"),
	}
}

func (a *Agent) countTasks(st api.TaskState) int {
	a.tasks.mu.Lock()
	defer a.tasks.mu.Unlock()
	n := 0
	for _, t := range a.tasks.live {
		if t.state == st {
			n++
		}
	}
	return n
}

func (a *Agent) usedResources() api.Resources {
	a.tasks.mu.Lock()
	defer a.tasks.mu.Unlock()
	var used api.Resources
	for _, t := range a.tasks.live {
		if !t.state.Terminal() {
			used = used.Add(t.info.Resources)
		}
	}
	return used
}
