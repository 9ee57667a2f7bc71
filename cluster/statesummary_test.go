package cluster

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"nodectl/cluster/api"
)

// TestStateSummaryAgreesWithState: /state-summary's counts, resources and
// ids (tallied in one walk) are what /state's task lists and resources say,
// for two frameworks on three agents with ports, live, killed and finished
// tasks, some finished ones acknowledged (completed).
func TestStateSummaryAgreesWithState(t *testing.T) {
	h := newHarness(t)
	var ags []string
	for i := range 3 {
		ags = append(ags, h.agent(fmt.Sprintf("a%d", i), "cpus:8;mem:8192;ports:[31000-31100];zones:{x,y}"))
	}
	f1 := h.subscribe(api.FrameworkInfo{Name: "one"})
	f2 := h.subscribe(api.FrameworkInfo{Name: "two"})
	n, where := 0, map[string]string{}
	for _, f := range []*fwClient{f1, f2} {
		for _, o := range f.offers() {
			if f == f2 && o.AgentID.Value == ags[0] {
				continue
			}
			var ts []api.TaskInfo
			for range 4 {
				ts = append(ts, mkTask(fmt.Sprintf("t%d", n), fmt.Sprintf("cpus:0.25;mem:64;ports:[%d-%d]", 31000+n, 31000+n)))
				n++
			}
			for _, tk := range ts {
				where[tk.TaskID.Value] = o.AgentID.Value
			}
			ts[3].Resources = append(ts[3].Resources, api.Resource{Name: "zones", Type: api.Set, Set: &api.SetVal{Item: []string{"y"}}})
			f.launch(o, ts...)
			h.report(o.AgentID.Value, f.id(), ts[0].TaskID.Value, api.TaskRunning)
			h.report(o.AgentID.Value, f.id(), ts[1].TaskID.Value, api.TaskRunning)
			h.report(o.AgentID.Value, f.id(), ts[2].TaskID.Value, api.TaskFinished)
			h.report(o.AgentID.Value, f.id(), ts[3].TaskID.Value, api.TaskKilled)
		}
		for i, st := range f.updates() {
			if i%2 == 0 {
				f.ack(st) // some terminal tasks completed, some not yet
			}
		}
	}
	h.flush()
	get := func(path string) map[string]any {
		code, body := h.serve("GET", path, "")
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		var v map[string]any
		must(t, json.Unmarshal([]byte(body), &v))
		return v
	}
	agree(t, h, get)
	// the agents' use is kept between answers: a change must show
	h.report(where["t1"], f1.id(), "t1", api.TaskFailed) // not acknowledged: still a live task
	h.report(where["t13"], f2.id(), "t13", api.TaskFinished)
	f2.ack(f2.update())
	h.flush()
	agree(t, h, get)
	// tasks on an agent the master no longer knows (the framework's sum
	// from its agents falls short: they are counted one by one)
	h.m.mu.Lock()
	gone := h.m.agents[ags[2]]
	delete(h.m.agents, ags[2])
	h.m.mu.Unlock()
	agree(t, h, get)
	h.m.mu.Lock()
	h.m.agents[ags[2]] = gone
	h.m.mu.Unlock()
}

func agree(t *testing.T, h *harness, get func(string) map[string]any) {
	t.Helper()
	state, sum := get("/state"), get("/state-summary")
	// what a viewer who sees only some tasks is given (every task walked)
	// is, for one who sees all, the same
	h.m.mu.Lock()
	ws, wf := h.m.stateSummaryWalkLocked(view{m: h.m, all: true})
	h.m.mu.Unlock()
	walked, _ := json.Marshal(map[string]any{"slaves": ws, "frameworks": wf})
	var w map[string]any
	must(t, json.Unmarshal(walked, &w))
	for _, k := range []string{"slaves", "frameworks"} {
		if !reflect.DeepEqual(w[k], sum[k]) {
			t.Errorf("%s: walked %v\n summed %v", k, w[k], sum[k])
		}
	}

	type counts = map[string]int
	fwCounts, agCounts := map[string]counts{}, map[string]counts{}
	fwAgents, agFws := map[string]map[string]bool{}, map[string]map[string]bool{}
	fwUsed := map[string]any{}
	for _, fw := range state["frameworks"].([]any) {
		fw := fw.(map[string]any)
		id := fw["id"].(string)
		fwCounts[id], fwAgents[id] = counts{}, map[string]bool{}
		fwUsed[id] = fw["used_resources"]
		for _, list := range []string{"tasks", "completed_tasks"} {
			for _, tk := range fw[list].([]any) {
				tk := tk.(map[string]any)
				st, ag := tk["state"].(string), tk["slave_id"].(string)
				fwCounts[id][st]++
				if agCounts[ag] == nil {
					agCounts[ag], agFws[ag] = counts{}, map[string]bool{}
				}
				agCounts[ag][st]++
				agFws[ag][id] = true
				if !api.TaskState(st).Terminal() {
					fwAgents[id][ag] = true
				}
			}
		}
	}
	keys := func(m map[string]bool) []any {
		out := []any{}
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range m {
				if !yield(k) {
					return
				}
			}
		}) {
			out = append(out, k)
		}
		return out
	}
	checkCounts := func(what string, got map[string]any, want counts) {
		t.Helper()
		for _, s := range api.AllTaskStates {
			if g := int(got[string(s)].(float64)); g != want[string(s)] {
				t.Errorf("%s %s: %d, /state lists %d", what, s, g, want[string(s)])
			}
		}
	}
	fws := sum["frameworks"].([]any)
	if len(fws) != 2 {
		t.Fatalf("%d frameworks", len(fws))
	}
	for _, fw := range fws {
		fw := fw.(map[string]any)
		id := fw["id"].(string)
		checkCounts("framework "+id, fw, fwCounts[id])
		if got, want := fw["slave_ids"], keys(fwAgents[id]); !reflect.DeepEqual(got, want) {
			t.Errorf("framework %s slave_ids %v, want %v", id, got, want)
		}
		if got, want := fw["used_resources"], fwUsed[id]; !reflect.DeepEqual(got, want) {
			t.Errorf("framework %s used %v, /state %v", id, got, want)
		}
	}
	stSlaves := map[string]any{} // what a bag of each agent's live tasks sums to
	h.m.mu.Lock()
	for id, a := range h.m.agents {
		b, _ := json.Marshal(agentUsedLocked(a).Summary())
		var v any
		must(t, json.Unmarshal(b, &v))
		stSlaves[id] = v
	}
	h.m.mu.Unlock()
	for _, s := range sum["slaves"].([]any) {
		s := s.(map[string]any)
		id := s["id"].(string)
		checkCounts("agent "+id, s, agCounts[id])
		if got, want := s["framework_ids"], keys(agFws[id]); !reflect.DeepEqual(got, want) {
			t.Errorf("agent %s framework_ids %v, want %v", id, got, want)
		}
		if got, want := s["used_resources"], stSlaves[id]; !reflect.DeepEqual(got, want) {
			t.Errorf("agent %s used %v, its tasks add up to %v", id, got, want)
		}
	}
	if used := sum["frameworks"].([]any)[0].(map[string]any)["used_resources"].(map[string]any); used["ports"] == nil || used["cpus"].(float64) == 0 {
		t.Errorf("framework use has no ports or cpus: %v", used)
	}
}
