package e2e

import (
	"archive/tar"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/miekg/dns"
)

// Benchmarks of issue 18's closing note: what a task's own network costs.
// Figures are reported (b.ReportMetric), never asserted; run them with
//
//	NODECTL_BIN=$PWD/bin/nodectl go test -run '^$' -bench 'BridgeStartOverhead|PortForwardThroughput|DNSQPS' -benchtime 10x ./node/e2e/

// startedAt is when app id's one task became RUNNING (its startedAt),
// waited for.
func startedAt(b testing.TB, n node, id string) time.Time {
	b.Helper()
	var at time.Time
	waitFor(b, 60*time.Second, id+" running", func() bool {
		var r struct {
			Tasks []struct {
				State     string `json:"state"`
				StartedAt string `json:"startedAt"`
			} `json:"tasks"`
		}
		if getJSON(n.url()+"/v2/apps"+id+"/tasks", &r) != nil || len(r.Tasks) != 1 || r.Tasks[0].State != "TASK_RUNNING" {
			return false
		}
		t, err := time.Parse(time.RFC3339Nano, r.Tasks[0].StartedAt)
		at = t
		return err == nil
	})
	return at
}

// appGone deletes app id and waits for it and its tasks to be gone.
func appGone(b testing.TB, n node, id string) {
	b.Helper()
	appMust(b, n, "DELETE", "/v2/apps"+id, "", 200)
	waitFor(b, 60*time.Second, id+" gone", func() bool {
		_, ok := appGet(n, id)
		return !ok && len(appTasks(n, id)) == 0
	})
}

