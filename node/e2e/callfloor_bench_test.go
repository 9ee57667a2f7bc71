package e2e

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"
)

// BenchmarkHTTPSCallFloor is what one scheduler call costs in Go's
// net/http over TLS before any of nodectl's work: an ACKNOWLEDGE-sized
// JSON body posted to a handler that only answers 202 Accepted, from 16
// callers on keep-alive connections, client and server in this process
// (as the scale benchmark's framework and leader share the machine). It
// reports calls/s and the CPU (user + system, both sides) per call. The
// Mesos v1 scheduler API acknowledges every status update with its own
// call, three per task that goes STARTING, RUNNING, FINISHED: this floor
// bounds the launch throughput make bench-scale can reach on this machine
// (docs/performance.md). Run it with a fixed count:
//
//	go test -run '^$' -bench HTTPSCallFloor -benchtime 60000x ./node/e2e/
func BenchmarkHTTPSCallFloor(b *testing.B) {
	for _, h2 := range []bool{false, true} {
		name := "http1.1"
		if h2 {
			name = "h2"
		}
		b.Run(name, func(b *testing.B) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusAccepted)
			}))
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			defer srv.Close()
			tr := srv.Client().Transport.(*http.Transport)
			tr.MaxIdleConnsPerHost, tr.ForceAttemptHTTP2 = 64, h2
			if !h2 {
				tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
			}
			client := &http.Client{Transport: tr}
			body := []byte(`{"framework_id":{"value":"5d1c1a4e-2b7f-4a8e-9c3d-0f6e7a8b9c0d-0000"},"type":"ACKNOWLEDGE",` +
				`"acknowledge":{"agent_id":{"value":"0b7e4f2a-6c1d-4e3b-8a9f-2d5c7e1b3a4f-S12"},"task_id":{"value":"p1-12345"},"uuid":"AAECAwQFBgcICQoLDA0ODw=="}}`)
			cpu0, wall0 := processCPU(), time.Now()
			b.SetParallelism(8) // 16 callers on 2 CPUs
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Post(srv.URL, "application/json", bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusAccepted {
						b.Errorf("answer %s", resp.Status)
						return
					}
				}
			})
			b.StopTimer()
			wall, cpu := time.Since(wall0), processCPU()-cpu0
			b.ReportMetric(float64(b.N)/wall.Seconds(), "calls/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/call")
		})
	}
}

// processCPU is this process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
