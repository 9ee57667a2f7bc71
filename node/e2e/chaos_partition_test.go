package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"nodectl/node/nodetest"
)

// chaosRounds is NODECTL_CHAOS (set by make chaos); the chaos tests skip
// without it.
func chaosRounds(t *testing.T) int {
	t.Helper()
	s := os.Getenv("NODECTL_CHAOS")
	if s == "" {
		t.Skip("NODECTL_CHAOS not set: run it with make chaos")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("NODECTL_CHAOS=%q: want a positive number", s)
	}
	return n
}

// partTasks is GET /v2/apps/{id}/tasks on the master at url.
func partTasks(url, id string) []appTask {
	var r struct {
		Tasks []appTask `json:"tasks"`
	}
	if code, b := haDo("GET", url+"/v2/apps"+id+"/tasks", ""); code != 200 || json.Unmarshal(b, &r) != nil {
		return nil
	}
	return r.Tasks
}

// TestChaosPartitionAgent (make chaos) cuts an agent off the network (its
// own network namespace, its port on the lab's bridge down) while it runs
// a task of an app with unreachableStrategy {inactiveAfterSeconds: 1}.
// The master pings agents every 1 s and marks one unreachable after 5
// missed pings (--agent-ping-timeout, --max-agent-ping-timeouts, as in
// Mesos).
//   - A partition shorter than that window goes unnoticed: the task keeps
//     its id and its process, and no replacement is launched.
//   - A longer one makes the task TASK_UNREACHABLE and Marathon launches a
//     replacement on the other agent. When the network comes back the
//     agent re-registers (Mesos lets an unreachable agent of a
//     partition-aware framework back in and reports its tasks RUNNING
//     again); the app then has one instance too many and the youngest,
//     the replacement, is killed: the original task and process remain.
func TestChaosPartitionAgent(t *testing.T) {
	chaosRounds(t)
	lab := newNetLab(t)
	m := newNode(t)
	url := "https://" + lab.hostIP() + ":" + strconv.Itoa(m.port)
	start(t, withIP(m.args("master", "--agent-ping-timeout", "1s", "--max-agent-ping-timeouts", "5"), lab.hostIP())...)
	waitFor(t, 30*time.Second, "master healthy", func() bool { return healthy(url) })
	tok, _, _ := strings.Cut(haCLI(t, 0, "token", "create", "--role", "agent", "--work-dir", m.dir, "--master", lab.hostIP()+":"+strconv.Itoa(m.port)), "\n")
	agent := func(host string) netMember {
		a, mem := newNode(t), lab.add(host)
		nodetest.Trust(nodetest.ClientConfigOf(m.dir), a.agentPort)
		startIn(t, mem, withIP(a.args("agent", "--join", url, "--token", strings.TrimSpace(tok), "--registration_backoff_factor", "50ms",
			"--hostname", host, "--resources", "cpus:2;mem:2048;disk:1024;ports:[31000-31100]"), mem.ip)...)
		return mem
	}
	active := func(n int) func() bool {
		return func() bool {
			s := slaves(t, url)
			return len(s) == n && !slices.ContainsFunc(s, func(s slave) bool { return !s.Active })
		}
	}

	// The app's one task lands on part-a, the only agent yet.
	a := agent("part-a")
	waitFor(t, 30*time.Second, "part-a active", active(1))
	cmdline := fmt.Sprintf("sleep %d", 41000+rand.IntN(9000))
	body := fmt.Sprintf(`{"id":"/part/app","cmd":%q,"instances":1,"cpus":0.05,"mem":16,
		"unreachableStrategy":{"inactiveAfterSeconds":1,"expungeAfterSeconds":3600}}`, cmdline)
	if code, b := haDo("POST", url+"/v2/apps", body); code != 201 {
		t.Fatalf("POST /v2/apps: %d %s", code, b)
	}
	var first appTask
	waitFor(t, 60*time.Second, "the app's task running on part-a", func() bool {
		tk := partTasks(url, "/part/app")
		if len(tk) == 1 && tk[0].State == "TASK_RUNNING" && tk[0].Host == "part-a" {
			first = tk[0]
		}
		return first.ID != ""
	})
	pids := waitPids(cmdline, 30*time.Second)
	if len(pids) != 1 {
		t.Fatalf("%q runs as %v, want one process", cmdline, pids)
	}
	agent("part-b")
	waitFor(t, 30*time.Second, "part-a and part-b active", active(2))
	same := func(what string) {
		t.Helper()
		if tk := partTasks(url, "/part/app"); len(tk) != 1 || tk[0].ID != first.ID || tk[0].State != "TASK_RUNNING" {
			t.Errorf("%s: tasks %+v, want only %s running", what, tk, first.ID)
		}
		if p := pidsOf(cmdline); len(p) != 1 || p[0] != pids[0] {
			t.Errorf("%s: %q runs as %v, want the original %d only", what, cmdline, p, pids[0])
		}
	}

	// Shorter than the window (1 s of 5 s).
	unreachableBefore := metric(url, "master/slave_unreachable_completed")
	began := time.Now()
	lab.cut(a)
	<-time.After(time.Second) // the partition (the stimulus)
	lab.heal(a)
	short := time.Since(began)
	waitFor(t, 30*time.Second, "both agents active after the short partition", active(2))
	same("after a short partition")
	if n := metric(url, "master/slave_unreachable_completed"); n != unreachableBefore {
		t.Errorf("a %s partition marked an agent unreachable (master/slave_unreachable_completed %v → %v)", short, unreachableBefore, n)
	}

	// Longer than the window: unreachable, replaced, back, deduplicated.
	began = time.Now()
	lab.cut(a)
	var replacement appTask
	waitFor(t, 60*time.Second, "the task unreachable and a replacement running on part-b", func() bool {
		var orig string
		for _, tk := range partTasks(url, "/part/app") {
			switch {
			case tk.ID == first.ID:
				orig = tk.State
			case tk.Host == "part-b" && tk.State == "TASK_RUNNING":
				replacement = tk
			}
		}
		return orig == "TASK_UNREACHABLE" && replacement.ID != ""
	})
	unreachableAfter := time.Since(began)
	// The replacement reported RUNNING may still be exec'ing its command.
	waitFor(t, 30*time.Second, "the original process and the replacement's", func() bool {
		p := pidsOf(cmdline)
		if len(p) > 2 || (len(p) > 0 && !slices.Contains(p, pids[0])) {
			t.Fatalf("during the partition %q runs as %v, want the original %d and the replacement", cmdline, p, pids[0])
		}
		return len(p) == 2
	})
	lab.heal(a)
	healed := time.Now()
	waitFor(t, 60*time.Second, "both agents active after the long partition", active(2))
	waitFor(t, 60*time.Second, "the original task back and the replacement gone", func() bool {
		tk := partTasks(url, "/part/app")
		return len(tk) == 1 && tk[0].ID == first.ID && tk[0].State == "TASK_RUNNING" && len(pidsOf(cmdline)) == 1
	})
	same("after a long partition")
	t.Logf("short partition %s: task %s kept; long partition: unreachable and replaced by %s after %s, back to the original %s after the heal",
		short.Round(time.Millisecond), first.ID, replacement.ID, unreachableAfter.Round(time.Millisecond), time.Since(healed).Round(time.Millisecond))
}

