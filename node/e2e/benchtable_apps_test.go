package e2e

import (
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"nodectl/cluster/api"
)

// idleSettle is how long both daemons sit idle before their memory is read.
const idleSettle = 2 * time.Second

// longIdle is the idle time of the steady-state reading: past the Go
// runtime's forced collection (every 2 minutes), and long enough for every
// periodic loop of the node (quorum checks, pings, port scans, etcd's
// lease keep-alives) to have run many times. The 2 s reading comes right
// after start-up has returned its memory and its executable's pages
// (node/up.go, startupSettle); what the idle node touches again since is
// its steady footprint.
const longIdle = 125 * time.Second

// benchColdIdle: cold start to /health of `nodectl up --role=all` on a
// fresh work dir against dockerd to /_ping on a fresh data root, and the
// idle RSS of each (nodectl once its agent is registered; dockerd and its
// containerd), interleaved.
func benchColdIdle(t *testing.T, tab *benchTable, rounds int, peer *swarmPeer, peerErr error) {
	var cold, idle, dCold, dIdle []float64
	for i := range rounds {
		n := newNode(t)
		c, r := coldIdle(t, n, n.args("all", "--quiet"))
		cold, idle = append(cold, c), append(idle, r)

		if peerErr != nil {
			continue
		}
		t0 := time.Now()
		d, err := peer.start(fmt.Sprintf("cold%d", i))
		if err != nil {
			peerErr = err
			continue
		}
		if !pollUntil(60*time.Second, d.ping) {
			peerErr = fmt.Errorf("dockerd did not answer /_ping in 60 s: %s", d.logTail())
			d.stop()
			continue
		}
		dCold = append(dCold, msSince(t0))
		time.Sleep(idleSettle) // as for nodectl
		dIdle = append(dIdle, d.rss())
		d.stop()
	}
	tab.add("cold start to /health, fresh work dir (`nodectl up --role=all`)", "ms", cold, "dockerd to `/_ping`, fresh data root", dCold, peerErr, absGoal(300, "≤ 300 ms"), "")
	tab.add("idle RSS, fresh work dir (agent registered, 2 s idle)", "MiB", idle, "dockerd + containerd RSS, fresh data root (no swarm)", dIdle, peerErr, absGoal(40, "≤ 40 MiB"), "")

	// The steady state, once: both idle side by side for longIdle.
	n := newNode(t)
	p := start(t, n.args("all", "--quiet")...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, n.url()); return len(s) == 1 && s[0].Active })
	var d *dockerd
	if peerErr == nil {
		var err error
		if d, err = peer.start("longidle"); err != nil {
			peerErr = err
		} else if !pollUntil(60*time.Second, d.ping) {
			peerErr = fmt.Errorf("dockerd did not answer /_ping in 60 s: %s", d.logTail())
			d.stop()
			d = nil
		}
	}
	// Both read every second while they idle (dockerd beside the node).
	var dLong []float64
	long, peak := steadyRSS(p, func() {
		if d != nil {
			dLong = []float64{d.rss()}
		}
	})
	if d != nil {
		d.stop()
	}
	tab.add(fmt.Sprintf("idle RSS, fresh work dir, %s idle (the steady state)", longIdle), "MiB", []float64{long}, "dockerd + containerd RSS, fresh data root (no swarm)", dLong, peerErr,
		absGoal(40, "≤ 40 MiB"), fmt.Sprintf("the same reading as the row above, once, after the node's periodic work has run many times; its highest reading on the way %s MiB", num(peak)))
}

// steadyRSS reads node p's RSS (MiB) once a second for longIdle, calling
// also at each reading, then stops p: the last reading is the figure, the
// highest on the way goes in a note.
func steadyRSS(p *proc, also func()) (last, peak float64) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for until := time.Now().Add(longIdle); ; {
		now := <-tick.C
		last = rssOfPids(p.cmd.Process.Pid)
		peak = max(peak, last)
		also()
		if now.After(until) {
			break
		}
	}
	p.kill(syscall.SIGTERM)
	return last, peak
}

// coldIdle starts node n with args: it returns the milliseconds from exec
// to /health and, once its agent is active and it has idled idleSettle,
// its RSS in MiB; then it stops the node.
func coldIdle(t *testing.T, n node, args []string) (cold, rss float64) {
	t.Helper()
	t0 := time.Now()
	p := start(t, args...)
	if !pollUntil(30*time.Second, func() bool { return healthy(n.url()) }) {
		t.Fatalf("node not healthy in 30 s:\n%s", p.out)
	}
	cold = msSince(t0)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, n.url()); return len(s) == 1 && s[0].Active })
	time.Sleep(idleSettle) // idle is time passing with nothing to do: the measurement
	rss = rssOfPids(p.cmd.Process.Pid)
	p.kill(syscall.SIGTERM)
	return cold, rss
}

