package alloc

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the scenarios")

// TestTranscripts runs every testdata/*.scenario script and compares its
// transcript with the .golden file beside it. Regenerate them with
// go test ./cluster/internal/alloc -update, then read the diff.
//
// A scenario is one event per line; the transcript echoes each line after
// "> " and prints what it did below it. Commands:
//
//	agent ID RESOURCES [host=H] [nocheckpoint]   AddAgent
//	update-agent ID RESOURCES                    UpdateAgent
//	remove-agent | deactivate-agent | activate-agent ID
//	framework ID [roles=R,R] [checkpoint] [gpu] [task=RESOURCES] [suppressed=R,R]
//	remove-framework | deactivate | activate ID
//	suppress | revive ID [ROLE...]
//	weights ROLE=W...                            UpdateWeights
//	advance DURATION                             move the clock on
//	allocate                                     one round; offers are numbered #1, #2...
//	accept #N RESOURCES [refuse=D]               launch RESOURCES, decline the rest (refuse 5s)
//	decline #N [refuse=D]                        decline the whole offer (refuse 5s)
//	rescind #N                                   take the offer back, no filter
//	finish #N                                    the tasks launched from offer N end
//	drive [rounds=N] [refuse=D]                  rounds in which every offered framework launches
//	                                             one task (its task=) if it fits and declines the
//	                                             rest (refuse 0s), until a round launches nothing
//	shares                                       print the DRF shares
//
// Offers and shares are printed after every round; an event that fails
// prints "! error".
func TestTranscripts(t *testing.T) {
	scenarios, err := filepath.Glob("testdata/*.scenario")
	if err != nil {
		t.Fatal(err)
	}
	if len(scenarios) == 0 {
		t.Fatal("no testdata/*.scenario files")
	}
	for _, path := range scenarios {
		name := strings.TrimSuffix(filepath.Base(path), ".scenario")
		t.Run(name, func(t *testing.T) {
			script, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := runScenario(t, string(script))
			golden := strings.TrimSuffix(path, ".scenario") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("transcript differs from %s (run with -update and read the diff):\n%s", golden, lineDiff(string(want), got))
			}
		})
	}
}

// lineDiff shows the first differing lines, enough to see what changed.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\nwant: %s\ngot:  %s", i+1, wl, gl)
		}
	}
	return ""
}

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// scenario is the state of one script run: the allocator plus what the
// master and the frameworks would remember.
type scenario struct {
	t        testing.TB
	a        *Allocator
	now      time.Time
	out      strings.Builder
	offers   map[int]Offer
	launched map[int]api.Resources // offer number → resources launched from it
	nextID   int
	tasks    map[string]api.Resources // framework id → task shape for drive
	counts   map[string]int           // framework id → tasks launched
}

func runScenario(t testing.TB, script string) string {
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := &scenario{t: t, a: a, now: epoch, offers: map[int]Offer{}, launched: map[int]api.Resources{},
		nextID: 1, tasks: map[string]api.Resources{}, counts: map[string]int{}}
	sc := bufio.NewScanner(strings.NewReader(script))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			s.out.WriteString("\n")
			continue
		case strings.HasPrefix(line, "#"):
			s.out.WriteString(line + "\n")
			continue
		}
		s.printf("> %s\n", line)
		if err := s.do(strings.Fields(line)); err != nil {
			s.printf("  ! %v\n", err)
		}
	}
	return s.out.String()
}

func (s *scenario) printf(format string, args ...any) { fmt.Fprintf(&s.out, format, args...) }

func (s *scenario) res(text string) api.Resources {
	rs, err := api.ParseResources(text)
	if err != nil {
		s.t.Fatalf("scenario resources %q: %v", text, err)
	}
	return rs
}

func (s *scenario) dur(text string) time.Duration {
	d, err := time.ParseDuration(text)
	if err != nil {
		s.t.Fatalf("scenario duration %q: %v", text, err)
	}
	return d
}

