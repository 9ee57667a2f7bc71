package apps

import (
	"fmt"
	"strings"
	"testing"
)

// bigGroup is a group of n apps with 0 instances; pad makes each app's
// definition that many bytes larger (in its env).
func bigGroup(id string, n, pad int) string {
	var apps []string
	for i := range n {
		apps = append(apps, fmt.Sprintf(`{"id":"app%03d","cmd":"sleep 300","cpus":0.01,"mem":4,"instances":0,"env":{"PAD":%q}}`, i, strings.Repeat("x", pad)))
	}
	return `{"id":"` + id + `","apps":[` + strings.Join(apps, ",") + `]}`
}

// A group of 100 apps is one deployment when the member takes large
// transactions (Config.MaxTxnOps); with etcd's default of 128 it is
// refused with a 422 naming the limit, nothing stored. A group whose
// writes pass etcd's request size is refused the same way.
func TestGroupLargeFitsTransaction(t *testing.T) {
	h := newHarness(t)
	var out map[string]any
	if code := h.do("POST", "/v2/groups", bigGroup("/big", 100, 0), &out); code != 422 || !strings.Contains(fmt.Sprint(out), "limit of 128") {
		t.Fatalf("100 apps with etcd's default --max-txn-ops: %d %v, want 422 naming the limit", code, out)
	}
	if code := h.do("GET", "/v2/groups/big", "", nil); code != 404 {
		t.Fatalf("refused group stored: GET %d", code)
	}
	h.a.cfg.MaxTxnOps = 2048
	var d map[string]any
	if code := h.do("POST", "/v2/groups", bigGroup("/big", 100, 0), &d); code != 201 {
		t.Fatalf("100 apps: %d %v", code, d)
	}
	var dep Deployment
	if code := h.do("GET", "/v2/deployments/"+d["deploymentId"].(string), "", &dep); code != 200 || len(dep.AffectedApps) != 100 {
		t.Fatalf("deployment: %d, %d apps", code, len(dep.AffectedApps))
	}
	var g struct {
		Apps []map[string]any `json:"apps"`
	}
	if code := h.do("GET", "/v2/groups/big", "", &g); code != 200 || len(g.Apps) != 100 {
		t.Fatalf("GET /v2/groups/big: %d, %d apps", code, len(g.Apps))
	}
	// 500 apps of 1 KiB each (a body within MaxDefinitionBytes): stored
	// with their versions, more bytes than one etcd request takes.
	out = nil
	if code := h.do("POST", "/v2/groups", bigGroup("/huge", 500, 800), &out); code != 422 || !strings.Contains(fmt.Sprint(out), "bytes of etcd writes") {
		t.Fatalf("500 apps of 1 KiB: %d %v, want 422 naming the byte limit", code, out)
	}
}
