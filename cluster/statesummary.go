package cluster

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"nodectl/cluster/api"
)

// /state-summary (Mesos' master endpoint of that name,
// https://mesos.apache.org/documentation/latest/endpoints/master/state-summary/)
// is per framework and per agent what runs and how much of it, without the
// tasks. A UI polls it; at 10,000 agents and 300,000 tasks, walking every
// task under the master's lock took 1.4 s an answer. For a viewer who sees
// everything it is added up from each agent's summary of its own tasks,
// kept until they change (agent.tasksGen), so an answer walks agents, not
// tasks; a viewer who sees only some tasks gets the walk, filtered.

// stateCounts counts tasks by state: Mesos' TASK_STAGING: n, ... in a
// summary, every state present.
type stateCounts struct {
	Staging        int `json:"TASK_STAGING"`
	Starting       int `json:"TASK_STARTING"`
	Running        int `json:"TASK_RUNNING"`
	Killing        int `json:"TASK_KILLING"`
	Finished       int `json:"TASK_FINISHED"`
	Killed         int `json:"TASK_KILLED"`
	Failed         int `json:"TASK_FAILED"`
	Lost           int `json:"TASK_LOST"`
	Error          int `json:"TASK_ERROR"`
	Dropped        int `json:"TASK_DROPPED"`
	Unreachable    int `json:"TASK_UNREACHABLE"`
	Gone           int `json:"TASK_GONE"`
	GoneByOperator int `json:"TASK_GONE_BY_OPERATOR"`
	Unknown        int `json:"TASK_UNKNOWN"`
}

func (c *stateCounts) add(s api.TaskState) {
	switch s {
	case api.TaskStaging:
		c.Staging++
	case api.TaskStarting:
		c.Starting++
	case api.TaskRunning:
		c.Running++
	case api.TaskKilling:
		c.Killing++
	case api.TaskFinished:
		c.Finished++
	case api.TaskKilled:
		c.Killed++
	case api.TaskFailed:
		c.Failed++
	case api.TaskLost:
		c.Lost++
	case api.TaskError:
		c.Error++
	case api.TaskDropped:
		c.Dropped++
	case api.TaskUnreachable:
		c.Unreachable++
	case api.TaskGone:
		c.Gone++
	case api.TaskGoneByOperator:
		c.GoneByOperator++
	case api.TaskUnknown:
		c.Unknown++
	}
}

func (c *stateCounts) addAll(o *stateCounts) {
	c.Staging += o.Staging
	c.Starting += o.Starting
	c.Running += o.Running
	c.Killing += o.Killing
	c.Finished += o.Finished
	c.Killed += o.Killed
	c.Failed += o.Failed
	c.Lost += o.Lost
	c.Error += o.Error
	c.Dropped += o.Dropped
	c.Unreachable += o.Unreachable
	c.Gone += o.Gone
	c.GoneByOperator += o.GoneByOperator
	c.Unknown += o.Unknown
}

// summaryFramework is one framework of /state-summary.
type summaryFramework struct {
	ID               string         `json:"id"`
	Name             string         `json:"name"`
	Hostname         string         `json:"hostname"`
	Active           bool           `json:"active"`
	Connected        bool           `json:"connected"`
	Capabilities     []string       `json:"capabilities"`
	UsedResources    map[string]any `json:"used_resources"`
	OfferedResources map[string]any `json:"offered_resources"`
	SlaveIDs         []string       `json:"slave_ids"` // agents where it has a task not yet terminal
	stateCounts
}

// summarySlave is one agent of /state-summary: its /state entry with what
// its tasks are doing and whose they are.
type summarySlave struct {
	slaveEntry
	stateCounts
	FrameworkIDs []string `json:"framework_ids"` // frameworks with a task there, live or completed
}

func (m *Master) handleStateSummary(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	var slaves []summarySlave
	var fws []summaryFramework
	if v := m.viewOf(r); v.all {
		slaves, fws = m.stateSummaryLocked()
	} else {
		slaves, fws = m.stateSummaryWalkLocked(v)
	}
	m.mu.Unlock()
	writeStateSummary(w, m.info.Hostname, slaves, fws)
}

// writeStateSummary writes the answer an agent at a time: at 10,000 agents
// it is 10 MiB, which one Encode first builds whole in a buffer doubled
// again and again.
func writeStateSummary(w http.ResponseWriter, hostname string, slaves []summarySlave, fws []summaryFramework) {
	head, err := json.Marshal(map[string]any{"hostname": hostname, "cluster": "nodectl", "frameworks": fws})
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("state summary: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	bw.Write(head[:len(head)-1]) // without its "}"
	bw.WriteString(`,"slaves":[`)
	for i := range slaves {
		if i > 0 {
			bw.WriteByte(',')
		}
		if enc.Encode(&slaves[i]) != nil {
			return // the client left (or a value cannot be encoded, as it could not be in one piece)
		}
	}
	bw.WriteString("]}\n")
	bw.Flush()
}

// agentTasks is what an agent's live tasks add up to, per framework, as of
// a count of changes to them (agent.tasksGen).
type agentTasks struct {
	gen  uint64
	used json.RawMessage // what they all use: the agent's used_resources, encoded (shared: never modified)
	fws  []fwTasks       // by framework id
}

// fwTasks is one framework's live tasks on an agent.
type fwTasks struct {
	id      string
	counts  stateCounts
	live    int       // how many
	running bool      // one is not terminal
	used    api.Tally // what those not terminal use
}

