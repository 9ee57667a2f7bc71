package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestChaos is `make chaos`, not part of `make test`: a bounded, seeded
// chaos loop on three masters (127.0.0.1, own ports) and two agents. Each
// round it kill -9s or stops (SIGSTOP past the 2 s leader lease, then
// SIGCONT) the leader, a standby or an agent, while a writer creates apps
// through whichever master answers and an app keeps two tasks running.
// It checks that no write the API acknowledged is lost and that no task
// ever runs twice. NODECTL_CHAOS sets the rounds (10).
func TestChaos(t *testing.T) {
	rounds := 0
	if s := os.Getenv("NODECTL_CHAOS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("NODECTL_CHAOS=%q: want a positive number", s)
		}
		rounds = n
	}
	if rounds == 0 {
		t.Skip("NODECTL_CHAOS not set: run it with make chaos")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d rounds", seed, rounds)
	rng := rand.New(rand.NewPCG(seed, 0))

	m1 := haStartMaster(t, newNode(t))
	waitFor(t, 30*time.Second, "first master", func() bool { return healthy(m1.n.url()) })
	tok := haToken(t, m1, "master")
	ms := []*haMaster{m1, haStartMaster(t, newNode(t), haJoin(m1, tok)...), haStartMaster(t, newNode(t), haJoin(m1, tok)...)}
	haWaitVoters(t, m1.n.url(), 3)
	agents := haAgents(t, m1, 2)
	waitFor(t, 60*time.Second, "two agents active", func() bool { return len(haAgentIDs(t, haWaitLeader(t, ms).n.url())) == 2 })

	cmdline := fmt.Sprintf("sleep %d", 30000+rng.IntN(9000))
	appBody := fmt.Sprintf(`{"id":"/chaos","cmd":%q,"instances":2,"cpus":0.01,"mem":8}`, cmdline)
	haPut := func(path, body string) int {
		for _, m := range ms {
			if m.alive() {
				if code, _ := haDo("PUT", m.n.url()+path, body); code/100 == 2 {
					return code
				}
			}
		}
		return 0
	}
	waitFor(t, 60*time.Second, "app created", func() bool { return haPut("/v2/apps/chaos?force=true", appBody) != 0 })
	haWaitApp(t, ms, "chaos", 2, 120*time.Second)
	// A resident app: two tasks on persistent volumes, each recording its
	// launches on its volume.
	resCmdline := fmt.Sprintf("sleep %d", 40000+rng.IntN(9000))
	resBody := fmt.Sprintf(`{"id":"/chaos-res","cmd":"echo $MESOS_TASK_ID >> data/launches; exec %s","instances":2,"cpus":0.01,"mem":8,
		"container":{"type":"MESOS","volumes":[{"containerPath":"data","mode":"RW","persistent":{"size":1}}]}}`, resCmdline)
	waitFor(t, 60*time.Second, "resident app created", func() bool { return haPut("/v2/apps/chaos-res?force=true", resBody) != 0 })
	haWaitApp(t, ms, "chaos-res", 2, 120*time.Second)

	// The writer: one app definition (no instances) at a time, through
	// the first master that acknowledges it.
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
			id := fmt.Sprintf("chaos-w%d", i)
			code := haPut("/v2/apps/"+id, fmt.Sprintf(`{"id":"/%s","cmd":"true","instances":0,"cpus":0.01,"mem":1}`, id))
			mu.Lock()
			attempts++
			if code != 0 {
				acked = append(acked, id)
			}
			mu.Unlock()
		}
	})

	counts := map[string]int{}
	started := time.Now()
	for r := range rounds {
		leader := haWaitLeader(t, ms)
		var standby *haMaster
		for _, m := range ms {
			if m != leader {
				standby = m
				break
			}
		}
		agent := rng.IntN(len(agents))
		switch action := rng.IntN(5); action {
		case 0:
			counts["kill -9 leader"]++
			leader.p.kill(syscall.SIGKILL)
			leader.p = start(t, leader.n.args("master", haFlags...)...)
		case 1:
			counts["SIGSTOP leader"]++
			chaosStall(t, leader.p, 5*time.Second)
		case 2:
			counts["kill -9 standby"]++
			standby.p.kill(syscall.SIGKILL)
			standby.p = start(t, standby.n.args("master", haFlags...)...)
		case 3:
			counts["kill -9 agent"]++
			agents[agent].kill(syscall.SIGKILL)
			agents[agent] = start(t, agents[agent].args...)
		case 4:
			counts["SIGSTOP agent"]++
			chaosStall(t, agents[agent], 3*time.Second)
		}
		l := haWaitLeader(t, ms)
		haWaitVoters(t, l.n.url(), 3)
		waitFor(t, 120*time.Second, fmt.Sprintf("round %d: two agents active", r), func() bool {
			l := haLeader(ms)
			return l != nil && len(haAgentIDs(t, l.n.url())) == 2
		})
		haNoTaskTwice(t, cmdline, haWaitApp(t, ms, "chaos", 2, 120*time.Second), 2)
		haNoTaskTwice(t, resCmdline, haWaitApp(t, ms, "chaos-res", 2, 120*time.Second), 2)
		if t.Failed() {
			break
		}
	}
	close(stop)
	writer.Wait()
	took := time.Since(started)

	l := haWaitLeader(t, ms)
	lost := 0
	for _, id := range acked {
		var code int
		waitFor(t, 30*time.Second, "app "+id+" readable", func() bool {
			code, _ = haDo("GET", l.n.url()+"/v2/apps/"+id, "")
			return code == 200 || code == 404
		})
		if code != 200 {
			lost++
			t.Errorf("acknowledged app %s lost: GET %d", id, code)
		}
	}
	// Each resident task stayed on its volume: two volumes, ever.
	var volumes, launches int
	for _, a := range agents {
		files, _ := filepath.Glob(filepath.Join(argAfter(a.args, "--work-dir"), "volumes", "roles", "*", "*", "launches"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			volumes++
			launches += strings.Count(string(b), "\n")
		}
	}
	if volumes != 2 {
		t.Errorf("the resident app's launches were recorded on %d volumes, want its 2", volumes)
	}
	t.Logf("%d rounds in %s (%v): %d writes tried, %d acknowledged, %d acknowledged lost; app and resident tasks never ran twice: %v; resident launches %d on %d volumes",
		rounds, took.Round(time.Millisecond), counts, attempts, len(acked), lost, !t.Failed(), launches, volumes)
}

// chaosStall stops p for d (the stimulus), then lets it run again.
func chaosStall(t *testing.T, p *proc, d time.Duration) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	<-time.After(d)
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
}

// argAfter is the value following flag in args ("" if absent).
func argAfter(args []string, flag string) string {
	for i := range len(args) - 1 {
		if args[i] == flag {
			return args[i+1]
		}
	}
	return ""
}