// TestChaosPartitionLeader (make chaos) runs three masters, each in its
// own network namespace of a lab, and cuts the leader off the others
// while a writer creates apps through whichever master answers: the two
// others elect a new leader, which takes writes; the old one, alone, is
// no leader any more when the network comes back (it lost its etcd
// quorum and its lease), rejoins as a standby, and no acknowledged write
// is lost.
func TestChaosPartitionLeader(t *testing.T) {
	chaosRounds(t)
	lab := newNetLab(t)
	type labMaster struct {
		n   node
		mem netMember
		url string
	}
	var ms []labMaster
	for i := range 3 {
		n, mem := newNode(t), lab.add("m"+strconv.Itoa(i))
		m := labMaster{n: n, mem: mem, url: "https://" + mem.ip + ":" + strconv.Itoa(n.port)}
		var extra []string
		if i > 0 {
			tok, _, _ := strings.Cut(haCLI(t, 0, "token", "create", "--role", "master", "--work-dir", ms[0].n.dir,
				"--master", ms[0].mem.ip+":"+strconv.Itoa(ms[0].n.port)), "\n")
			extra = []string{"--join", ms[0].url, "--token", strings.TrimSpace(tok)}
		}
		startIn(t, mem, withIP(n.args("master", append(slices.Clone(haFlags), extra...)...), mem.ip)...)
		waitFor(t, 60*time.Second, "master "+mem.ip+" healthy", func() bool { return healthy(m.url) })
		ms = append(ms, m)
	}
	haWaitVoters(t, ms[0].url, 3)
	leaders := func(among []labMaster) []labMaster {
		var out []labMaster
		for _, m := range among {
			if metric(m.url, "master/elected") == 1 {
				out = append(out, m)
			}
		}
		return out
	}
	var old labMaster
	waitFor(t, 30*time.Second, "one leader", func() bool {
		l := leaders(ms)
		if len(l) == 1 {
			old = l[0]
		}
		return len(l) == 1
	})
	var others []labMaster
	for _, m := range ms {
		if m.url != old.url {
			others = append(others, m)
		}
	}

	var (
		mu       sync.Mutex
		acked    []string
		attempts int
		stop     = make(chan struct{})
		writer   sync.WaitGroup
	)
	writer.Go(func() {
		pace := time.NewTicker(50 * time.Millisecond) // a bounded write rate, not a wait
		defer pace.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-pace.C:
			}
			id := fmt.Sprintf("part-w%d", i)
			ok := false
			for k := range ms {
				m := ms[(i+k)%len(ms)] // a different first master each time
				if code, _ := haDo("PUT", m.url+"/v2/apps/"+id, fmt.Sprintf(`{"id":"/%s","cmd":"true","instances":0,"cpus":0.01,"mem":1}`, id)); code/100 == 2 {
					ok = true
					break
				}
			}
			mu.Lock()
			attempts++
			if ok {
				acked = append(acked, id)
			}
			mu.Unlock()
		}
	})
	ackedNow := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitFor(t, 60*time.Second, "writes acknowledged before the partition", func() bool { return ackedNow() >= 10 })

	began := time.Now()
	lab.cut(old.mem)
	var fresh labMaster
	waitFor(t, 60*time.Second, "a new leader among the two others", func() bool {
		l := leaders(others)
		if len(l) == 1 {
			fresh = l[0]
		}
		return len(l) == 1
	})
	failover := time.Since(began)
	before := ackedNow()
	waitFor(t, 60*time.Second, "writes acknowledged by the new leader", func() bool { return ackedNow() >= before+10 })
	lab.heal(old.mem)
	waitFor(t, 60*time.Second, "the old leader back as a standby, one leader", func() bool {
		return healthy(old.url) && metric(old.url, "master/elected") == 0 && len(leaders(ms)) == 1
	})
	haWaitVoters(t, fresh.url, 3)
	close(stop)
	writer.Wait()

	lost := 0
	l := leaders(ms)
	if len(l) != 1 {
		t.Fatalf("%d leaders after the heal", len(l))
	}
	for _, id := range acked {
		var code int
		waitFor(t, 30*time.Second, "app "+id+" readable", func() bool {
			code, _ = haDo("GET", l[0].url+"/v2/apps/"+id, "")
			return code == 200 || code == 404
		})
		if code != 200 {
			lost++
			t.Errorf("acknowledged app %s lost: GET %d", id, code)
		}
	}
	t.Logf("leader %s cut off: %s elected after %s; %d writes tried, %d acknowledged, %d acknowledged lost; the old leader rejoined as a standby",
		old.mem.ip, fresh.mem.ip, failover.Round(time.Millisecond), attempts, len(acked), lost)
}
