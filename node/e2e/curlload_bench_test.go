package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tlsBaselineEnv makes the test binary a bare HTTPS server instead
// (serveTLSBaseline): the baseline of BenchmarkCurlUnderLoad.
const tlsBaselineEnv = "NODECTL_E2E_TLS_BASELINE"

// serveTLSBaseline is the least an HTTPS server can do for GET /v2/apps:
// a P-256 certificate of its own, client certificates asked for as the
// master port does, and a constant JSON answer. It never returns.
func serveTLSBaseline(addr string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "baseline"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		panic(err)
	}
	srv := &http.Server{
		Addr:              addr,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: k}}, ClientAuth: tls.RequestClientCert},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"apps":[]}` + "\n"))
		}),
	}
	fmt.Fprintln(os.Stderr, srv.ListenAndServeTLS("", ""))
	os.Exit(1)
}

// BenchmarkCurlUnderLoad measures GET /v2/apps the way the reliability
// acceptance check does — one curl process, one TLS handshake with the
// admin certificate per request, every 200 ms — on a --role=all node with
// 3 CPU-burning tasks while 4 busy loops and one fsyncing dd writer per
// core run beside the client, for NODECTL_CURLLOAD_SECS (90). The same
// curl asks a bare Go HTTPS server (serveTLSBaseline) placed in the
// node's own cgroup, so it has the same CPU weight, interleaved with the
// node's requests: the baseline shows what the client itself costs when
// it shares its CPU with the busy loops. Reported: p50/p99 of both and
// the ratio, and the node's leadership changes. Not in `make bench`:
// `make curl-under-load`.
func BenchmarkCurlUnderLoad(b *testing.B) {
	if os.Getenv("NODECTL_CURLLOAD") == "" {
		b.Skip("set NODECTL_CURLLOAD=1 (make curl-under-load)")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		b.Skip("no curl")
	}
	secs := 90
	if v, err := strconv.Atoi(os.Getenv("NODECTL_CURLLOAD_SECS")); err == nil && v > 0 {
		secs = v
	}
	n := newNode(b)
	p := start(b, n.args("all", "--quiet")...)
	waitFor(b, 60*time.Second, "agent active", func() bool { s := slaves(b, n.url()); return len(s) == 1 && s[0].Active })
	appMust(b, n, "POST", "/v2/apps", `{"id":"/curlload/burn","cmd":"while :; do :; done","instances":3,"cpus":0.4,"mem":32}`, 201)
	appWaitRunning(b, n, "/curlload/burn", 3, false, 2*time.Minute)

	// The baseline, in the cgroups of the nodectl process.
	base := exec.Command(os.Args[0])
	base.Env = append(os.Environ(), tlsBaselineEnv+"=127.0.0.1:"+strconv.Itoa(freePort(b)))
	baseURL := "https://" + strings.TrimPrefix(base.Env[len(base.Env)-1], tlsBaselineEnv+"=")
	base.Stderr = os.Stderr
	if err := base.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = base.Process.Kill(); _ = base.Wait() })
	joinCgroupsOf(b, p.cmd.Process.Pid, base.Process.Pid)

	curl := func(url string) (time.Duration, bool) {
		out, err := exec.Command("curl", "-sk", "--cert", filepath.Join(n.dir, "admin.crt"), "--key", filepath.Join(n.dir, "admin.key"),
			"-o", "/dev/null", "-w", "%{http_code} %{time_total}", "--max-time", "10", url+"/v2/apps").Output()
		code, total, _ := strings.Cut(string(out), " ")
		s, perr := strconv.ParseFloat(total, 64)
		if err != nil || perr != nil {
			return 0, false
		}
		return time.Duration(s * float64(time.Second)), code == "200"
	}
	waitFor(b, 30*time.Second, "the baseline server", func() bool { _, ok := curl(baseURL); return ok })

	d := time.Duration(secs) * time.Second
	changes := metric(n.url(), "master/leader_changes")
	cpuHog(b, 4*runtime.NumCPU(), d+30*time.Second)
	ioDir := b.TempDir()
	var writers []*exec.Cmd
	for i := range runtime.NumCPU() {
		w := exec.Command("timeout", "-s", "KILL", timeoutArg(d+30*time.Second), "sh", "-c",
			fmt.Sprintf("while :; do dd if=/dev/zero of=%s/io.%d bs=1M count=128 conv=fsync status=none; done", ioDir, i))
		w.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := w.Start(); err != nil {
			b.Fatal(err)
		}
		writers = append(writers, w)
	}
	b.Cleanup(func() {
		for _, w := range writers {
			_ = syscall.Kill(-w.Process.Pid, syscall.SIGKILL) // timeout, its shell and dd
			_ = w.Wait()
		}
	})

	var node, bare []time.Duration
	bad := 0
	b.ResetTimer()
	tick := time.NewTicker(200 * time.Millisecond) // the acceptance check's pace, not a wait
	defer tick.Stop()
	for i, end := 0, time.Now().Add(d); time.Now().Before(end); i++ {
		order := []string{n.url(), baseURL}
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, u := range order {
			took, ok := curl(u)
			switch {
			case !ok:
				bad++
			case u == baseURL:
				bare = append(bare, took)
			default:
				node = append(node, took)
			}
		}
		<-tick.C
	}
	b.StopTimer()
	after := metric(n.url(), "master/leader_changes")
	appMust(b, n, "DELETE", "/v2/apps/curlload/burn", "", 200)
	q := func(l []time.Duration, p float64) float64 {
		if len(l) == 0 {
			return 0
		}
		l = slices.Sorted(slices.Values(l))
		return float64(l[int(p*float64(len(l)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(q(node, 0.5), "node-p50-ms")
	b.ReportMetric(q(node, 0.99), "node-p99-ms")
	b.ReportMetric(q(bare, 0.5), "bare-p50-ms")
	b.ReportMetric(q(bare, 0.99), "bare-p99-ms")
	b.ReportMetric(float64(bad), "failed")
	b.ReportMetric(after-changes, "leader-changes")
	fmt.Printf("curl under load %ds: GET /v2/apps nodectl n=%d p50 %.1f ms p99 %.1f ms; bare Go HTTPS server n=%d p50 %.1f ms p99 %.1f ms; p99 ratio %.2f; %d failed; leader changes %v\n",
		secs, len(node), q(node, 0.5), q(node, 0.99), len(bare), q(bare, 0.5), q(bare, 0.99), q(node, 0.99)/max(q(bare, 0.99), 0.001), bad, after-changes)
	if after != changes {
		b.Errorf("leadership changed under load: %v -> %v", changes, after)
	}
	if bad > 0 {
		b.Errorf("%d requests failed", bad)
	}
}

// joinCgroupsOf moves pid into the CPU cgroups of the process of, on
// cgroup v1 (the cpu and cpuacct hierarchies) or v2.
func joinCgroupsOf(t testing.TB, of, pid int) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", of))
	if err != nil {
		t.Fatal(err)
	}
	moved := false
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var dir string
		switch {
		case parts[1] == "" && parts[0] == "0":
			dir = filepath.Join("/sys/fs/cgroup", parts[2])
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", "cgroup.controllers")); err != nil {
				continue // hybrid: the v2 hierarchy holds no CPU controller
			}
		case slices.ContainsFunc(strings.Split(parts[1], ","), func(c string) bool { return c == "cpu" || c == "cpuacct" }):
			dir = filepath.Join("/sys/fs/cgroup", parts[1], parts[2])
		default:
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			t.Fatalf("move the baseline into %s: %v", dir, err)
		}
		moved = true
	}
	if !moved {
		t.Fatalf("no CPU cgroup of pid %d in %s", of, b)
	}
}
