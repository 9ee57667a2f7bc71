package e2e

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkApp100RunningHealthy: POST of a 100-instance app (each task a
// busybox nc listener with a TCP health check every second) on one node,
// to all 100 RUNNING and healthy with the deployment done. Each round
// deletes the app outside the timer; the median and the max are reported.
func BenchmarkApp100RunningHealthy(b *testing.B) {
	if probeRun(b) {
		return
	}
	b.StopTimer()
	n := newNode(b)
	p := start(b, n.args("all", "--quiet", "--resources", "cpus:4;mem:4096;disk:1024;ports:[31000-31999]")...)
	defer p.kill(syscall.SIGTERM)
	waitFor(b, 30*time.Second, "agent active", func() bool { s := slaves(b, n.url()); return len(s) == 1 && s[0].Active })
	var times []time.Duration
	for i := range b.N {
		id := fmt.Sprintf("/bench/hundred-%d", i)
		began := time.Now()
		b.StartTimer()
		appMust(b, n, "POST", "/v2/apps", fmt.Sprintf(`{"id": %q, "cmd": "exec busybox nc -ll -p $PORT0 -e true",
			"instances": 100, "cpus": 0.01, "mem": 4,
			"healthChecks": [{"protocol": "TCP", "gracePeriodSeconds": 30, "intervalSeconds": 1, "timeoutSeconds": 2}]}`, id), 201)
		appWaitRunning(b, n, id, 100, true, 5*time.Minute)
		b.StopTimer()
		times = append(times, time.Since(began))
		appMust(b, n, "DELETE", "/v2/apps"+id, "", 200)
		waitFor(b, 2*time.Minute, "the app's containers gone", func() bool { return appMonitors(n.dir) == 0 })
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(times[len(times)/2].Seconds(), "s-median-to-100-healthy")
	b.ReportMetric(times[len(times)-1].Seconds(), "s-max-to-100-healthy")
}

// BenchmarkAppsList1000: GET /v2/apps latency with 1,000 apps defined
// (990 with 0 instances, 10 with one running task each). Every round is
// 50 GETs; p50 and p99 are over all of them.
func BenchmarkAppsList1000(b *testing.B) {
	if probeRun(b) {
		return
	}
	b.StopTimer()
	n := newNode(b)
	p := start(b, n.args("all", "--quiet", "--resources", "cpus:4;mem:4096;disk:1024;ports:[31000-31999]")...)
	defer p.kill(syscall.SIGTERM)
	waitFor(b, 30*time.Second, "agent active", func() bool { s := slaves(b, n.url()); return len(s) == 1 && s[0].Active })
	setup := time.Now()
	ids := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range ids {
				inst := 0
				if i < 10 {
					inst = 1
				}
				appMust(b, n, "POST", "/v2/apps", fmt.Sprintf(`{"id": "/bench/list/app-%04d", "cmd": "sleep %d",
					"instances": %d, "cpus": 0.01, "mem": 4, "labels": {"team": "bench"}, "env": {"N": "%d"}}`, i, 7000+i, inst, i), 201)
			}
		})
	}
	for i := range 1000 {
		ids <- i
	}
	close(ids)
	wg.Wait()
	waitFor(b, 2*time.Minute, "10 running tasks, no deployments", func() bool {
		var r struct{ Tasks []appTask }
		d, ok := appDeploymentIDs(n)
		return getJSON(n.url()+"/v2/tasks", &r) == nil && len(r.Tasks) == 10 && ok && len(d) == 0
	})
	b.Logf("1,000 apps defined in %s", time.Since(setup).Round(time.Millisecond))

	c := &http.Client{Timeout: 10 * time.Second}
	var lat []time.Duration
	size := 0
	b.StartTimer()
	for range b.N {
		for range 50 {
			began := time.Now()
			resp, err := c.Get(n.url() + "/v2/apps")
			if err != nil {
				b.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("GET /v2/apps: %d %v", resp.StatusCode, err)
			}
			lat = append(lat, time.Since(began))
			size = len(body)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "ms-p99")
	b.ReportMetric(float64(size)/1024, "KiB-response")
}
