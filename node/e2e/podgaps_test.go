package e2e

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestPodsKillOldestFirstAndContainerUser (issue 17): a pod with
// scheduling.killSelection OLDEST_FIRST, grown to 3 instances one at a
// time and scaled down to 1, keeps its youngest instance: the two oldest
// are killed, and they are its terminationHistory, which a restarted
// master still shows. Its containers run as their own "user" (nobody) or,
// naming none, as the pod's (root).
func TestPodsKillOldestFirstAndContainerUser(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	nobody := nobodyUID(t)
	if os.Geteuid() != 0 {
		t.Skip("running a container as root needs root")
	}
	n := newNode(t)
	masterArgs := n.args("master")
	mp := start(t, masterArgs...)
	waitFor(t, 30*time.Second, "master healthy", func() bool { return healthy(n.url()) })
	ag := newNode(t)
	start(t, ag.args("agent", "--join", n.url(), "--token", agentToken(t, n, ag), "--registration_backoff_factor", "50ms",
		"--resources", "cpus:2;mem:2048;disk:1024;ports:[31000-31100]")...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, n.url()); return len(s) == 1 && s[0].Active })
	own, inherited := appMark(7351), appMark(7352)
	pod := func(instances int) string {
		return fmt.Sprintf(`{"id":"/e2e/oldest","user":"root","scaling":{"kind":"fixed","instances":%d},
		  "scheduling":{"killSelection":"OLDEST_FIRST"},
		  "containers":[
		    {"name":"own","user":"nobody","exec":{"command":{"shell":"sleep %s"}},"resources":{"cpus":0.05,"mem":16}},
		    {"name":"inherited","exec":{"command":{"shell":"sleep %s"}},"resources":{"cpus":0.05,"mem":16}}]}`, instances, own, inherited)
	}
	type status struct {
		Status    string `json:"status"`
		Instances []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"instances"`
		TerminationHistory []struct {
			InstanceID string `json:"instanceID"`
			Containers []struct {
				LastKnownState string `json:"lastKnownState"`
			} `json:"containers"`
		} `json:"terminationHistory"`
	}
	get := func() (st status) {
		_ = getJSON(n.url()+"/v2/pods/e2e/oldest::status", &st) // the zero status while the master is away
		return st
	}
	// Grow one instance at a time: each is younger than the ones before.
	var order []string
	for i := 1; i <= 3; i++ {
		method, path, code := "PUT", "/v2/pods/e2e/oldest", 200
		if i == 1 {
			method, path, code = "POST", "/v2/pods", 201
		}
		appMust(t, n, method, path, pod(i), code)
		waitFor(t, 60*time.Second, fmt.Sprintf("%d instances STABLE", i), func() bool {
			st := get()
			return st.Status == "STABLE" && len(st.Instances) == i
		})
		for _, in := range get().Instances {
			if !slices.Contains(order, in.ID) {
				order = append(order, in.ID)
			}
		}
		if len(order) != i {
			t.Fatalf("instances %v after growing to %d", order, i)
		}
	}

	// Each container runs as its user.
	uids := func(cmdline string) []int {
		var out []int
		for _, pid := range pidsOf(cmdline) {
			var st syscall.Stat_t
			if syscall.Stat("/proc/"+strconv.Itoa(pid), &st) == nil {
				out = append(out, int(st.Uid))
			}
		}
		return out
	}
	waitFor(t, 30*time.Second, "3 processes of each container", func() bool {
		return len(uids("sleep "+own)) == 3 && len(uids("sleep "+inherited)) == 3
	})
	for _, u := range uids("sleep " + own) {
		if u != nobody {
			t.Errorf("a container with user nobody runs as uid %d, want %d", u, nobody)
		}
	}
	for _, u := range uids("sleep " + inherited) {
		if u != 0 {
			t.Errorf("a container without a user in a pod of user root runs as uid %d, want 0", u)
		}
	}

	// 3 → 1: the oldest two go.
	appMust(t, n, "PUT", "/v2/pods/e2e/oldest", pod(1), 200)
	var st status
	waitFor(t, 60*time.Second, "one instance left, two terminations recorded", func() bool {
		st = get()
		return st.Status == "STABLE" && len(st.Instances) == 1 && len(st.TerminationHistory) == 2
	})
	if st.Instances[0].ID != order[2] {
		t.Errorf("left instance %s; want the youngest, %s (oldest first: %v)", st.Instances[0].ID, order[2], order)
	}
	var ended []string
	for _, h := range st.TerminationHistory {
		ended = append(ended, h.InstanceID)
		if len(h.Containers) != 2 || h.Containers[0].LastKnownState != "TASK_KILLED" {
			t.Errorf("termination of %s: %+v", h.InstanceID, h.Containers)
		}
	}
	slices.Sort(ended)
	want := slices.Clone(order[:2])
	slices.Sort(want)
	if !slices.Equal(ended, want) {
		t.Errorf("terminationHistory %v, want the two oldest %v", ended, want)
	}
	waitFor(t, 30*time.Second, "1 process of each container", func() bool {
		return len(pidsOf("sleep "+own)) == 1 && len(pidsOf("sleep "+inherited)) == 1
	})

	// The history is the leader's stored state: a restarted master shows it.
	mp.kill(syscall.SIGKILL)
	start(t, masterArgs...)
	waitFor(t, 60*time.Second, "the restarted master shows the pod with its terminationHistory", func() bool {
		st := get()
		var again []string
		for _, h := range st.TerminationHistory {
			again = append(again, h.InstanceID)
		}
		slices.Sort(again)
		return st.Status == "STABLE" && slices.Equal(again, want)
	})

	appMust(t, n, "DELETE", "/v2/pods/e2e/oldest", "", 202)
	waitFor(t, 60*time.Second, "no container left", func() bool { return appMonitors(ag.dir) == 0 })
}
