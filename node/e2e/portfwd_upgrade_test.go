package e2e

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nftLinesOf is the lines of nftables table "ip <table>" naming one of ids.
func nftLinesOf(table string, ids []string) []string {
	out, _ := exec.Command("nft", "list", "table", "ip", table).Output()
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		for _, id := range ids {
			if strings.Contains(l, `comment "`+id+`"`) {
				lines = append(lines, strings.TrimSpace(l))
				break
			}
		}
	}
	return lines
}

// TestBridgeUpgradeFromPortmap: bridge tasks started by a nodectl that
// forwarded their ports with the portmap plugin (NODECTL_OLD_BIN: a build
// from before runtime/internal/cni/portfwd.go) survive kill -9 and a
// restart on this one: adopted with the plugin's rules, none added to the
// agent's table ip nodectl_hostport, still answering on their host
// ports; a new task gets the agent's own forwards; deleting the app
// removes both and leaves the host as before.
func TestBridgeUpgradeFromPortmap(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	old := os.Getenv("NODECTL_OLD_BIN")
	if old == "" {
		t.Skip("NODECTL_OLD_BIN (a nodectl that used the portmap plugin for the bridge) is not set")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft is not installed (make deps installs nftables)")
	}
	nd := newNode(t)
	dropCNIRulesAtEnd(t, nd.dir)
	args := nd.args("all", "--resources", "cpus:2;mem:2048;disk:1024;ports:"+bridgePorts())
	p := startCmd(t, exec.Command(old, args...), args)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, nd.url()); return len(s) == 1 && s[0].Active })
	loadBridgeImage(t, nd.dir)
	before := snapshotCNI(t, nd.dir, nil)

	appMust(t, nd, "POST", "/v2/apps", fmt.Sprintf(bridgeApp, "/e2e/upgrade", 2), 201)
	appWaitRunning(t, nd, "/e2e/upgrade", 2, false, 60*time.Second)
	tasks := bridgeTasks(nd, "/e2e/upgrade")
	waitAnswering(t, tasks)
	oldIDs := snapshotCNI(t, nd.dir, nil).NetNS
	running := snapshotCNI(t, nd.dir, oldIDs)
	if len(oldIDs) != 2 || len(nftLinesOf("cni_hostport", oldIDs)) < 2*2 {
		t.Fatalf("the old version's tasks %v: portmap rules %q", oldIDs, nftLinesOf("cni_hostport", oldIDs))
	}

	p.kill(syscall.SIGKILL)
	start(t, args...)
	waitFor(t, 60*time.Second, "agent recovered", func() bool { return metric(nd.agentURL(), "slave/recovered") == 1 })
	appWaitRunning(t, nd, "/e2e/upgrade", 2, false, 30*time.Second)
	after := bridgeTasks(nd, "/e2e/upgrade")
	if !slices.Equal(slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(tasks))) {
		t.Fatalf("tasks after the upgrade %v, want %v", slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(tasks)))
	}
	waitAnswering(t, after)
	if got := snapshotCNI(t, nd.dir, oldIDs); !slices.Equal(got.Rules, running.Rules) || !maps.Equal(got.Veths, running.Veths) {
		t.Errorf("the old tasks' networking changed by the upgrade:\nbefore %+v\nafter  %+v", running, got)
	}
	if l := nftLinesOf("nodectl_hostport", oldIDs); len(l) != 0 {
		t.Errorf("forwards added again for adopted tasks: %q", l)
	}

	// A new task: the agent's own forwards.
	appMust(t, nd, "PUT", "/v2/apps/e2e/upgrade", `{"instances": 3}`, 200)
	appWaitRunning(t, nd, "/e2e/upgrade", 3, false, 60*time.Second)
	all := bridgeTasks(nd, "/e2e/upgrade")
	waitAnswering(t, all)
	s := snapshotCNI(t, nd.dir, nil)
	ids := s.NetNS
	var fresh []string
	for _, id := range ids {
		if !slices.Contains(oldIDs, id) {
			fresh = append(fresh, id)
		}
	}
	if len(fresh) != 1 || len(nftLinesOf("nodectl_hostport", fresh)) != 2+2 || len(nftLinesOf("cni_hostport", fresh)) != 0 {
		t.Errorf("the new task %v: forwards %q, portmap rules %q", fresh, nftLinesOf("nodectl_hostport", fresh), nftLinesOf("cni_hostport", fresh))
	}
	veths := snapshotCNI(t, nd.dir, ids).Veths

	appMust(t, nd, "DELETE", "/v2/apps/e2e/upgrade", "", 200)
	waitFor(t, 60*time.Second, "app tasks gone", func() bool { return len(bridgeTasks(nd, "/e2e/upgrade")) == 0 })
	checkCNIGone(t, nd.dir, ids, veths, before.Links, "the old and new tasks' networking removed")
}
