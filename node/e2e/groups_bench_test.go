package e2e

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkGroup100Healthy: POST /v2/groups of a group of 100 apps, each
// one task (a busybox nc listener with a TCP health check every second),
// to all 100 apps RUNNING and healthy with the deployment done: one etcd
// transaction, one deployment. Each round deletes the group outside the
// timer; the median and the max are reported.
func BenchmarkGroup100Healthy(b *testing.B) {
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
		id := fmt.Sprintf("/bench/group-%d", i)
		apps := make([]string, 100)
		for j := range apps {
			apps[j] = fmt.Sprintf(`{"id": "app%03d", "cmd": "exec busybox nc -ll -p $PORT0 -e true", "instances": 1, "cpus": 0.01, "mem": 4,
				"healthChecks": [{"protocol": "TCP", "gracePeriodSeconds": 30, "intervalSeconds": 1, "timeoutSeconds": 2}]}`, j)
		}
		body := fmt.Sprintf(`{"id": %q, "apps": [%s]}`, id, strings.Join(apps, ","))
		began := time.Now()
		b.StartTimer()
		appMust(b, n, "POST", "/v2/groups", body, 201)
		last := ""
		b.Cleanup(func() {
			if b.Failed() {
				b.Logf("last seen: %s", last)
			}
		})
		waitFor(b, 5*time.Minute, "100 apps healthy, no deployment", func() bool {
			var r struct{ Tasks []appTask }
			d, ok := appDeploymentIDs(n)
			if getJSON(n.url()+"/v2/tasks", &r) != nil || !ok {
				return false
			}
			running, healthy := 0, 0
			for _, t := range r.Tasks {
				if t.State == "TASK_RUNNING" {
					running++
				}
				if len(t.HealthCheckResults) == 1 && t.HealthCheckResults[0].Alive {
					healthy++
				}
			}
			last = fmt.Sprintf("%d tasks, %d running, %d healthy, %d deployments", len(r.Tasks), running, healthy, len(d))
			return len(r.Tasks) == 100 && running == 100 && healthy == 100 && len(d) == 0
		})
		b.StopTimer()
		times = append(times, time.Since(began))
		appMust(b, n, "DELETE", "/v2/groups"+id, "", 200)
		waitFor(b, 2*time.Minute, "the group's containers gone", func() bool { return appMonitors(n.dir) == 0 })
	}
	slices.Sort(times)
	b.ReportMetric(times[len(times)/2].Seconds(), "s-median-to-100-healthy")
	b.ReportMetric(times[len(times)-1].Seconds(), "s-max-to-100-healthy")
}

// BenchmarkGroupsEmbed1000: GET /v2/groups?embed=group.apps.tasks latency
// with 1,000 apps defined (10 groups of 100 apps with 0 instances, each
// group one POST); group.groups is embedded too, as the apps are in
// subgroups (without it the root group shows none). Every round is 50 GETs; p50 and p99 over all rounds
// are reported, and the response size.
func BenchmarkGroupsEmbed1000(b *testing.B) {
	if probeRun(b) {
		return
	}
	b.StopTimer()
	n := newNode(b)
	p := start(b, n.args("all", "--quiet", "--resources", "cpus:4;mem:4096;disk:1024;ports:[31000-31999]")...)
	defer p.kill(syscall.SIGTERM)
	waitFor(b, 30*time.Second, "agent active", func() bool { s := slaves(b, n.url()); return len(s) == 1 && s[0].Active })
	setup := time.Now()
	for g := range 10 {
		apps := make([]string, 100)
		for j := range apps {
			apps[j] = fmt.Sprintf(`{"id": "app%03d", "cmd": "sleep 1000", "instances": 0, "cpus": 0.01, "mem": 4, "labels": {"team": "bench"}}`, j)
		}
		appMust(b, n, "POST", "/v2/groups", fmt.Sprintf(`{"id": "/bench/g%d", "apps": [%s]}`, g, strings.Join(apps, ",")), 201)
	}
	b.Logf("1,000 apps defined (10 group POSTs) in %s", time.Since(setup).Round(time.Millisecond))
	c := &http.Client{Timeout: 10 * time.Second}
	var lat []time.Duration
	size := 0
	b.StartTimer()
	for range b.N {
		for range 50 {
			began := time.Now()
			resp, err := c.Get(n.url() + "/v2/groups?embed=group.groups&embed=group.apps&embed=group.apps.tasks")
			if err != nil {
				b.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("GET /v2/groups: %d %v", resp.StatusCode, err)
			}
			lat = append(lat, time.Since(began))
			size = len(body)
		}
	}
	b.StopTimer()
	if size < 1000*100 {
		b.Fatalf("response of %d bytes: too small for 1,000 apps", size)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "ms-p99")
	b.ReportMetric(float64(size), "bytes")
}
