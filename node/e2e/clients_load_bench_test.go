package e2e

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"nodectl/node/nodetest"
)

// BenchmarkConcurrentClients1000: 1,000 API clients at once against one
// --role=master node, each round: 900 GET /v2/apps and 100 POST /v2/apps
// (definitions, no instances). Reported: latency p50/p99, the answers that
// were shed (429/503, which must carry Retry-After), created apps whose
// POST was not acknowledged (must be 0 for a 503: shed means not done),
// leadership changes (must be 0) and the node's RSS afterwards.
func BenchmarkConcurrentClients1000(b *testing.B) {
	n := newNode(b)
	p := start(b, n.args("master", "--quiet")...)
	waitFor(b, 60*time.Second, "elected", func() bool { return metric(n.url(), "master/elected") == 1 })
	changes := metric(n.url(), "master/leader_changes")
	var (
		mu                      sync.Mutex
		lat                     []time.Duration
		shed, noRetryAfter, bad int
		createdButShed          int
	)
	b.ResetTimer()
	for round := range b.N {
		var wg sync.WaitGroup
		for i := range 1000 {
			wg.Go(func() {
				method, url, body := "GET", n.url()+"/v2/apps", ""
				id := fmt.Sprintf("/load/r%d-%d", round, i)
				if i%10 == 0 {
					method, url, body = "POST", n.url()+"/v2/apps", fmt.Sprintf(`{"id":%q,"cmd":"true","instances":0,"cpus":0.01,"mem":1}`, id)
				}
				began := time.Now()
				code, hdr := loadDo(method, url, body)
				took := time.Since(began)
				mu.Lock()
				defer mu.Unlock()
				lat = append(lat, took)
				switch {
				case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
					shed++
					if hdr.Get("Retry-After") == "" {
						noRetryAfter++
					}
					if method == "POST" {
						if c, _ := haDo("GET", n.url()+"/v2/apps"+id, ""); c == 200 {
							createdButShed++
						}
					}
				case code/100 != 2:
					bad++
				}
			})
		}
		wg.Wait()
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "ms-p50")
	b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "ms-p99")
	b.ReportMetric(float64(shed), "shed")
	b.ReportMetric(float64(bad), "errors")
	b.ReportMetric(metric(n.url(), "master/leader_changes")-changes, "leader-changes")
	b.ReportMetric(vmRSSMB(b, p.cmd.Process.Pid), "MB-RSS")
	if noRetryAfter > 0 || createdButShed > 0 || bad > 0 {
		b.Errorf("%d shed answers without Retry-After, %d apps created although their POST was shed, %d other errors", noRetryAfter, createdButShed, bad)
	}
}

// loadDo sends one request with its own connection, as a separate client.
func loadDo(method, url, body string) (int, http.Header) {
	tr := nodetest.Transport()
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header
}