func p50(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkBridgeStartOverhead: submit (POST /v2/apps) to RUNNING (the
// task's startedAt) of a one-instance container/bridge app with a port
// mapping, against the same app in host mode (a port definition), same
// image, interleaved (the order swapped every round), one app at a time.
// A bridge task stays running throughout, so the agent's bridge exists
// (it goes with the last bridge task) as on an agent that runs them.
// The goal: p50 overhead ≤ 30 ms.
func BenchmarkBridgeStartOverhead(b *testing.B) {
	if _, err := exec.LookPath("nft"); err != nil {
		b.Skip("nft is not installed (make deps installs nftables)")
	}
	n := appStartNode(b, "")
	dropCNIRulesAtEnd(b, n.dir) // the node is killed with the anchor's DEL maybe pending
	loadBridgeImage(b, n.dir)
	const common = `"instances": 1, "cpus": 0.05, "mem": 24, "cmd": "exec sleep 3600",`
	bridge := func(id string) string {
		return `{"id": "` + id + `", ` + common + `
			"container": {"type": "MESOS", "docker": {"image": "test/bridge:1"},
				"portMappings": [{"containerPort": 8080, "hostPort": 0, "name": "http"}]},
			"networks": [{"mode": "container/bridge"}]}`
	}
	host := func(id string) string {
		return `{"id": "` + id + `", ` + common + `
			"container": {"type": "MESOS", "docker": {"image": "test/bridge:1"}},
			"portDefinitions": [{"port": 0, "name": "http"}]}`
	}
	appMust(b, n, "POST", "/v2/apps", bridge("/bench/anchor"), 201)
	startedAt(b, n, "/bench/anchor")
	// measure launches app id and ends it, waiting for its container to
	// be gone (its networking torn down) so rounds do not overlap.
	measure := func(id, body string) time.Duration {
		began := time.Now()
		appMust(b, n, "POST", "/v2/apps", body, 201)
		d := startedAt(b, n, id).Sub(began)
		appGone(b, n, id)
		waitFor(b, 60*time.Second, id+"'s container gone", func() bool { return appMonitors(n.dir) == 1 }) // the anchor's
		b.Logf("%s: %v", id, d)
		return d
	}
	measure("/bench/warm-br", bridge("/bench/warm-br"))
	measure("/bench/warm-host", host("/bench/warm-host"))
	var br, ho, diff []time.Duration
	b.ResetTimer()
	for i := range b.N {
		var db, dh time.Duration
		if i%2 == 0 {
			db = measure(fmt.Sprintf("/bench/br-%d", i), bridge(fmt.Sprintf("/bench/br-%d", i)))
			dh = measure(fmt.Sprintf("/bench/host-%d", i), host(fmt.Sprintf("/bench/host-%d", i)))
		} else {
			dh = measure(fmt.Sprintf("/bench/host-%d", i), host(fmt.Sprintf("/bench/host-%d", i)))
			db = measure(fmt.Sprintf("/bench/br-%d", i), bridge(fmt.Sprintf("/bench/br-%d", i)))
		}
		br, ho, diff = append(br, db), append(ho, dh), append(diff, db-dh)
	}
	b.StopTimer()
	b.ReportMetric(ms(p50(br)), "ms-p50-bridge")
	b.ReportMetric(ms(p50(ho)), "ms-p50-host")
	b.ReportMetric(ms(p50(br)-p50(ho)), "ms-p50-overhead")
	b.ReportMetric(ms(p50(diff)), "ms-p50-paired-overhead")
	b.ReportMetric(loadAverage(), "loadavg-1m")
	appGone(b, n, "/bench/anchor")
}

// sinkSource is a TCP receiver that discards what it reads, and closes
// the connection at the sender's end of stream.
const sinkSource = `package main

import (
	"net"
	"os"
)

func main() {
	l, err := net.Listen("tcp", ":"+os.Args[1])
	if err != nil {
		panic(err)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			continue
		}
		go func() {
			buf := make([]byte, 256<<10)
			for {
				if _, err := c.Read(buf); err != nil {
					break
				}
			}
			c.Close()
		}()
	}
}
`

// sinkImage is busybox plus /bin/sink (sinkSource, built static).
func sinkImage(b testing.TB) string {
	b.Helper()
	dir := b.TempDir()
	must(b, os.WriteFile(filepath.Join(dir, "main.go"), []byte(sinkSource), 0o644))
	cmd := exec.Command("go", "build", "-o", "sink", "main.go")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build the sink: %v\n%s", err, out)
	}
	body, err := os.ReadFile(filepath.Join(dir, "sink"))
	must(b, err)
	return busyboxImage(b, "test/sink:1", []imageEntry{{hdr: tar.Header{Name: "bin/sink", Typeflag: tar.TypeReg, Mode: 0o755}, body: string(body)}}, func(*v1.Config) {})
}

// sendTo sends size bytes to addr and waits for the receiver to close;
// the throughput in MB/s.
func sendTo(b testing.TB, addr string, size int) float64 {
	b.Helper()
	var c net.Conn
	waitFor(b, 30*time.Second, "the sink at "+addr+" accepting", func() bool {
		var err error
		c, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err == nil
	})
	defer c.Close()
	buf := make([]byte, 256<<10)
	began := time.Now()
	for sent := 0; sent < size; sent += len(buf) {
		if _, err := c.Write(buf); err != nil {
			b.Fatalf("send to %s: %v", addr, err)
		}
	}
	must(b, c.(*net.TCPConn).CloseWrite())
	if _, err := io.Copy(io.Discard, c); err != nil {
		b.Fatalf("wait for %s to close: %v", addr, err)
	}
	return float64(size) / 1e6 / time.Since(began).Seconds()
}

// BenchmarkPortForwardThroughput: TCP throughput from the test process
// to a task's host port on 127.0.0.1, forwarded to a container/bridge
// task's container port (the agent's DNAT, runtime/internal/cni/portfwd.go, the bridge and a
// veth), against the same receiver in host mode (listening on the host
// port itself). 256 MiB per round, interleaved; the receiver is a small
// Go program that discards what it reads.
func BenchmarkPortForwardThroughput(b *testing.B) {
	if _, err := exec.LookPath("nft"); err != nil {
		b.Skip("nft is not installed (make deps installs nftables)")
	}
	n := appStartNode(b, "")
	dropCNIRulesAtEnd(b, n.dir)
	archive := sinkImage(b)
	if out, err := exec.Command(bin, "image", "load", "--work-dir", n.dir, archive).CombinedOutput(); err != nil {
		b.Fatalf("image load: %v\n%s", err, out)
	}
	appMust(b, n, "POST", "/v2/apps", `{"id": "/bench/sink-br", "instances": 1, "cpus": 0.5, "mem": 64, "cmd": "exec /bin/sink 8080",
		"container": {"type": "MESOS", "docker": {"image": "test/sink:1"},
			"portMappings": [{"containerPort": 8080, "hostPort": 0, "name": "data"}]},
		"networks": [{"mode": "container/bridge"}]}`, 201)
	appMust(b, n, "POST", "/v2/apps", `{"id": "/bench/sink-host", "instances": 1, "cpus": 0.5, "mem": 64, "cmd": "exec /bin/sink $PORT0",
		"container": {"type": "MESOS", "docker": {"image": "test/sink:1"}},
		"portDefinitions": [{"port": 0, "name": "data"}]}`, 201)
	appWaitRunning(b, n, "/bench/sink-br", 1, false, 60*time.Second)
	appWaitRunning(b, n, "/bench/sink-host", 1, false, 60*time.Second)
	port := func(id string) string {
		ts := appTasks(n, id)
		if len(ts) != 1 || len(ts[0].Ports) != 1 {
			b.Fatalf("%s: tasks %+v", id, ts)
		}
		return "127.0.0.1:" + strconv.Itoa(ts[0].Ports[0])
	}
	brAddr, hostAddr := port("/bench/sink-br"), port("/bench/sink-host")
	const size = 256 << 20
	sendTo(b, brAddr, 16<<20) // warm-up: both answer
	sendTo(b, hostAddr, 16<<20)
	var br, ho []float64
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			br, ho = append(br, sendTo(b, brAddr, size)), append(ho, sendTo(b, hostAddr, size))
		} else {
			ho, br = append(ho, sendTo(b, hostAddr, size)), append(br, sendTo(b, brAddr, size))
		}
	}
	b.StopTimer()
	slices.Sort(br)
	slices.Sort(ho)
	b.ReportMetric(br[len(br)/2], "MB/s-p50-bridge")
	b.ReportMetric(ho[len(ho)/2], "MB/s-p50-host")
	b.ReportMetric(br[len(br)/2]/ho[len(ho)/2], "bridge/host")
	b.ReportMetric(loadAverage(), "loadavg-1m")
	appGone(b, n, "/bench/sink-br")
	appGone(b, n, "/bench/sink-host")
}