func (s *scenario) offer(ref string) Offer {
	n, err := strconv.Atoi(strings.TrimPrefix(ref, "#"))
	o, ok := s.offers[n]
	if err != nil || !ok {
		s.t.Fatalf("scenario: no outstanding offer %s; transcript so far:\n%s", ref, s.out.String())
	}
	return o
}

// options splits key=value words and bare flags.
func options(words []string) (map[string]string, map[string]bool) {
	kv, flags := map[string]string{}, map[string]bool{}
	for _, w := range words {
		if k, v, ok := strings.Cut(w, "="); ok {
			kv[k] = v
		} else {
			flags[w] = true
		}
	}
	return kv, flags
}

func list(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func (s *scenario) do(w []string) error {
	arg := func(i int) string {
		if i >= len(w) {
			s.t.Fatalf("scenario: %q needs more arguments", strings.Join(w, " "))
		}
		return w[i]
	}
	switch w[0] {
	case "agent":
		kv, flags := options(w[3:])
		return s.a.AddAgent(Agent{ID: arg(1), Hostname: kv["host"], Resources: s.res(arg(2)), NoCheckpoint: flags["nocheckpoint"]}, nil)
	case "update-agent":
		return s.a.UpdateAgent(Agent{ID: arg(1), Resources: s.res(arg(2))})
	case "remove-agent":
		return s.a.RemoveAgent(arg(1))
	case "deactivate-agent":
		return s.a.DeactivateAgent(arg(1))
	case "activate-agent":
		return s.a.ActivateAgent(arg(1))
	case "framework":
		kv, flags := options(w[2:])
		f := Framework{ID: arg(1), Roles: list(kv["roles"]), Checkpoint: flags["checkpoint"], SuppressedRoles: list(kv["suppressed"])}
		if flags["gpu"] {
			f.Capabilities = []string{GPUResources}
		}
		if task, ok := kv["task"]; ok {
			s.tasks[f.ID] = s.res(task)
		}
		return s.a.AddFramework(f)
	case "remove-framework":
		return s.a.RemoveFramework(arg(1))
	case "deactivate":
		return s.a.DeactivateFramework(arg(1))
	case "activate":
		return s.a.ActivateFramework(arg(1))
	case "suppress":
		return s.a.Suppress(arg(1), w[2:]...)
	case "revive":
		return s.a.Revive(arg(1), w[2:]...)
	case "weights":
		ws := map[string]float64{}
		for _, kv := range w[1:] {
			k, v, _ := strings.Cut(kv, "=")
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				s.t.Fatalf("scenario weight %q: %v", kv, err)
			}
			ws[k] = f
		}
		return s.a.UpdateWeights(ws)
	case "advance":
		s.now = s.now.Add(s.dur(arg(1)))
		s.printf("  t=%s\n", s.now.Sub(epoch))
		return nil
	case "allocate":
		s.allocate(nil)
		return nil
	case "accept":
		kv, _ := options(w[3:])
		return s.accept(arg(1), s.res(arg(2)), s.refuse(kv, DefaultRefuse))
	case "decline":
		kv, _ := options(w[2:])
		return s.accept(arg(1), nil, s.refuse(kv, DefaultRefuse))
	case "rescind":
		return s.accept(arg(1), nil, 0)
	case "finish":
		o := s.offer(arg(1))
		n, _ := strconv.Atoi(strings.TrimPrefix(arg(1), "#"))
		rs := s.launched[n]
		delete(s.launched, n)
		delete(s.offers, n)
		return s.a.RecoverResources(Recovery{FrameworkID: o.FrameworkID, AgentID: o.AgentID, Role: o.Role, Resources: rs, From: Used}, s.now)
	case "drive":
		kv, _ := options(w[1:])
		rounds := 20
		if v, ok := kv["rounds"]; ok {
			rounds, _ = strconv.Atoi(v)
		}
		s.drive(rounds, s.refuse(kv, 0))
		return nil
	case "shares":
		s.shares()
		return nil
	}
	s.t.Fatalf("scenario: unknown command %q", w[0])
	return nil
}

