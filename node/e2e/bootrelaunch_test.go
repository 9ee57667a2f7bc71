package e2e

import (
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Tasks back after a reboot (issue 21 point 4, docs/runtime.md): a master
// and a separate agent run three apps: one labelled
// nodectl.restart-on-boot=true, a resident one labelled too (its
// persistent volume), and an unlabelled one. The master goes away; the
// agent's host "reboots" (the agent is killed -9, every task process and
// container monitor killed, the node's mounts and cgroups removed, and the
// agent comes back with another boot id, the test hook for
// /proc/sys/kernel/random/boot_id). With no master, the agent relaunches
// the labelled tasks (same task ids, new processes; the resident one
// appends to the same volume file) and not the other. When the master
// returns, every app has exactly its instance, no task runs twice, the
// labelled ones keep their ids, and the unlabelled one was replaced as
// after any reboot (Mesos: TASK_LOST, relaunched by its framework).
func TestTasksBackAfterReboot(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	m, mp, ags := stCluster(t, "a")
	ag := ags[0]
	sleeps := map[string]string{"/boot/marked": "sleep " + appMark(7601), "/boot/plain": "sleep " + appMark(7602), "/boot/pv": "sleep " + appMark(7603)}
	const label = `"labels":{"nodectl.restart-on-boot":"true"}`
	appMust(t, m, "POST", "/v2/apps", `{"id":"/boot/marked","cpus":0.1,"mem":32,"cmd":"`+sleeps["/boot/marked"]+`",`+label+`}`, 201)
	appMust(t, m, "POST", "/v2/apps", `{"id":"/boot/plain","cpus":0.1,"mem":32,"cmd":"`+sleeps["/boot/plain"]+`"}`, 201)
	appMust(t, m, "POST", "/v2/apps", `{"id":"/boot/pv","cpus":0.1,"mem":32,"disk":0,"cmd":"echo started >> data/boot && `+sleeps["/boot/pv"]+`",
		"container":{"type":"MESOS","volumes":[{"containerPath":"data","mode":"RW","persistent":{"size":10}}]},
		"upgradeStrategy":{"minimumHealthCapacity":0.5,"maximumOverCapacity":0},`+label+`}`, 201)
	before := map[string]string{}
	oldPids := map[string]int{}
	for id, cmd := range sleeps {
		appWaitRunning(t, m, id, 1, false, 60*time.Second)
		ids := appTaskIDs(m, id)
		if len(ids) != 1 {
			t.Fatalf("%s: tasks %v", id, ids)
		}
		before[id] = ids[0]
		waitFor(t, 30*time.Second, id+" process", func() bool { p := pidsOf(cmd); return len(p) == 1 })
		oldPids[id] = pidsOf(cmd)[0]
	}
	waitFor(t, 30*time.Second, "data/boot with one line in the volume", func() bool {
		files := stVolumeFiles(ag.n.dir, "boot")
		for _, lines := range files {
			return len(files) == 1 && len(lines) == 1
		}
		return false
	})

	// The master goes away; the agent's host reboots.
	mp.kill(syscall.SIGKILL)
	ag.p.kill(syscall.SIGKILL)
	endContainers(t, ag.n.dir) // every monitor and task process, mounts, cgroups: what a reboot takes
	for id, cmd := range sleeps {
		if p := pidsOf(cmd); len(p) != 0 {
			t.Fatalf("%s: processes %v left after the simulated reboot", id, p)
		}
	}
	ag.p = start(t, append(slices.Clone(ag.args), "--boot-id", "e2e-reboot-"+strconv.Itoa(oldPids["/boot/marked"]))...)

	// No master: the labelled tasks come back, the other does not.
	for _, id := range []string{"/boot/marked", "/boot/pv"} {
		waitFor(t, 60*time.Second, id+" relaunched without a master", func() bool {
			p := pidsOf(sleeps[id])
			return len(p) == 1 && p[0] != oldPids[id]
		})
	}
	waitFor(t, 30*time.Second, "slave/tasks_relaunched_after_reboot 2", func() bool {
		return metric(ag.n.agentURL(), "slave/tasks_relaunched_after_reboot") == 2
	})
	if healthy(m.url()) {
		t.Fatal("the master answers: the test's premise is broken")
	}
	waitFor(t, 30*time.Second, "data/boot with two lines in the same volume", func() bool {
		files := stVolumeFiles(ag.n.dir, "boot")
		for _, lines := range files {
			return len(files) == 1 && len(lines) == 2
		}
		return false
	})
	if p := pidsOf(sleeps["/boot/plain"]); len(p) != 0 {
		t.Fatalf("the unlabelled task runs again without a master: %v", p)
	}

	// The master returns: one task each, the labelled ones under their ids.
	start(t, m.args("master", "--task-reservation-timeout", "20s")...)
	waitFor(t, 120*time.Second, "agent re-registered", func() bool { s := slaves(t, m.url()); return len(s) == 1 && s[0].Active })
	for id := range sleeps {
		appWaitRunning(t, m, id, 1, false, 120*time.Second)
	}
	for _, id := range []string{"/boot/marked", "/boot/pv"} {
		if ids := appTaskIDs(m, id); len(ids) != 1 || ids[0] != before[id] {
			t.Errorf("%s: tasks %v, want the relaunched %s", id, ids, before[id])
		}
	}
	waitFor(t, 120*time.Second, "the unlabelled app's replacement", func() bool {
		ids := appTaskIDs(m, "/boot/plain")
		return len(ids) == 1 && ids[0] != before["/boot/plain"] && len(pidsOf(sleeps["/boot/plain"])) == 1
	})
	if s := taskStateByID(m.url(), before["/boot/plain"]); s != "TASK_LOST" && s != "TASK_GONE" {
		t.Errorf("the unlabelled task before the reboot ended %q, want TASK_LOST or TASK_GONE", s)
	}
	for id, cmd := range sleeps {
		if p := pidsOf(cmd); len(p) != 1 {
			t.Errorf("%s: %d processes (%v), want 1", id, len(p), p)
		}
	}
	if files := stVolumeFiles(ag.n.dir, "boot"); len(files) != 1 {
		t.Errorf("volumes holding data/boot: %v, want the one volume", files)
	}
	if a, _ := appGet(m, "/boot/marked"); a.LastTaskFailure != nil {
		t.Errorf("/boot/marked has a task failure: %+v", a.LastTaskFailure)
	}
}