// BenchmarkDNSQPS: latency of the agent's DNS under 1,000 queries a
// second for 5 s per round (open loop: each query is sent at its time,
// whatever the earlier ones do), alternating the A record of a
// 2-instance app and the SRV record of its named port, over UDP with
// miekg/dns's client. The issue asks for the p99.
func BenchmarkDNSQPS(b *testing.B) {
	n, addr := dnsNode(b)
	appMust(b, n, "POST", "/v2/apps", `{"id": "/bench/qps", "instances": 2, "cpus": 0.05, "mem": 32, "cmd": "sleep 3600",
		"portDefinitions": [{"port": 0, "name": "http"}]}`, 201)
	appWaitRunning(b, n, "/bench/qps", 2, false, 60*time.Second)
	const srv, a = "_http._qps-bench._tcp.marathon.mesos", "qps-bench.marathon.mesos"
	waitFor(b, 10*time.Second, "2 SRV records", func() bool { return len(srvPorts(addr, srv)) == 2 })
	const rate, seconds = 1000, 5
	var (
		mu     sync.Mutex
		lat    []time.Duration
		failed int
	)
	client := &dns.Client{Timeout: 2 * time.Second}
	b.ResetTimer()
	began := time.Now()
	for range b.N {
		var wg sync.WaitGroup
		start := time.Now()
		for i := range rate * seconds {
			if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
				time.Sleep(d) // pacing the load, not waiting for a state
			}
			q := new(dns.Msg)
			if i%2 == 0 {
				q.SetQuestion(a+".", dns.TypeA)
			} else {
				q.SetQuestion(srv+".", dns.TypeSRV)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				t0 := time.Now()
				r, _, err := client.Exchange(q, addr)
				d := time.Since(t0)
				mu.Lock()
				defer mu.Unlock()
				if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
					failed++
					return
				}
				lat = append(lat, d)
			}()
		}
		wg.Wait()
	}
	elapsed := time.Since(began)
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) == 0 {
		b.Fatalf("no answer (%d failed)", failed)
	}
	q := func(p float64) float64 { return ms(lat[min(len(lat)-1, int(p*float64(len(lat))))]) }
	b.ReportMetric(q(0.50), "ms-p50")
	b.ReportMetric(q(0.99), "ms-p99")
	b.ReportMetric(ms(lat[len(lat)-1]), "ms-max")
	b.ReportMetric(float64(len(lat)+failed)/elapsed.Seconds(), "qps")
	b.ReportMetric(float64(failed), "failed")
	b.ReportMetric(loadAverage(), "loadavg-1m")
}
