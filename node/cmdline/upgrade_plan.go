package cmdline

import (
	"fmt"
	"sort"
	"strings"
)

// The plan of a rolling cluster upgrade (docs/upgrade.md): masters first,
// one at a time, the leading one last; then agents in batches. Masters
// first is Mesos' order (https://mesos.apache.org/documentation/latest/upgrades/):
// an agent is never newer than the masters it talks to.

// upMaster is a master as the plan sees it.
type upMaster struct {
	Name    string // etcd member name
	Addr    string // API host:port
	Version string
	Leader  bool
	// Agent is the address of the agent the same node runs (--role=all),
	// "" for a master alone.
	Agent string
}

// upAgent is an agent as the plan sees it.
type upAgent struct {
	ID, Hostname string
	Addr         string // agent API host:port
	Version      string
	// Deactivated: deactivated or drained before the upgrade started; the
	// upgrade leaves it so.
	Deactivated bool
}

func (a upAgent) String() string { return fmt.Sprintf("agent %s (%s, %s)", a.Hostname, a.ID, a.Addr) }

// upStep is one step of the plan: one master (with the agent of its node,
// if any), or a batch of agents.
type upStep struct {
	Master *upMaster
	Agents []upAgent
}

func (s upStep) String() string {
	var parts []string
	if s.Master != nil {
		role := "follower"
		if s.Master.Leader {
			role = "leader"
		}
		parts = append(parts, fmt.Sprintf("master %s (%s, %s)", s.Master.Addr, s.Master.Name, role))
	}
	for _, a := range s.Agents {
		parts = append(parts, a.String())
	}
	return strings.Join(parts, ", ")
}

// upPlan is the ordered steps, and what is already on the target version.
type upPlan struct {
	Target  string
	Steps   []upStep
	Current []string // nodes on the target version already, skipped
}

// planUpgrade orders the upgrade to target: masters not on it one at a
// time, followers by name and the leader last, each with its node's agent;
// then the other agents not on it, batch at a time, in hostname order. A
// node on the target version is skipped, which makes a failed upgrade
// resumable by running it again.
func planUpgrade(target string, masters []upMaster, agents []upAgent, batch int) upPlan {
	if batch < 1 {
		batch = 1
	}
	p := upPlan{Target: target}
	byAddr := map[string]upAgent{}
	for _, a := range agents {
		byAddr[a.Addr] = a
	}
	ms := append([]upMaster(nil), masters...)
	sort.SliceStable(ms, func(i, j int) bool {
		if ms[i].Leader != ms[j].Leader {
			return !ms[i].Leader
		}
		return ms[i].Name < ms[j].Name
	})
	colocated := map[string]bool{}
	for i := range ms {
		m := ms[i]
		var own []upAgent
		if a, ok := byAddr[m.Agent]; ok && m.Agent != "" {
			colocated[a.Addr] = true
			own = []upAgent{a}
		}
		if m.Version == target {
			p.Current = append(p.Current, "master "+m.Addr)
			continue
		}
		p.Steps = append(p.Steps, upStep{Master: &m, Agents: own})
	}
	var rest []upAgent
	for _, a := range agents {
		switch {
		case colocated[a.Addr]:
		case a.Version == target:
			p.Current = append(p.Current, a.String())
		default:
			rest = append(rest, a)
		}
	}
	sort.SliceStable(rest, func(i, j int) bool {
		if rest[i].Hostname != rest[j].Hostname {
			return rest[i].Hostname < rest[j].Hostname
		}
		return rest[i].ID < rest[j].ID
	})
	for len(rest) > 0 {
		n := min(batch, len(rest))
		p.Steps = append(p.Steps, upStep{Agents: rest[:n:n]})
		rest = rest[n:]
	}
	return p
}

// runPlan runs the steps in order and stops at the first that fails,
// saying which.
func runPlan(p upPlan, do func(upStep) error) error {
	for i, s := range p.Steps {
		if err := do(s); err != nil {
			return fmt.Errorf("step %d of %d, %s: %w", i+1, len(p.Steps), s, err)
		}
	}
	return nil
}