// benchApps: app create → 1 task running and scale 1 → 50 on one agent,
// Marathon's /v2/apps against a Swarm service of the same busybox image,
// interleaved; on the heavy rounds also the extra PSS per running task
// ((PSS at 50 − PSS at 1) / 49 of the supervising processes: the node and
// its monitors; dockerd, containerd and the shims).
func benchApps(t *testing.T, tab *benchTable, rounds, heavy int, sw *dockerd, swErr error) {
	n := newNode(t)
	t.Cleanup(func() { unmountUnder(n.dir) })
	start(t, n.args("all", "--quiet", "--resources", "cpus:16;mem:16384;disk:4096;ports:[31000-31999]")...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, n.url()); return len(s) == 1 && s[0].Active })
	archive, err := benchImageArchive(t, "bench/busybox:1")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "image", "load", "--work-dir", n.dir, archive).CombinedOutput(); err != nil {
		t.Fatalf("image load: %v\n%s", err, out)
	}
	var create, scale, pss, sCreate, sScale, sPSS []float64
	for i := range rounds {
		id := fmt.Sprintf("/bench/a%d", i)
		t0 := time.Now()
		appMust(t, n, "POST", "/v2/apps", `{"id": "`+id+`", "cmd": "sleep 3600", "instances": 1, "cpus": 0.01, "mem": 32,
			"container": {"type": "MESOS", "docker": {"image": "bench/busybox:1"}}}`, 201)
		running := func(want int) func() bool {
			return func() bool { a, ok := appGet(n, id); return ok && a.TasksRunning == want }
		}
		if !pollUntil(60*time.Second, running(1)) {
			t.Fatalf("%s: no task running in 60 s", id)
		}
		create = append(create, msSince(t0))
		if i < heavy {
			time.Sleep(time.Second) // settle before the memory reading (same for Swarm)
			before := pssOf(n.dir)
			t0 = time.Now()
			appMust(t, n, "PUT", "/v2/apps"+id, `{"instances": 50}`, 200, 201)
			if !pollUntil(120*time.Second, running(50)) {
				a, _ := appGet(n, id)
				t.Fatalf("%s: %d of 50 running after 120 s", id, a.TasksRunning)
			}
			scale = append(scale, msSince(t0))
			time.Sleep(time.Second) // settle
			pss = append(pss, (pssOf(n.dir)-before)/49/1024)
		}
		appMust(t, n, "DELETE", "/v2/apps"+id, "", 200, 202)
		waitFor(t, 120*time.Second, id+" gone with its containers", func() bool {
			_, ok := appGet(n, id)
			return !ok && appMonitors(n.dir) == 0
		})

		if swErr != nil {
			continue
		}
		name := fmt.Sprintf("a%d", i)
		t0 = time.Now()
		sid, err := sw.serviceCreate(name, 1)
		if err != nil {
			swErr = err
			continue
		}
		srunning := func(want int) func() bool { return func() bool { return len(sw.serviceRunning(name)) == want } }
		if !pollUntil(120*time.Second, srunning(1)) {
			swErr = fmt.Errorf("service %s: no task running in 120 s", name)
			continue
		}
		sCreate = append(sCreate, msSince(t0))
		if i < heavy {
			time.Sleep(time.Second) // settle, as for nodectl
			before := pssOf(sw.dir)
			t0 = time.Now()
			if err := sw.serviceScale(sid, 50); err != nil {
				swErr = err
				continue
			}
			if !pollUntil(300*time.Second, srunning(50)) {
				swErr = fmt.Errorf("service %s: %d of 50 running after 300 s", name, len(sw.serviceRunning(name)))
				continue
			}
			sScale = append(sScale, msSince(t0))
			time.Sleep(time.Second) // settle
			sPSS = append(sPSS, (pssOf(sw.dir)-before)/49/1024)
		}
		if err := sw.serviceRemove(sid); err != nil {
			swErr = err
		}
	}
	const swarm = "Docker Swarm (service of the same image)"
	tab.add("app create → 1 task running (POST /v2/apps, busybox image)", "ms", create, swarm, sCreate, swErr, ratioGoal(0.2, "≤ 0.2× Swarm"), "")
	tab.add("scale 1 → 50 on one agent, all running", "ms", scale, swarm, sScale, swErr, absGoal(1000, "≤ 1,000 ms"), "")
	tab.add("extra PSS per running task (node + monitors; dockerd + containerd + shims)", "MiB", pss, swarm, sPSS, swErr, absGoal(0.5, "≤ 0.5 MiB"), "")
}

