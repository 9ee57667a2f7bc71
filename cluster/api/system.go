package api

import (
	"bufio"
	"os"
	goruntime "runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// AddSystemMetrics adds the Mesos system/* gauges read from /proc.
func AddSystemMetrics(m *Metrics) {
	m.GaugeFunc("system/cpus_total", "CPUs of the host", func() float64 { return float64(goruntime.NumCPU()) })
	for i, name := range []string{"system/load_1min", "system/load_5min", "system/load_15min"} {
		m.GaugeFunc(name, "host load average", func() float64 { return loadAvg(i) })
	}
	m.GaugeFunc("system/mem_total_bytes", "host memory", func() float64 { return memInfo("MemTotal:") })
	m.GaugeFunc("system/mem_free_bytes", "host free memory", func() float64 { return memInfo("MemAvailable:") })
}

func loadAvg(i int) float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) <= i {
		return 0
	}
	v, _ := strconv.ParseFloat(f[i], 64)
	return v
}

// memInfo returns a /proc/meminfo field in bytes (0 if unknown).
func memInfo(field string) float64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb * 1024
		}
	}
	return 0
}

// SystemStats is the body of Mesos' /system/stats.json, on masters and
// agents alike (https://mesos.apache.org/documentation/latest/endpoints/system/stats.json/):
// the host's load averages, CPUs and memory.
func SystemStats() map[string]any {
	return map[string]any{
		"avg_load_1min":   loadAvg(0),
		"avg_load_5min":   loadAvg(1),
		"avg_load_15min":  loadAvg(2),
		"cpus_total":      goruntime.NumCPU(),
		"mem_total_bytes": int64(memInfo("MemTotal:")),
		"mem_free_bytes":  int64(memInfo("MemAvailable:")),
	}
}

// BuildInfo is the body of Mesos' /version on masters and agents: the
// Mesos API version nodectl speaks (version), its own build
// (nodectl_version) and the VCS revision it was built from.
func BuildInfo() map[string]any {
	out := map[string]any{"version": MesosVersion, "nodectl_version": Version, "git_sha": "", "git_branch": "", "git_tag": "", "build_date": "", "build_time": 0, "build_user": ""}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				out["git_sha"] = s.Value
			case "vcs.time":
				out["build_date"] = s.Value
			}
		}
	}
	return out
}
