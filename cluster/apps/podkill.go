package apps

import "strings"

// A pod's scheduling.killSelection (Marathon types/killSelection.raml:
// YOUNGEST_FIRST, the default, or OLDEST_FIRST) picks which instances go
// when the pod has more of them than it wants (scaled down, or old
// versions replaced): podPlan takes instances that are not stable first
// either way, then the youngest or the oldest by staging time. As for
// Marathon's generated enum readers, the value is read regardless of case
// (Marathon's "Pods" page writes "Youngest_First") and shown back in its
// canonical form.

// normalizeKillSelection writes a killSelection of any case canonically;
// anything else is left for validate to refuse.
func (p *Pod) normalizeKillSelection() {
	if p.Scheduling == nil || p.Scheduling.KillSelection == "" {
		return
	}
	if k := strings.ToUpper(p.Scheduling.KillSelection); k == YoungestFirst || k == OldestFirst {
		p.Scheduling.KillSelection = k
	}
}

// oldestFirst: the pod's killSelection is OLDEST_FIRST.
func (p *Pod) oldestFirst() bool {
	return p.Scheduling != nil && p.Scheduling.KillSelection == OldestFirst
}
