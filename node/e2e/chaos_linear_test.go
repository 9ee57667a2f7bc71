package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// linInput is one operation of the apps API on one app: a PUT of version
// v (set) or a GET (v unused).
type linInput struct {
	app string
	set bool
	v   int
}

// linOutput is what a GET saw: the app's version, 0 for no app (404).
type linOutput struct{ v int }

// linModel is a register per app id: PUT /v2/apps/{id} sets it (the label
// "v"), GET reads it. The history is partitioned by app.
var linModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range h {
			k := op.Input.(linInput).app
			if _, ok := by[k]; !ok {
				keys = append(keys, k)
			}
			by[k] = append(by[k], op)
		}
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() any { return 0 },
	Step: func(state, in, out any) (bool, any) {
		i := in.(linInput)
		if i.set {
			return true, i.v
		}
		return out.(linOutput).v == state.(int), state
	},
	DescribeOperation: func(in, out any) string {
		i := in.(linInput)
		if i.set {
			return fmt.Sprintf("put(%s, %d)", i.app, i.v)
		}
		return fmt.Sprintf("get(%s) → %d", i.app, out.(linOutput).v)
	},
}

// TestChaosLeaderKills (make chaos) kill -9s the leader of three masters
// 20 times while four clients write and read 16 apps through whichever
// master answers (PUT /v2/apps/{id} with a new label "v", GET
// /v2/apps/{id}; the next kill waits for a write to be acknowledged again), and an app keeps two tasks on two agents. The history of
// calls and answers must be linearizable (porcupine, a register per app;
// a write without a 2xx may or may not have happened), no acknowledged
// write is lost, and the app's tasks never run twice.
func TestChaosLeaderKills(t *testing.T) {
	chaosRounds(t)
	const kills, apps, clients, ackedBetweenKills = 20, 16, 4, 8
	m1 := haStartMaster(t, newNode(t))
	waitFor(t, 30*time.Second, "first master", func() bool { return healthy(m1.n.url()) })
	tok := haToken(t, m1, "master")
	ms := []*haMaster{m1, haStartMaster(t, newNode(t), haJoin(m1, tok)...), haStartMaster(t, newNode(t), haJoin(m1, tok)...)}
	haWaitVoters(t, m1.n.url(), 3)
	haAgents(t, m1, 2)
	waitFor(t, 60*time.Second, "two agents active", func() bool { return len(haAgentIDs(t, haWaitLeader(t, ms).n.url())) == 2 })
	cmdline := fmt.Sprintf("sleep %d", 51000+rand.IntN(9000))
	appBody := fmt.Sprintf(`{"id":"/linchaos","cmd":%q,"instances":2,"cpus":0.01,"mem":8}`, cmdline)
	waitFor(t, 60*time.Second, "app created", func() bool {
		code, _ := haDo("PUT", haWaitLeader(t, ms).n.url()+"/v2/apps/linchaos?force=true", appBody)
		return code/100 == 2
	})
	haWaitApp(t, ms, "linchaos", 2, 120*time.Second)

	// One operation through the masters in turn until one answers: a
	// write is done on a 2xx; a read counts only when a master answered
	// 200 or 404. A write no master did is refused (it had no effect, so
	// it is left out of the history) when every master said so: its
	// connection was refused, or it answered with Retry-After (a standby
	// with no leader, a leader still loading, the overload shedder: nothing
	// was done) or with the fence's refusal. Anything else (a timeout, a
	// connection cut, an etcd error) may or may not have committed: unknown.
	var alive sync.Mutex // guards the masters' procs against the restarts
	do := func(method, path, body string) (code int, b []byte, refused bool) {
		alive.Lock()
		var urls []string
		for _, m := range ms {
			if m.alive() {
				urls = append(urls, m.n.url())
			}
		}
		alive.Unlock()
		refused = true
		for _, u := range urls {
			r := haCall(method, u+path, body)
			if (method == "GET" && (r.code == 200 || r.code == 404)) || (method != "GET" && r.code/100 == 2) {
				return r.code, r.body, false
			}
			refused = refused && r.noEffect()
		}
		return 0, nil, refused
	}
	var (
		mu       sync.Mutex
		history  []porcupine.Operation
		acked    = map[string]int64{}            // app → the latest call of an acknowledged write
		writesOf = map[int]porcupine.Operation{} // version → its write (acknowledged or unknown)
		ackN     int                             // acknowledged writes
		refused  int                             // writes every master refused (no effect)
		stop     = make(chan struct{})
		load     sync.WaitGroup
		seq      int
	)
	began := time.Now()
	now := func() int64 { return int64(time.Since(began)) }
	for c := range clients {
		load.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
			pace := time.NewTicker(40 * time.Millisecond) // a bounded operation rate, not a wait
			defer pace.Stop()
			for {
				select {
				case <-stop:
					return
				case <-pace.C:
				}
				id := "lin-" + strconv.Itoa(rng.IntN(apps))
				op := porcupine.Operation{ClientId: c, Call: now()}
				if rng.IntN(2) == 0 {
					mu.Lock()
					seq++
					v := seq
					mu.Unlock()
					op.Input = linInput{app: id, set: true, v: v}
					code, _, none := do("PUT", "/v2/apps/"+id+"?force=true",
						fmt.Sprintf(`{"id":"/%s","cmd":"true","instances":0,"cpus":0.01,"mem":1,"labels":{"v":"%d"}}`, id, v))
					op.Return = now()
					mu.Lock()
					switch {
					case code != 0:
						acked[id] = max(acked[id], op.Call)
						ackN++
					case none:
						refused++
						mu.Unlock()
						continue
					default:
						op.Return = math.MaxInt64 // unknown: may take effect any time after the call
					}
					writesOf[v] = op
					history = append(history, op)
					mu.Unlock()
					continue
				}
				op.Input = linInput{app: id}
				code, b, _ := do("GET", "/v2/apps/"+id, "")
				op.Return = now()
				if code == 0 {
					continue // no answer: no information
				}
				var out linOutput
				if code == 200 {
					var a struct {
						App struct {
							Labels map[string]string `json:"labels"`
						} `json:"app"`
					}
					if err := json.Unmarshal(b, &a); err != nil {
						t.Errorf("GET /v2/apps/%s: %v: %s", id, err, b)
						continue
					}
					out.v, _ = strconv.Atoi(a.App.Labels["v"])
				}
				op.Output = out
				mu.Lock()
				history = append(history, op)
				mu.Unlock()
			}
		})
	}

	acks := func() int { mu.Lock(); defer mu.Unlock(); return ackN }
	twice := false
	for k := range kills {
		leader := haWaitLeader(t, ms)
		alive.Lock()
		leader.p.kill(syscall.SIGKILL)
		leader.p = start(t, leader.n.args("master", haFlags...)...)
		alive.Unlock()
		l := haWaitLeader(t, ms)
		haWaitVoters(t, l.n.url(), 3)
		waitFor(t, 120*time.Second, fmt.Sprintf("kill %d: two agents active", k), func() bool {
			l := haLeader(ms)
			return l != nil && len(haAgentIDs(t, l.n.url())) == 2
		})
		haNoTaskTwice(t, cmdline, haWaitApp(t, ms, "linchaos", 2, 120*time.Second), 2)
		twice = twice || t.Failed()
		// The cluster serves writes again before the next kill: a few
		// acknowledged since it recovered, so that the history is not
		// mostly failovers (each write during one is unknown or refused).
		since := acks()
		waitFor(t, 60*time.Second, fmt.Sprintf("kill %d: writes acknowledged again", k), func() bool { return acks() >= since+ackedBetweenKills })
		if t.Failed() {
			break
		}
	}
	close(stop)
	load.Wait()
	took := time.Since(began)

	// No acknowledged write lost: each app holds a version whose write
	// did not end before an acknowledged write of the app began (a write
	// that overlapped the latest acknowledged one, or came after it, may
	// have won: version numbers are taken at the call, concurrent writes
	// commit in either order). A version no recorded write made (one
	// counted as refused) is a loss too.
	lost := 0
	for id, call := range acked {
		code, b, _ := do("GET", "/v2/apps/"+id, "")
		var a struct {
			App struct {
				Labels map[string]string `json:"labels"`
			} `json:"app"`
		}
		_ = json.Unmarshal(b, &a)
		got, _ := strconv.Atoi(a.App.Labels["v"])
		w, ok := writesOf[got]
		if code != 200 || !ok || w.Input.(linInput).app != id || w.Return < call {
			lost++
			t.Errorf("app %s: GET %d version %q (its write: %+v), but a write acknowledged later began at %v", id, code, a.App.Labels["v"], w, time.Duration(call))
		}
	}
	writes, unknown := 0, 0
	for _, op := range history {
		if op.Input.(linInput).set {
			writes++
			if op.Return == math.MaxInt64 {
				unknown++
			}
		}
	}
	res, info := porcupine.CheckOperationsVerbose(linModel, history, 5*time.Minute)
	if res != porcupine.Ok {
		t.Errorf("the apps API history is not linearizable: %s", res)
		if res == porcupine.Illegal {
			if f, err := writeLinViz(t, info); err == nil {
				t.Logf("porcupine visualization: %s", f)
			}
		}
	}
	t.Logf("%d leader kill -9s in %s: %d operations (%d writes, %d unacknowledged, %d reads; %d more writes refused by every master, left out), linearizable: %s; %d acknowledged writes lost; app tasks never ran twice: %v",
		kills, took.Round(time.Millisecond), len(history), writes, unknown, len(history)-writes, refused, res, lost, !twice)
}

// writeLinViz writes porcupine's visualization of a failed check into a
// file that outlives the test.
func writeLinViz(t *testing.T, info porcupine.LinearizationInfo) (string, error) {
	f, err := os.CreateTemp("", t.Name()+"-*.html")
	if err != nil {
		return "", err
	}
	defer f.Close()
	return f.Name(), porcupine.Visualize(linModel, info, f)
}
