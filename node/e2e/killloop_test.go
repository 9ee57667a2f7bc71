package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"nodectl/cluster/api"
)

// loopTask is a task of the kill loop whose `execute --detach` returned.
type loopTask struct {
	id      string
	long    bool   // a `sleep` that must outlive the loop; else it finishes
	cmdline string // the long task's process, unique on the host
	pid     int    // the long task's process, first seen after its launch
	// tornDown: execute saw the short task finish and tore its framework
	// down; the master forgets completed frameworks when it restarts.
	tornDown bool
}

// launch is one `nodectl execute --detach` of the loop.
type launch struct {
	long    bool
	cmdline string
	out     string
	code    int
}

var submittedRE = regexp.MustCompile(`Submitted task '([^']+)'`)

// TestKill9Loop kill -9s a --role=all node over and over, sometimes while
// tasks are being launched and sometimes at rest, and checks that no task
// whose launch returned is lost, duplicated or restarted, and that every
// status update is delivered. NODECTL_KILL_LOOP sets the iterations (20).
func TestKill9Loop(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	iterations := 20
	if s := os.Getenv("NODECTL_KILL_LOOP"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("NODECTL_KILL_LOOP=%q: want a positive number", s)
		}
		iterations = n
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d iterations", seed, iterations)
	rng := rand.New(rand.NewPCG(seed, 0))
	// Unique `sleep` durations well away from other tests' sleepers.
	base := 20000 + rng.IntN(400)*100

	n := newNode(t)
	args := n.args("all", "--resources", "cpus:16;mem:16384;disk:1024;ports:[31000-31100]")
	p := start(t, args...)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, n.url()); return len(s) == 1 && s[0].Active })

	began := time.Now()
	var (
		tasks    []*loopTask
		mu       sync.Mutex // guards returned
		returned []*launch  // launches whose execute has returned, not yet looked at
		all      sync.WaitGroup
	)
	seq, cut, duringLaunch := 0, 0, 0
	// collect tracks the launches that returned a task id and checks that
	// no long task was lost, duplicated or restarted so far.
	collect := func(it int) {
		mu.Lock()
		done := returned
		returned = nil
		mu.Unlock()
		for _, l := range done {
			m := submittedRE.FindStringSubmatch(l.out)
			switch {
			case l.code == -1 && m != nil:
				// Killed by execute's timeout: the task was submitted and
				// its framework re-subscribed, but RUNNING never came.
				t.Errorf("execute of %s hung: task %s submitted but never reported RUNNING (master: %q); output:\n%s",
					l.cmdline, m[1], taskStateByID(n.url(), m[1]), l.out)
				continue
			case l.code != 0:
				cut++
				t.Logf("iteration %d: a launch cut by a kill: exit %d: %s", it, l.code, lastLine(l.out))
				continue
			case m == nil:
				t.Errorf("iteration %d: execute exited 0 without submitting a task:\n%s", it, l.out)
				continue
			}
			lt := &loopTask{id: m[1], long: l.long, cmdline: l.cmdline,
				tornDown: strings.Contains(l.out, "TASK_FINISHED for task '"+m[1]+"'")}
			if lt.long {
				pids := waitPids(lt.cmdline, 30*time.Second)
				if len(pids) != 1 {
					t.Errorf("iteration %d: task %s (%s) has processes %v right after its launch, want one", it, lt.id, lt.cmdline, pids)
					continue
				}
				lt.pid = pids[0]
			}
			tasks = append(tasks, lt)
		}
		for _, lt := range tasks {
			if !lt.long || lt.pid == 0 {
				continue
			}
			if pids := pidsOf(lt.cmdline); len(pids) != 1 || pids[0] != lt.pid {
				t.Errorf("iteration %d: task %s (%s) has processes %v, want the original %d only", it, lt.id, lt.cmdline, pids, lt.pid)
				lt.pid = 0 // reported once
			}
		}
	}
	for it := range iterations {
		// Two long tasks and one short one a round, launched in parallel.
		// A launch may outlive its round (a kill cut it and it carries on
		// after the restart), so launches report back through returned.
		var batch sync.WaitGroup
		for k := range 3 {
			seq++
			l := &launch{long: k < 2}
			if l.long {
				l.cmdline = fmt.Sprintf("sleep %d", base+seq)
			} else {
				l.cmdline = fmt.Sprintf("sleep 1.%03d", seq%1000) // finishes within the loop
			}
			all.Add(1)
			batch.Go(func() {
				defer all.Done()
				cmd := strings.Fields(l.cmdline)
				if !l.long {
					cmd = []string{"sh", "-c", l.cmdline + "; exit 0"}
				}
				a := append([]string{"--name", fmt.Sprintf("loop%d-%d", it, k), "--checkpoint", "--detach",
					"--resources", "cpus:0.01;mem:4", "--"}, cmd...)
				l.out, l.code = execute(t, n.port, a...)
				mu.Lock()
				returned = append(returned, l)
				mu.Unlock()
			})
		}
		launched := make(chan struct{})
		go func() { batch.Wait(); close(launched) }()

		// Kill right during the launches, or once they are done.
		if rng.IntN(2) == 0 {
			duringLaunch++
			select {
			case <-launched:
			case <-time.After(time.Duration(rng.IntN(1200)) * time.Millisecond): // the random kill point
			}
		} else {
			select {
			case <-launched:
			case <-time.After(15 * time.Second): // a launch hung (reported by collect)
			}
			// A random moment at rest (a kill point, not a wait for an event).
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		}
		p.kill(syscall.SIGKILL)
		p = start(t, args...)
		waitFor(t, 30*time.Second, "node healthy after restart", func() bool { return healthy(n.url()) })
		// The launches this kill cut re-subscribe and carry on.
		select {
		case <-launched:
		case <-time.After(15 * time.Second): // a launch hung (reported by collect)
		}
		collect(it)
	}
	all.Wait() // each execute is bounded by its 60s timeout
	collect(iterations)
	waitFor(t, 30*time.Second, "agent active", func() bool { s := slaves(t, n.url()); return len(s) == 1 && s[0].Active })
	loopTime := time.Since(began)

	// Every tracked task ends up where it should: long ones RUNNING, short
	// ones FINISHED, each exactly once in /state, none ever LOST or FAILED.
	want, torn := map[string]string{}, map[string]bool{}
	for _, lt := range tasks {
		torn[lt.id] = lt.tornDown
		want[lt.id] = map[bool]string{true: "TASK_RUNNING", false: "TASK_FINISHED"}[lt.long]
	}
	var st loopState
	deadline := time.Now().Add(60 * time.Second)
	for {
		st = loopStateOf(n.url())
		if st.err == nil && len(st.mismatches(want, torn)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("tasks not in their expected state after 60s (%v): %s", st.err, strings.Join(st.mismatches(want, torn), "; "))
			break
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	for id, c := range st.count {
		if c != 1 {
			t.Errorf("task %s appears %d times in the master's /state", id, c)
		}
	}
	for _, lt := range tasks {
		for _, s := range st.history[lt.id] {
			switch s {
			case "TASK_LOST", "TASK_FAILED", "TASK_DROPPED", "TASK_GONE", "TASK_ERROR", "TASK_KILLED", "TASK_UNREACHABLE":
				t.Errorf("task %s went through %s: statuses %v", lt.id, s, st.history[lt.id])
			}
		}
		if lt.long && lt.pid != 0 {
			if pids := pidsOf(lt.cmdline); len(pids) != 1 || pids[0] != lt.pid {
				t.Errorf("task %s (%s) has processes %v at the end, want the original %d only", lt.id, lt.cmdline, pids, lt.pid)
			}
		}
	}

	// Every status update is delivered: the detached frameworks come back
	// (as `execute` would) and acknowledge what the agent still holds.
	var fws []string
	for _, lt := range tasks {
		if fw := st.framework[lt.id]; fw != "" && !slices.Contains(fws, fw) {
			fws = append(fws, fw)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var ackers sync.WaitGroup
	t.Cleanup(func() { cancel(); ackers.Wait() })
	agent := n.agentURL()
	for _, fw := range fws {
		ackers.Go(func() {
			if err := acknowledgeAll(ctx, n.url(), fw); err != nil && ctx.Err() == nil {
				t.Errorf("framework %s: %v", fw, err)
			}
		})
	}
	// The agent re-sends an unacknowledged update 10s after the last try.
	waitFor(t, 60*time.Second, "slave/status_updates_unacknowledged back to 0", func() bool {
		return metric(agent, "slave/status_updates_unacknowledged") == 0
	})
	cancel()
	ackers.Wait()

	long := 0
	for _, lt := range tasks {
		if lt.long {
			long++
		}
	}
	t.Logf("%d kill -9s (%d during launches) in %s: %d tasks tracked (%d long, %d short), %d launches cut by a kill",
		iterations, duringLaunch, loopTime.Round(time.Millisecond), len(tasks), long, len(tasks)-long, cut)
}

// waitPids polls for cmdline's processes until there is at least one and
// returns them (none at the deadline).
func waitPids(cmdline string, timeout time.Duration) []int {
	deadline := time.Now().Add(timeout)
	for {
		if pids := pidsOf(cmdline); len(pids) > 0 || time.Now().After(deadline) {
			return pids
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// loopState is the master's view of the tasks, by task id.
type loopState struct {
	err       error
	state     map[string]string
	count     map[string]int
	history   map[string][]string
	framework map[string]string
}

func loopStateOf(url string) loopState {
	type taskJSON struct {
		ID          string `json:"id"`
		State       string `json:"state"`
		FrameworkID string `json:"framework_id"`
		Statuses    []struct {
			State string `json:"state"`
		} `json:"statuses"`
	}
	type fwJSON struct {
		Tasks          []taskJSON `json:"tasks"`
		CompletedTasks []taskJSON `json:"completed_tasks"`
	}
	var resp struct {
		Frameworks          []fwJSON `json:"frameworks"`
		CompletedFrameworks []fwJSON `json:"completed_frameworks"`
	}
	st := loopState{state: map[string]string{}, count: map[string]int{}, history: map[string][]string{}, framework: map[string]string{}}
	if st.err = getJSON(url+"/state", &resp); st.err != nil {
		return st
	}
	for _, fw := range append(resp.Frameworks, resp.CompletedFrameworks...) {
		for _, tk := range append(fw.Tasks, fw.CompletedTasks...) {
			st.count[tk.ID]++
			st.state[tk.ID] = tk.State
			st.framework[tk.ID] = tk.FrameworkID
			for _, s := range tk.Statuses {
				st.history[tk.ID] = append(st.history[tk.ID], s.State)
			}
		}
	}
	return st
}

// mismatches lists the tasks not in the state want gives them.
// A torn-down task may be gone.
func (st loopState) mismatches(want map[string]string, torn map[string]bool) []string {
	var out []string
	for id, w := range want {
		if got := st.state[id]; got != w && (got != "" || !torn[id]) {
			out = append(out, fmt.Sprintf("%s is %q, want %s", id, got, w))
		}
	}
	sort.Strings(out)
	return out
}

// acknowledgeAll re-subscribes as framework fw (a detached `nodectl
// execute`) and acknowledges every status update it receives until ctx
// ends.
func acknowledgeAll(ctx context.Context, master, fw string) error {
	var fws struct {
		Frameworks []struct {
			ID              string      `json:"id"`
			Name            string      `json:"name"`
			User            string      `json:"user"`
			Roles           []string    `json:"roles"`
			Capabilities    []string    `json:"capabilities"`
			Checkpoint      bool        `json:"checkpoint"`
			FailoverTimeout float64     `json:"failover_timeout"`
			Labels          []api.Label `json:"labels"`
		} `json:"frameworks"`
	}
	if err := getJSON(master+"/frameworks?framework_id="+fw, &fws); err != nil {
		return err
	}
	if len(fws.Frameworks) != 1 {
		return nil // torn down: the master acknowledges its updates itself
	}
	f := fws.Frameworks[0]
	info := api.FrameworkInfo{ID: &api.ID{Value: f.ID}, User: f.User, Name: f.Name, Checkpoint: f.Checkpoint,
		FailoverTimeout: f.FailoverTimeout, Labels: &api.Labels{Labels: f.Labels}}
	for _, c := range f.Capabilities {
		info.Capabilities = append(info.Capabilities, api.Capability{Type: c})
	}
	if len(f.Roles) > 1 || (len(f.Roles) == 1 && f.Roles[0] != "*") {
		info.Roles = f.Roles
	}
	c, err := subscribe(ctx, master, info)
	if err != nil {
		return err
	}
	defer c.close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-c.events:
			if !ok {
				return fmt.Errorf("the master closed the subscription")
			}
			if ev.Type == api.EventUpdate && ev.Update != nil {
				if err := c.acknowledge(ev.Update.Status); err != nil {
					return err
				}
			}
		}
	}
}

// taskStateByID is the master's state of the task with this id, or why
// /state could not say (a failed read is not "no record").
func taskStateByID(url, id string) string {
	st := loopStateOf(url)
	if st.err != nil {
		return "(no /state: " + st.err.Error() + ")"
	}
	return st.state[id]
}
