package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/node/nodetest"
)

// appsKeys is every key under the apps framework's prefix, with its mod
// revision.
func appsKeys(t *testing.T, cli *clientv3.Client) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/nodectl/apps/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = kv.ModRevision
	}
	return out
}

// TestAppsDeposedLeaderCommitsNothing: once a successor's election key
// replaces this master's (as when its lease expired while it was paused),
// the apps framework, which still believes it leads, commits nothing:
// creates, scales and deletes are refused with 503, and not one key under
// /nodectl/apps/ changes.
func TestAppsDeposedLeaderCommitsNothing(t *testing.T) {
	t.Parallel()
	s := startAppsStack(t, 1)
	if code := s.req("POST", "/v2/apps", `{"id":"/fence/a","instances":1,"cmd":"sleep 1000","cpus":0.1,"mem":16}`, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	nodetest.WaitFor(t, 10*time.Second, "1 running", func() bool { return s.running("/fence/a") == 1 })
	nodetest.WaitFor(t, 10*time.Second, "deployment done", func() bool {
		var ds []any
		return s.req("GET", "/v2/deployments", "", &ds) == 200 && len(ds) == 0
	})

	// Depose: this master's election key goes (its lease "expired") and a
	// successor's takes its place. This master's own lease still lives,
	// so nothing tells it yet: only the fence does.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.etcd.Get(ctx, "/nodectl/election/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("election keys: %v, %v", resp, err)
	}
	lease, err := s.etcd.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	// The successor is alive (the dead-leader probe finds its port open)
	// and answers every redirected call with 503.
	successor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(successor.Close)
	sport := successor.Listener.Addr().(*net.TCPAddr).Port
	succ, _ := json.Marshal(map[string]any{"id": "successor", "hostname": "127.0.0.1", "ip": "127.0.0.1", "port": sport})
	txn, err := s.etcd.Txn(ctx).Then(
		clientv3.OpDelete(string(resp.Kvs[0].Key)),
		clientv3.OpPut(fmt.Sprintf("/nodectl/election/%x", lease.ID), string(succ), clientv3.WithLease(lease.ID)),
	).Commit()
	if err != nil || !txn.Succeeded {
		t.Fatalf("depose: %v", err)
	}
	before := appsKeys(t, s.etcd)

	// Every write is refused, and nothing is committed. The first is
	// refused by the fence ("lost leadership") when nothing has told this
	// master yet, or, when its election watch saw the deposition first
	// (CI on a84e047), by the successor it now redirects to, which answers
	// 503 with no body. (Its own next write fails the same way, and it
	// steps down: later calls are redirected too.)
	var msg struct {
		Message string `json:"message"`
	}
	if code := s.req("POST", "/v2/apps", `{"id":"/fence/b","instances":1,"cmd":"sleep 1000","cpus":0.1,"mem":16}`, &msg); code != 503 || (msg.Message != "" && !strings.Contains(msg.Message, "lost leadership")) {
		t.Errorf("create after deposition: %d %q, want 503 lost leadership (or the successor's 503)", code, msg.Message)
	}
	for _, c := range []struct{ method, path, body string }{
		{"PUT", "/v2/apps/fence/a", `{"instances":3}`},
		{"POST", "/v2/apps/fence/a/restart", ``},
		{"DELETE", "/v2/apps/fence/a", ``},
	} {
		code := s.req(c.method, c.path, c.body, nil)
		if code/100 == 2 {
			t.Errorf("%s %s after deposition: %d, want a refusal", c.method, c.path, code)
		}
	}
	after := appsKeys(t, s.etcd)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("the deposed leader committed: before %v\nafter %v", before, after)
	}
	for k := range after {
		if strings.Contains(k, "fence_b") {
			t.Errorf("deposed leader stored %s", k)
		}
	}
	// The app's task is not killed: a deposed leader neither commits nor
	// acts on what it could not commit.
	if n := s.launches(); n != 1 {
		t.Errorf("launches %d, want 1", n)
	}
}