// benchKill9: kill -9 of the daemon with 10 tasks, restart, until all 10
// run again: nodectl (--role=all, 10 checkpointed tasks; same PIDs
// counted) against dockerd with a 10-replica service (same containers
// counted), interleaved.
func benchKill9(t *testing.T, tab *benchTable, rounds int, sw *dockerd, swErr error) {
	const count = 10
	n := newNode(t)
	args := n.args("all", "--quiet", "--resources", "cpus:16;mem:16384;disk:1024;ports:[31000-31100]")
	p := start(t, args...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, n.url()); return len(s) == 1 && s[0].Active })
	res, err := api.ParseResources("cpus:0.01;mem:8")
	if err != nil {
		t.Fatal(err)
	}
	base := 60000 + int(time.Now().UnixNano()%1000)*100
	tasks := make([]api.TaskInfo, count)
	for i := range tasks {
		tasks[i] = api.TaskInfo{Name: fmt.Sprintf("k%d", i), TaskID: api.ID{Value: fmt.Sprintf("k%d", i)}, Resources: res,
			Command: &api.CommandInfo{Shell: new(bool), Value: "sleep", Arguments: []string{"sleep", strconv.Itoa(base + i)}}}
	}
	launchAll(t, n.url(), tasks, 2*time.Minute)
	pidOf := func() map[string]int {
		all, out := cmdlinePids(), map[string]int{}
		for i := range tasks {
			cl := "sleep " + strconv.Itoa(base+i)
			if len(all[cl]) == 1 {
				out[cl] = all[cl][0]
			}
		}
		return out
	}
	want := pidOf()
	var sid, name string
	var wantC []string
	if swErr == nil {
		name = "k10"
		if sid, swErr = sw.serviceCreate(name, count); swErr == nil && !pollUntil(300*time.Second, func() bool { return len(sw.serviceRunning(name)) == count }) {
			swErr = fmt.Errorf("service %s: %d of %d running after 300 s", name, len(sw.serviceRunning(name)), count)
		}
		wantC = sw.serviceRunning(name)
	}
	agent := n.agentURL()
	var ours, theirs []float64
	kept, sKept := 0, 0
	for range rounds {
		p.kill(syscall.SIGKILL)
		t0 := time.Now()
		p = start(t, args...)
		if !pollUntil(120*time.Second, func() bool {
			return healthy(n.url()) && metric(agent, "slave/registered") == 1 &&
				metric(agent, "slave/tasks_running") == count && runningTasks(n.url()) == count
		}) {
			t.Fatalf("not all %d tasks running 120 s after the restart:\n%s", count, p.out)
		}
		ours = append(ours, msSince(t0))
		now := pidOf()
		for cl, pid := range want {
			if now[cl] == pid {
				kept++
			}
		}
		want = now

		if swErr != nil {
			continue
		}
		sw.kill9()
		t0 = time.Now()
		if err := sw.launch(); err != nil {
			swErr = err
			continue
		}
		if !pollUntil(300*time.Second, func() bool { return sw.exited() || (sw.ping() && len(sw.serviceRunning(name)) == count) }) || sw.exited() {
			swErr = fmt.Errorf("service %s: %d of %d running 300 s after dockerd's restart", name, len(sw.serviceRunning(name)), count)
			if sw.exited() {
				swErr = fmt.Errorf("dockerd exited after its restart (kill -9 also ends its containerd, Pdeathsig): %s", sw.lastLine())
			}
			continue
		}
		theirs = append(theirs, msSince(t0))
		nowC := sw.serviceRunning(name)
		for _, c := range nowC {
			if slices.Contains(wantC, c) {
				sKept++
			}
		}
		wantC = nowC
	}
	if swErr == nil && sid != "" {
		if err := sw.serviceRemove(sid); err != nil {
			t.Logf("remove service %s: %v", name, err)
		}
	}
	note := fmt.Sprintf("ours kept %d/%d processes", kept, count*len(ours))
	if len(theirs) > 0 {
		note += fmt.Sprintf("; Swarm kept %d/%d containers", sKept, count*len(theirs))
	}
	tab.add(fmt.Sprintf("kill -9 of the daemon with %d tasks → all running again", count), "ms", ours, "Docker Swarm, kill -9 of dockerd (10 replicas)", theirs, swErr, absGoal(500, "≤ 500 ms"), note)
}
