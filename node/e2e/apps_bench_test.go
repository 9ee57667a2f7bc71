package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
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
// 50 GETs with each kind of caller, interleaved on one node: the admin
// client certificate and HTTP Basic (a --credentials principal) with
// authentication on, and an anonymous caller the node lets read
// (--authenticate_http_readonly=false): the cost of authentication, in
// the same run. It also times a UI login: POST /auth/login, then the
// first page's GET /v2/apps with the session cookie.
func BenchmarkAppsList1000(b *testing.B) {
	if probeRun(b) {
		return
	}
	b.StopTimer()
	n := newNode(b)
	creds := filepath.Join(b.TempDir(), "creds.json")
	if err := os.WriteFile(creds, []byte(`{"credentials":[{"principal":"bench","secret":"bench-secret-123"}]}`), 0o600); err != nil {
		b.Fatal(err)
	}
	p := start(b, n.args("all", "--quiet", "--resources", "cpus:4;mem:4096;disk:1024;ports:[31000-31999]",
		"--credentials", creds, "--authenticate_http_readonly=false")...)
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

	anon := anonClient(b, n)
	kinds := []struct {
		name string
		c    *http.Client
		auth func(*http.Request)
	}{
		{"cert", &http.Client{Timeout: 10 * time.Second}, func(*http.Request) {}},
		{"basic", anon, func(r *http.Request) { r.SetBasicAuth("bench", "bench-secret-123") }},
		{"anon", anon, func(*http.Request) {}},
	}
	lat := map[string][]time.Duration{}
	var logins []time.Duration
	size := 0
	get := func(c *http.Client, auth func(*http.Request)) {
		req, _ := http.NewRequest("GET", n.url()+"/v2/apps", nil)
		auth(req)
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("GET /v2/apps: %d %v", resp.StatusCode, err)
		}
		size = len(body)
	}
	b.StartTimer()
	for range b.N {
		for range 50 {
			for _, k := range kinds {
				began := time.Now()
				get(k.c, k.auth)
				lat[k.name] = append(lat[k.name], time.Since(began))
			}
		}
		began := time.Now()
		resp, err := anon.Post(n.url()+"/auth/login", "application/json", strings.NewReader(`{"principal":"bench","secret":"bench-secret-123"}`))
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("login: %v %v", err, resp)
		}
		resp.Body.Close()
		cookie := resp.Header.Get("Set-Cookie")
		get(anon, func(r *http.Request) { r.Header.Set("Cookie", strings.Split(cookie, ";")[0]) })
		logins = append(logins, time.Since(began))
	}
	b.StopTimer()
	pct := func(d []time.Duration, p int) float64 {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return float64(d[len(d)*p/100].Microseconds()) / 1000
	}
	for _, k := range kinds {
		b.ReportMetric(pct(lat[k.name], 50), "ms-p50-"+k.name)
		b.ReportMetric(pct(lat[k.name], 99), "ms-p99-"+k.name)
	}
	b.ReportMetric(pct(logins, 50), "ms-login-to-first-page")
	b.ReportMetric(float64(size)/1024, "KiB-response")
}
