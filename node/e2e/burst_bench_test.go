package e2e

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkBurst50: POST of a 50-instance app (`sleep 300`, cpus 0.01,
// mem 32) on one --role=all node, to all 50 RUNNING as /v2/apps reports
// them: the burst of issue 20 and of acceptance check 17-scale. Besides
// the median and max wall time it reports what a loaded machine does not
// stretch: the etcd write transactions (each a Raft proposal and an
// fsync) of the master's state and of the apps framework per burst, and
// the 1-minute load average the run saw. Each round deletes the app
// outside the timer and waits for its containers to go.
func BenchmarkBurst50(b *testing.B) {
	if probeRun(b) {
		return
	}
	b.StopTimer()
	n := newNode(b)
	p := start(b, n.args("all", "--quiet", "--resources", "cpus:4;mem:4096;disk:1024;ports:[31000-31999]")...)
	defer p.kill(syscall.SIGTERM)
	waitFor(b, 30*time.Second, "agent active", func() bool { s := slaves(b, n.url()); return len(s) == 1 && s[0].Active })
	var times []time.Duration
	var txnsMaster, txnsApps, load float64
	for i := range b.N {
		id := fmt.Sprintf("/bench/burst-%d", i)
		before := writeTxns(b, n)
		began := time.Now()
		b.StartTimer()
		appMust(b, n, "POST", "/v2/apps", fmt.Sprintf(`{"id": %q, "cmd": "sleep 300", "instances": 50, "cpus": 0.01, "mem": 32}`, id), 201)
		waitFor(b, 5*time.Minute, id+": 50 running", func() bool { a, ok := appGet(n, id); return ok && a.TasksRunning == 50 })
		b.StopTimer()
		times = append(times, time.Since(began))
		load += loadAverage()
		// The last acknowledgements land after RUNNING shows: count them
		// once the deployment is done.
		appWaitRunning(b, n, id, 50, false, time.Minute)
		after := writeTxns(b, n)
		txnsMaster += after[0] - before[0]
		txnsApps += after[1] - before[1]
		appMust(b, n, "DELETE", "/v2/apps"+id, "", 200)
		waitFor(b, 2*time.Minute, "the app's containers gone", func() bool { return appMonitors(n.dir) == 0 })
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(times[len(times)/2].Milliseconds()), "ms-median-to-50-running")
	b.ReportMetric(float64(times[len(times)-1].Milliseconds()), "ms-max-to-50-running")
	b.ReportMetric(txnsMaster/float64(b.N), "etcd-txns-master/burst")
	b.ReportMetric(txnsApps/float64(b.N), "etcd-txns-apps/burst")
	b.ReportMetric(load/float64(b.N), "loadavg-1m")
}

// writeTxns reads the master's and the apps framework's etcd write
// transactions so far (cluster/txnmeter.go).
func writeTxns(b *testing.B, n node) [2]float64 {
	b.Helper()
	var snap map[string]float64
	if err := getJSON(n.url()+"/metrics/snapshot", &snap); err != nil {
		b.Fatal(err)
	}
	return [2]float64{snap["master/etcd_write_txns_master"], snap["master/etcd_write_txns_apps"]}
}

// loadAverage is the machine's 1-minute load average (0 if unreadable).
func loadAverage() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(raw))[0], 64)
	return f
}
