package e2e

import (
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkColdStart measures `nodectl up --role=all` from exec to /health
// 200 with a fresh work dir, and reports the median over b.N starts
// (make bench runs 10).
func BenchmarkColdStart(b *testing.B) {
	var times []time.Duration
	for range b.N {
		n := newNode(b)
		began := time.Now()
		p := start(b, n.args("all", "--quiet")...)
		waitFor(b, 10*time.Second, "healthy", func() bool { return healthy(n.url()) })
		times = append(times, time.Since(began))
		b.StopTimer()
		p.kill(syscall.SIGTERM)
		b.StartTimer()
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "ms-median-to-health")
	b.ReportMetric(float64(times[len(times)-1].Microseconds())/1000, "ms-max-to-health")
}

// BenchmarkIdleRSS reports the resident memory of one idle master+agent
// process after it has settled with its agent registered.
func BenchmarkIdleRSS(b *testing.B) {
	n := newNode(b)
	p := start(b, n.args("all", "--quiet")...)
	waitFor(b, 10*time.Second, "agent active", func() bool {
		s := slaves(b, n.url())
		return len(s) == 1 && s[0].Active
	})
	b.ResetTimer()
	var rss float64
	for range b.N {
		// Idle means time passing with nothing to do; this is the measurement.
		time.Sleep(2 * time.Second)
		rss = vmRSSMB(b, p.cmd.Process.Pid)
	}
	b.ReportMetric(rss, "MB-idle-RSS")
}

func vmRSSMB(b *testing.B, pid int) float64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