func (s *scenario) refuse(kv map[string]string, def time.Duration) time.Duration {
	if v, ok := kv["refuse"]; ok {
		return s.dur(v)
	}
	return def
}

// accept does what the master does with an ACCEPT (launch, decline the
// rest) or a DECLINE (launch nothing). The offer stays listed if something
// was launched, so "finish" can end those tasks.
func (s *scenario) accept(ref string, launch api.Resources, refuse time.Duration) error {
	o := s.offer(ref)
	n, _ := strconv.Atoi(strings.TrimPrefix(ref, "#"))
	if !o.Resources.Contains(launch) {
		return fmt.Errorf("offer %s does not hold %s", ref, launch)
	}
	if len(launch) > 0 {
		if err := s.a.Allocated(o.FrameworkID, o.AgentID, o.Role, launch); err != nil {
			return err
		}
		s.launched[n] = launch
		s.offers[n] = Offer{FrameworkID: o.FrameworkID, Role: o.Role, AgentID: o.AgentID}
	} else {
		delete(s.offers, n)
	}
	return s.a.RecoverResources(Recovery{
		FrameworkID: o.FrameworkID, AgentID: o.AgentID, Role: o.Role,
		Resources: o.Resources.Subtract(launch), From: Offered, Refuse: refuse,
	}, s.now)
}

// allocate runs a round and prints its offers; each offer is then passed
// to respond, if set, which prints what the framework did with it.
func (s *scenario) allocate(respond func(id int, o Offer) string) int {
	offers := s.a.Allocate(s.now)
	if len(offers) == 0 {
		s.printf("  no offers\n")
	}
	for _, o := range offers {
		id := s.nextID
		s.nextID++
		s.offers[id] = o
		s.printf("  #%d %s role=%s agent=%s %s", id, o.FrameworkID, o.Role, o.AgentID, o.Resources)
		if respond != nil {
			s.printf(" -> %s", respond(id, o))
		}
		s.printf("\n")
	}
	s.shares()
	return len(offers)
}

func (s *scenario) drive(rounds int, refuse time.Duration) {
	clear(s.counts)
	for round := 1; round <= rounds; round++ {
		s.printf("  round %d\n", round)
		launches := 0
		s.allocate(func(id int, o Offer) string {
			task := s.tasks[o.FrameworkID]
			if len(task) == 0 || !o.Resources.Contains(task) {
				if err := s.accept(fmt.Sprintf("#%d", id), nil, refuse); err != nil {
					return "! " + err.Error()
				}
				return "decline"
			}
			if err := s.accept(fmt.Sprintf("#%d", id), task, refuse); err != nil {
				return "! " + err.Error()
			}
			launches++
			s.counts[o.FrameworkID]++
			return "launch " + task.String()
		})
		if launches == 0 {
			s.printf("  no launches; stop\n")
			break
		}
	}
	ids := make([]string, 0, len(s.counts))
	for id := range s.counts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var parts []string
	for _, id := range ids {
		parts = append(parts, fmt.Sprintf("%s=%d", id, s.counts[id]))
	}
	s.printf("  tasks launched: %s\n", strings.Join(parts, " "))
}

func (s *scenario) shares() {
	var parts []string
	for _, r := range s.a.Shares() {
		p := r.Role
		if r.Weight != 1 {
			p += fmt.Sprintf("(w=%g)", r.Weight)
		}
		var fws []string
		for _, f := range r.Frameworks {
			fws = append(fws, fmt.Sprintf("%s %.3f", f.FrameworkID, f.Share))
		}
		parts = append(parts, fmt.Sprintf("%s %.3f [%s]", p, r.Share, strings.Join(fws, ", ")))
	}
	s.printf("  shares: %s\n", strings.Join(parts, " | "))
}
