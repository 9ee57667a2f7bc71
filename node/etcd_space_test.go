package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"nodectl/cluster"
	"nodectl/cluster/apps"
	"nodectl/cluster/pki"
	"nodectl/node"
	"nodectl/node/nodetest"
)

// masterEtcd is a client of n's etcd with n's own (master) certificate.
func masterEtcd(t *testing.T, n *nodetest.Node) *clientv3.Client {
	t.Helper()
	id, err := pki.LoadIdentity(pki.Paths{Dir: filepath.Join(n.Config.WorkDir, "pki")})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: []string{fmt.Sprintf("https://127.0.0.1:%d", n.Config.EtcdPort)}, DialTimeout: 5 * time.Second,
		Logger: zap.NewNop(), TLS: pki.ClientTLS(id, pki.RoleMaster),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// fillEtcd writes until etcd refuses with NOSPACE, as the incident did:
// every other write is a new "app version" (live data: only deleting
// old versions frees it), the rest overwrite one key (history: freed by
// compaction). It returns the number of writes that succeeded.
// putWait bounds one put: a 100 KiB put took over 10 s with make test
// beside 4 busy loops (load 20; etcd's fsyncs share the disk with every
// other test).
const putWait = 60 * time.Second

func fillEtcd(t *testing.T, cli *clientv3.Client, round int) int {
	t.Helper()
	val := strings.Repeat("v", 100<<10)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(round) * time.Hour)
	for i := range 100000 {
		key := "/fill/overwritten"
		if i%2 == 1 {
			key = "/nodectl/apps/versions/flood/" + base.Add(time.Duration(i)*time.Millisecond).Format("2006-01-02T15:04:05.000Z")
		}
		ctx, cancel := context.WithTimeout(t.Context(), putWait)
		_, err := cli.Put(ctx, key, val)
		cancel()
		if errors.Is(err, rpctypes.ErrNoSpace) {
			return i
		}
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	t.Fatal("etcd never ran out of space")
	return 0
}

// health is the master's /health answer: status, alarm header, body.
func health(t *testing.T, n *nodetest.Node) (int, string, string) {
	resp, err := nodetest.Client(5 * time.Second).Get(n.URL() + "/health")
	if err != nil {
		return 0, "", ""
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header.Get(cluster.HeaderEtcdAlarm), b.String()
}

// createApp POSTs a small app and returns the status code.
func createApp(t *testing.T, n *nodetest.Node, id string) int {
	resp, err := nodetest.Client(10*time.Second).Post(n.URL()+"/v2/apps", "application/json", strings.NewReader(`{"id":"`+id+`","cmd":"sleep 1000","instances":0}`))
	if err != nil {
		t.Fatalf("create %s: %v", id, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestEtcdFullDatabase: a master on a 16 MiB quota is filled by direct
// writes; the NOSPACE alarm shows in /health, the metrics and /state; the
// master starts again on the full database (plain restart and
// --cluster-reset), and `nodectl etcd recover` brings a running one back.
func TestEtcdFullDatabase(t *testing.T) {
	t.Parallel()
	c := nodetest.Start(t, nodetest.Options{EtcdQuotaBackendBytes: 16 << 20})
	m := c.Master
	cli := masterEtcd(t, m)
	if code, alarm, _ := health(t, m); code != http.StatusOK || alarm != "" {
		t.Fatalf("/health before: %d alarm %q", code, alarm)
	}
	if v := c.Metric("master/etcd_alarm_nospace"); v != 0 {
		t.Fatalf("master/etcd_alarm_nospace %v before filling", v)
	}

	full := func(round int) {
		t.Helper()
		start := time.Now()
		n := fillEtcd(t, cli, round)
		t.Logf("round %d: etcd full after %d writes of 100 KiB in %s", round, n, time.Since(start).Round(time.Millisecond))
		nodetest.WaitFor(t, 30*time.Second, "NOSPACE in /health, metrics and /state", func() bool {
			code, alarm, body := health(t, m)
			st := c.State()
			masters, _ := st["masters"].(map[string]any)
			alarms := fmt.Sprint(masters["alarms"])
			return code == http.StatusOK && alarm == "NOSPACE" && strings.Contains(body, "nodectl etcd recover") &&
				c.Metric("master/etcd_alarm_nospace") == 1 && strings.Contains(alarms, "NOSPACE")
		})
		if code := createApp(t, m, fmt.Sprintf("/full%d", round)); code/100 == 2 {
			t.Errorf("app created on a full database: %d", code)
		}
	}
	writable := func(what string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), putWait)
		defer cancel()
		if _, err := cli.Put(ctx, "/fill/after", "ok"); err != nil {
			t.Fatalf("%s: put: %v", what, err)
		}
		nodetest.WaitFor(t, 30*time.Second, what+": alarm cleared", func() bool {
			_, alarm, _ := health(t, m)
			return alarm == "" && c.Metric("master/etcd_alarm_nospace") == 0
		})
		if code := createApp(t, m, "/after-"+what); code != http.StatusCreated {
			t.Errorf("%s: create app: %d", what, code)
		}
	}
	restart := func(what string, reset bool) {
		t.Helper()
		if err := m.Stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
		m.Config.ClusterReset = reset
		start := time.Now()
		m.Start()
		nodetest.WaitFor(t, 60*time.Second, what+": master elected", func() bool { return c.Metric("master/elected") == 1 })
		t.Logf("%s on a full database: elected %s after start", what, time.Since(start).Round(time.Millisecond))
		m.Config.ClusterReset = false
	}

	full(1)
	restart("restart", false)
	writable("restart")

	full(2)
	restart("cluster-reset", true)
	writable("cluster-reset")

	full(3)
	var out, errOut bytes.Buffer
	start := time.Now()
	code := node.RunCLI([]string{"etcd", "recover", "--work-dir", m.Config.WorkDir, "--endpoint", fmt.Sprintf("https://127.0.0.1:%d", m.Config.EtcdPort)}, &out, &errOut)
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("nodectl etcd recover: exit %d: %s %s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "NOSPACE alarm disarmed") {
		t.Errorf("recover output %q", out.String())
	}
	t.Logf("nodectl etcd recover of a full 16 MiB database took %s: %s", took.Round(time.Millisecond), strings.TrimSpace(out.String()))
	writable("recover")
}

// versionKeys counts the stored versions of app id (escaped: no slashes).
func versionKeys(t *testing.T, cli *clientv3.Client, esc string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/nodectl/apps/versions/"+esc+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}

// TestAppVersionsBoundedInEtcd: on a real etcd, N+10 updates leave the
// newest N versions stored (apps.DefaultMaxVersions), a new leader with a
// lower bound prunes the backlog, and a definition over the limit is
// refused with 413 and stores nothing.
func TestAppVersionsBoundedInEtcd(t *testing.T) {
	t.Parallel()
	s := startAppsStack(t, 0)
	const n = apps.DefaultMaxVersions
	if code := s.req("POST", "/v2/apps", `{"id":"/v","cmd":"sleep 1000","instances":0}`, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	for i := range n + 10 {
		if code := s.req("PUT", "/v2/apps/v?force=true", fmt.Sprintf(`{"env":{"I":"%d"}}`, i), nil); code != 200 {
			t.Fatalf("update %d: %d", i, code)
		}
	}
	if got := versionKeys(t, s.etcd, "v"); got != n {
		t.Errorf("%d versions stored after %d writes, want %d", got, n+11, n)
	}
	var vs struct {
		Versions []string `json:"versions"`
	}
	if s.req("GET", "/v2/apps/v/versions", "", &vs); len(vs.Versions) != n {
		t.Errorf("/versions lists %d, want %d", len(vs.Versions), n)
	}
	if code := s.req("GET", "/v2/apps/v/versions/"+vs.Versions[n-1], "", nil); code != 200 {
		t.Errorf("oldest kept version: %d", code)
	}

	// A new leader with a lower bound prunes the backlog on load.
	s.stopApps()
	s.maxVersions = 10
	s.startApps(s.swap)
	nodetest.WaitFor(t, 10*time.Second, "pruned to 10", func() bool { return versionKeys(t, s.etcd, "v") == 10 })
	if s.req("GET", "/v2/apps/v/versions", "", &vs); len(vs.Versions) != 10 {
		t.Errorf("/versions lists %d after the new leader, want 10", len(vs.Versions))
	}

	var msg map[string]any
	big := strings.Repeat("x", apps.MaxDefinitionBytes)
	if code := s.req("POST", "/v2/apps", `{"id":"/big","cmd":"sleep 1000","labels":{"x":"`+big+`"}}`, &msg); code != 413 || !strings.Contains(fmt.Sprint(msg["message"]), "524288") {
		t.Errorf("oversized create: %d %v", code, msg)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	resp, err := s.etcd.Get(ctx, "/nodectl/apps/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		if strings.Contains(string(kv.Key), "big") {
			t.Errorf("stored after a 413: %s", kv.Key)
		}
	}
}
