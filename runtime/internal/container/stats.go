package container

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/opencontainers/cgroups"
)

// Stats is a container's resource usage, shaped and named after Mesos'
// ResourceStatistics (/monitor/statistics). Fields the kernel or cgroup
// version does not provide are zero and omitted from JSON.
type Stats struct {
	Timestamp float64 `json:"timestamp"` // seconds since the epoch
	Processes uint32  `json:"processes,omitempty"`
	Threads   uint32  `json:"threads,omitempty"`

	CPUsUserTimeSecs      float64 `json:"cpus_user_time_secs,omitempty"`
	CPUsSystemTimeSecs    float64 `json:"cpus_system_time_secs,omitempty"`
	CPUsLimit             float64 `json:"cpus_limit,omitempty"`
	CPUsNrPeriods         uint32  `json:"cpus_nr_periods,omitempty"`
	CPUsNrThrottled       uint32  `json:"cpus_nr_throttled,omitempty"`
	CPUsThrottledTimeSecs float64 `json:"cpus_throttled_time_secs,omitempty"`

	MemTotalBytes       uint64 `json:"mem_total_bytes,omitempty"`
	MemRSSBytes         uint64 `json:"mem_rss_bytes,omitempty"`
	MemLimitBytes       uint64 `json:"mem_limit_bytes,omitempty"`
	MemCacheBytes       uint64 `json:"mem_cache_bytes,omitempty"`
	MemAnonBytes        uint64 `json:"mem_anon_bytes,omitempty"`
	MemFileBytes        uint64 `json:"mem_file_bytes,omitempty"`
	MemMappedFileBytes  uint64 `json:"mem_mapped_file_bytes,omitempty"`
	MemSwapBytes        uint64 `json:"mem_swap_bytes,omitempty"`
	MemUnevictableBytes uint64 `json:"mem_unevictable_bytes,omitempty"`
}

// Stats samples the container's cgroups.
func (c *Container) Stats() (Stats, error) {
	lc, err := c.libcontainer()
	if err != nil {
		return Stats{}, fmt.Errorf("stats of container %s: %w", c.id, err)
	}
	ls, err := lc.Stats()
	if err != nil {
		return Stats{}, fmt.Errorf("stats of container %s: %w", c.id, err)
	}
	s := statsFromCgroups(ls.CgroupStats, time.Now(), c.spec.CPUs)
	if pids, err := lc.Processes(); err == nil {
		s.Processes = uint32(len(pids))
		if s.Threads == 0 {
			s.Threads = countThreads(pids)
		}
	}
	return s, nil
}

// statsFromCgroups maps libcontainer's cgroup v1 or v2 statistics onto the
// Mesos names.
func statsFromCgroups(cs *cgroups.Stats, now time.Time, cpus float64) Stats {
	s := Stats{
		Timestamp: float64(now.UnixNano()) / 1e9,
		CPUsLimit: cpus,
	}
	if cs == nil {
		return s
	}
	const ns = 1e9
	cpu := cs.CpuStats
	s.CPUsUserTimeSecs = float64(cpu.CpuUsage.UsageInUsermode) / ns
	s.CPUsSystemTimeSecs = float64(cpu.CpuUsage.UsageInKernelmode) / ns
	s.CPUsNrPeriods = clamp32(cpu.ThrottlingData.Periods)
	s.CPUsNrThrottled = clamp32(cpu.ThrottlingData.ThrottledPeriods)
	s.CPUsThrottledTimeSecs = float64(cpu.ThrottlingData.ThrottledTime) / ns
	// pids.current counts tasks, i.e. threads.
	s.Threads = clamp32(cs.PidsStats.Current)

	mem := cs.MemoryStats
	st := mem.Stats
	s.MemTotalBytes = mem.Usage.Usage
	if l := mem.Usage.Limit; l != 0 && l < math.MaxInt64/2 {
		s.MemLimitBytes = l // unlimited reads as ~2^63 on v1, MaxUint64 on v2
	}
	s.MemSwapBytes = mem.SwapOnlyUsage.Usage
	if _, v1 := st["total_rss"]; v1 {
		// cgroup v1: use the hierarchical totals.
		s.MemRSSBytes = st["total_rss"]
		s.MemCacheBytes = st["total_cache"]
		s.MemMappedFileBytes = st["total_mapped_file"]
		s.MemAnonBytes = st["total_active_anon"] + st["total_inactive_anon"]
		s.MemFileBytes = st["total_active_file"] + st["total_inactive_file"]
		s.MemUnevictableBytes = st["total_unevictable"]
		if s.MemSwapBytes == 0 {
			s.MemSwapBytes = st["total_swap"]
		}
	} else {
		// cgroup v2: anon is what v1 called rss, file what it called cache.
		s.MemAnonBytes = st["anon"]
		s.MemFileBytes = st["file"]
		s.MemRSSBytes = st["anon"]
		s.MemCacheBytes = st["file"]
		s.MemMappedFileBytes = st["file_mapped"]
		s.MemUnevictableBytes = st["unevictable"]
	}
	return s
}

func clamp32(v uint64) uint32 {
	if v > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(v)
}

// countThreads sums the threads of pids from /proc; for kernels without the
// pids controller.
func countThreads(pids []int) uint32 {
	var n uint32
	for _, pid := range pids {
		ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
		if err == nil {
			n += uint32(len(ents))
		}
	}
	return n
}
