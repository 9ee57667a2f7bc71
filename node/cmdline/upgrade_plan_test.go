package cmdline

import (
	"errors"
	"strings"
	"testing"
)

func planString(p upPlan) string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, s.String())
	}
	return strings.Join(out, " | ")
}

// Masters first, followers by name and the leader last, each with its
// node's agent; then the other agents in batches; nodes on the target
// version are skipped (a re-run resumes).
func TestPlanUpgradeOrder(t *testing.T) {
	masters := []upMaster{
		{Name: "m-c", Addr: "10.0.0.3:5050", Version: "v1"},
		{Name: "m-a", Addr: "10.0.0.1:5050", Version: "v1", Leader: true},
		{Name: "m-b", Addr: "10.0.0.2:5050", Version: "v1", Agent: "10.0.0.2:5051"},
	}
	agents := []upAgent{
		{ID: "a3", Hostname: "h3", Addr: "10.0.1.3:5051", Version: "v1"},
		{ID: "a1", Hostname: "h1", Addr: "10.0.1.1:5051", Version: "v1"},
		{ID: "ab", Hostname: "hb", Addr: "10.0.0.2:5051", Version: "v1"},
		{ID: "a2", Hostname: "h2", Addr: "10.0.1.2:5051", Version: "v1"},
	}
	p := planUpgrade("v2", masters, agents, 2)
	want := "master 10.0.0.2:5050 (m-b, follower), agent hb (ab, 10.0.0.2:5051) | master 10.0.0.3:5050 (m-c, follower) | " +
		"master 10.0.0.1:5050 (m-a, leader) | agent h1 (a1, 10.0.1.1:5051), agent h2 (a2, 10.0.1.2:5051) | agent h3 (a3, 10.0.1.3:5051)"
	if got := planString(p); got != want {
		t.Errorf("plan\n got %s\nwant %s", got, want)
	}
	if p.Target != "v2" || len(p.Current) != 0 {
		t.Errorf("target %q, current %v", p.Target, p.Current)
	}

	// Resumed: m-b and h1 are done; batch 0 counts as 1.
	masters[2].Version, agents[2].Version, agents[1].Version = "v2", "v2", "v2"
	p = planUpgrade("v2", masters, agents, 0)
	want = "master 10.0.0.3:5050 (m-c, follower) | master 10.0.0.1:5050 (m-a, leader) | agent h2 (a2, 10.0.1.2:5051) | agent h3 (a3, 10.0.1.3:5051)"
	if got := planString(p); got != want {
		t.Errorf("resumed plan\n got %s\nwant %s", got, want)
	}
	if len(p.Current) != 2 {
		t.Errorf("skipped %v, want master m-b (with its agent) and agent h1", p.Current)
	}
	// All done: nothing to do.
	for i := range masters {
		masters[i].Version = "v2"
	}
	for i := range agents {
		agents[i].Version = "v2"
	}
	if p := planUpgrade("v2", masters, agents, 1); len(p.Steps) != 0 {
		t.Errorf("up-to-date cluster planned %s", planString(p))
	}
}

// runPlan stops at the first failing step and names it.
func TestRunPlanStopsAtFirstFailure(t *testing.T) {
	p := planUpgrade("v2", []upMaster{{Name: "m", Addr: "m:1", Version: "v1", Leader: true}},
		[]upAgent{{ID: "a", Hostname: "ha", Addr: "a:1", Version: "v1"}, {ID: "b", Hostname: "hb", Addr: "b:1", Version: "v1"}}, 1)
	var ran []string
	err := runPlan(p, func(s upStep) error {
		ran = append(ran, s.String())
		if len(s.Agents) == 1 && s.Agents[0].ID == "a" {
			return errors.New("drain timed out")
		}
		return nil
	})
	if len(ran) != 2 {
		t.Errorf("ran %v, want the master and agent a only", ran)
	}
	if err == nil || err.Error() != "step 2 of 3, agent ha (a, a:1): drain timed out" {
		t.Errorf("error %v", err)
	}
}

// Agents newer than a master, and several versions at once, are flagged.
func TestVersionWarnings(t *testing.T) {
	if w := versionWarnings("v2", []upMaster{{Version: "v1"}}, []upAgent{{Version: "v1"}}); len(w) != 0 {
		t.Errorf("plain v1 → v2 warned %v", w)
	}
	w := versionWarnings("v3", []upMaster{{Version: "v1"}}, []upAgent{{ID: "a", Version: "v3"}, {ID: "b", Version: "v2"}})
	if len(w) != 2 || !strings.Contains(w[0], "newer than masters") || !strings.Contains(w[1], "v1, v2, v3") {
		t.Errorf("warnings %q", w)
	}
}