// tasksSummaryLocked is a's agentTasks, added up again only when its tasks
// changed since the last time.
func (a *agent) tasksSummaryLocked() *agentTasks {
	if s := a.summary; s != nil && s.gen == a.tasksGen {
		return s
	}
	s := &agentTasks{gen: a.tasksGen}
	for k, t := range a.tasks {
		var f *fwTasks
		for i := range s.fws {
			if s.fws[i].id == k.framework {
				f = &s.fws[i]
				break
			}
		}
		if f == nil {
			s.fws = append(s.fws, fwTasks{id: k.framework})
			f = &s.fws[len(s.fws)-1]
		}
		f.counts.add(t.state)
		f.live++
		if !t.state.Terminal() {
			f.running = true
			f.used.Add(t.info.Resources)
		}
	}
	slices.SortFunc(s.fws, func(x, y fwTasks) int { return strings.Compare(x.id, y.id) })
	var all api.Tally
	for i := range s.fws {
		all.Merge(&s.fws[i].used)
	}
	s.used = mustJSON(all.Summary())
	a.summary = s
	return s
}

// fwSum is a framework's part of a summary.
type fwSum struct {
	counts  stateCounts
	live    int
	used    api.Tally
	running []string
}

// stateSummaryLocked is /state-summary for a viewer who sees everything,
// added up from the agents' summaries of their tasks.
func (m *Master) stateSummaryLocked() ([]summarySlave, []summaryFramework) {
	agents := m.sortedAgentsLocked()
	slaves := make([]summarySlave, len(agents))
	byID := make(map[string]*summarySlave, len(agents))
	sums := map[string]*fwSum{}
	for i, a := range agents {
		s := &slaves[i]
		byID[a.Info.ID] = s
		ts := a.tasksSummaryLocked()
		for j := range ts.fws {
			f := &ts.fws[j]
			if m.frameworks[f.id] == nil {
				continue // as the walk: only the frameworks there are
			}
			s.stateCounts.addAll(&f.counts)
			s.FrameworkIDs = append(s.FrameworkIDs, f.id)
			g := sums[f.id]
			if g == nil {
				g = &fwSum{}
				sums[f.id] = g
			}
			g.counts.addAll(&f.counts)
			g.live += f.live
			g.used.Merge(&f.used)
			if f.running {
				g.running = append(g.running, a.Info.ID)
			}
		}
	}
	fws := []summaryFramework{}
	for _, fw := range m.sortedFrameworksLocked() {
		g := sums[fw.id]
		if g == nil {
			g = &fwSum{}
		}
		if g.live != len(fw.tasks) {
			// Some of its tasks are on no agent the master knows: count
			// them one by one.
			g = &fwSum{}
			for _, t := range fw.tasks {
				g.counts.add(t.state)
				if !t.state.Terminal() {
					g.used.Add(t.info.Resources)
					g.running = append(g.running, t.agentID)
				}
			}
		}
		for _, t := range fw.completed {
			g.counts.add(t.state)
			if s := byID[t.agentID]; s != nil {
				s.stateCounts.add(t.state)
				s.FrameworkIDs = append(s.FrameworkIDs, fw.id)
			}
			if !t.state.Terminal() {
				g.running = append(g.running, t.agentID)
			}
		}
		fws = append(fws, g.entry(fw))
	}
	m.agentEntriesLocked(agents, slaves)
	return slaves, fws
}

// entry is fw's part of the summary as g counted it.
func (g *fwSum) entry(fw *framework) summaryFramework {
	return summaryFramework{
		ID: fw.id, Name: fw.info.Name, Hostname: fw.info.Hostname,
		Active: fw.connected(), Connected: fw.connected(), Capabilities: frameworkCaps(fw),
		UsedResources: g.used.Summary(), OfferedResources: offeredOf(fw.offers).Summary(),
		SlaveIDs: sortedUnique(g.running), stateCounts: g.counts,
	}
}

// agentEntriesLocked completes the agents' parts of the summary (counted
// already) with their /state entries.
func (m *Master) agentEntriesLocked(agents []*agent, slaves []summarySlave) {
	for i, a := range agents {
		slaves[i].slaveEntry = m.slaveJSON(a)
		slaves[i].FrameworkIDs = sortedUnique(slaves[i].FrameworkIDs)
	}
}

// sortedUnique sorts ids and drops repeats; never nil.
func sortedUnique(ids []string) []string {
	if ids == nil {
		return []string{}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// stateSummaryWalkLocked is /state-summary for viewer v, walking every
// task v may see.
func (m *Master) stateSummaryWalkLocked(v view) ([]summarySlave, []summaryFramework) {
	agents := m.sortedAgentsLocked()
	slaves := make([]summarySlave, len(agents))
	byID := make(map[string]*summarySlave, len(agents))
	for i, a := range agents {
		byID[a.Info.ID] = &slaves[i]
	}
	fws := []summaryFramework{}
	for _, fw := range m.sortedFrameworksLocked() {
		if !v.framework(fw) {
			continue
		}
		var g fwSum
		on := map[string]bool{} // agents in g.running
		count := func(t *task, live bool) {
			if !v.task(fw, t) {
				return
			}
			g.counts.add(t.state)
			if s := byID[t.agentID]; s != nil {
				s.stateCounts.add(t.state)
				if n := len(s.FrameworkIDs); n == 0 || s.FrameworkIDs[n-1] != fw.id {
					s.FrameworkIDs = append(s.FrameworkIDs, fw.id)
				}
			}
			if t.state.Terminal() {
				return
			}
			if !on[t.agentID] {
				on[t.agentID] = true
				g.running = append(g.running, t.agentID)
			}
			if live {
				g.used.Add(t.info.Resources)
			}
		}
		for _, t := range fw.tasks {
			count(t, true)
		}
		for _, t := range fw.completed {
			count(t, false)
		}
		fws = append(fws, g.entry(fw))
	}
	m.agentEntriesLocked(agents, slaves)
	return slaves, fws
}
