package apps

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"sort"
	"time"

	"nodectl/cluster/api"
)

// A pod's scheduling.upgrade and scheduling.unreachableStrategy (Marathon
// types/pod.raml PodSchedulingPolicy, types/upgradeStrategy.raml and
// types/unreachableStrategy.raml): the same rules as an app's
// upgradeStrategy and unreachableStrategy (sched.go planFor and
// unreachableLocked), applied to instances. Defaults are Marathon's:
// minimumHealthCapacity 1, maximumOverCapacity 1; an unreachable
// instance is replaced at once (inactiveAfterSeconds 0) and forgotten
// (expungeAfterSeconds 0); "disabled" waits for it forever. An instance
// is unreachable while one of its tasks is TASK_UNREACHABLE, since the
// earliest of them became so.

// PodUpgrade is a pod's upgrade strategy.
type PodUpgrade struct {
	MinimumHealthCapacity *float64 `json:"minimumHealthCapacity,omitempty"`
	MaximumOverCapacity   *float64 `json:"maximumOverCapacity,omitempty"`
}

// strictDecode decodes raw into v, refusing unknown fields.
func strictDecode(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// upgrade is the pod's upgrade strategy with Marathon's defaults.
func (p *Pod) upgrade() (minHealth, maxOver float64, err error) {
	minHealth, maxOver = 1, 1
	if p.resident() {
		minHealth, maxOver = 0.5, 0 // Marathon's default for resident run specs (podresident.go)
	}
	if p.Scheduling == nil || len(p.Scheduling.Upgrade) == 0 {
		return minHealth, maxOver, nil
	}
	var u PodUpgrade
	if err := strictDecode(p.Scheduling.Upgrade, &u); err != nil {
		return 0, 0, err
	}
	if u.MinimumHealthCapacity != nil {
		minHealth = *u.MinimumHealthCapacity
	}
	if u.MaximumOverCapacity != nil {
		maxOver = *u.MaximumOverCapacity
	}
	return minHealth, maxOver, nil
}

// unreachable is the pod's unreachable strategy with Marathon's default.
func (p *Pod) unreachable() (Unreachable, error) {
	if p.Scheduling == nil || len(p.Scheduling.UnreachableStrategy) == 0 {
		return Unreachable{Disabled: p.resident()}, nil
	}
	raw := p.Scheduling.UnreachableStrategy
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s != "disabled" {
			return Unreachable{}, errUnreachableString
		}
		return Unreachable{Disabled: true}, nil
	}
	var o struct {
		InactiveAfterSeconds *float64 `json:"inactiveAfterSeconds"`
		ExpungeAfterSeconds  *float64 `json:"expungeAfterSeconds"`
	}
	if err := strictDecode(raw, &o); err != nil {
		return Unreachable{}, err
	}
	var u Unreachable
	if o.InactiveAfterSeconds != nil {
		u.InactiveAfterSeconds = *o.InactiveAfterSeconds
	}
	if o.ExpungeAfterSeconds != nil {
		u.ExpungeAfterSeconds = *o.ExpungeAfterSeconds
	}
	return u, nil
}

// validateStrategies checks scheduling.upgrade and unreachableStrategy.
func (p *Pod) validateStrategies() []Detail {
	var ds []Detail
	add := func(at, msg string) { ds = append(ds, Detail{Path: at, Errors: []string{msg}}) }
	if minHealth, maxOver, err := p.upgrade(); err != nil {
		add("/scheduling/upgrade", "invalid upgrade strategy: "+err.Error())
	} else {
		if minHealth < 0 || minHealth > 1 {
			add("/scheduling/upgrade/minimumHealthCapacity", "is not between 0 and 1")
		}
		if maxOver < 0 || maxOver > 1 {
			add("/scheduling/upgrade/maximumOverCapacity", "is not between 0 and 1")
		}
	}
	u, err := p.unreachable()
	switch {
	case err != nil:
		add("/scheduling/unreachableStrategy", "invalid unreachable strategy: "+err.Error())
	case u.Disabled:
	case u.InactiveAfterSeconds < 0:
		add("/scheduling/unreachableStrategy/inactiveAfterSeconds", "must be greater than or equal to 0")
	case u.ExpungeAfterSeconds < u.InactiveAfterSeconds:
		add("/scheduling/unreachableStrategy/expungeAfterSeconds", "must be greater than or equal to inactiveAfterSeconds")
	}
	return ds
}

// podPlan is what a pod's instances need: how many instances of the
// current version to launch and which instances to kill. As planFor for
// apps: while instances of an older version are alive, no more than
// n*(1+maximumOverCapacity) instances are alive, and an old instance is
// killed only while ceil(n*minimumHealthCapacity) stable instances stay
// (old ones that are not stable cost no capacity and go first).
func podPlan(def *Pod, insts []*podInstance) (launch int, kill []*podInstance) {
	var alive, fresh, old []*podInstance
	for _, i := range insts {
		if !i.alive() {
			continue
		}
		alive = append(alive, i)
		if i.Version == def.Version && !i.Draining {
			fresh = append(fresh, i)
		} else {
			old = append(old, i)
		}
	}
	n := def.instances()
	stable := func(i *podInstance) bool { return instanceStatus(i) == instStable }
	// By scheduling.killSelection (podkill.go), those that are not stable
	// before those that are.
	order := func(is []*podInstance) []*podInstance {
		out := slices.Clone(is)
		if !def.oldestFirst() {
			slices.Reverse(out)
		}
		sort.SliceStable(out, func(x, y int) bool { return !stable(out[x]) && stable(out[y]) })
		return out
	}
	if len(fresh) > n {
		kill = append(kill, order(fresh)[:len(fresh)-n]...)
	}
	if len(old) == 0 {
		return max(0, n-len(fresh)), kill
	}
	minHealth, maxOver, _ := def.upgrade() // validated
	minStable := int(math.Ceil(minHealth * float64(n)))
	over := int(math.Floor(maxOver * float64(n)))
	if minStable >= n && over == 0 {
		over = 1 // else nothing could ever move
	}
	if n == 0 {
		minStable = 0
	}
	launch = max(0, min(n-len(fresh), n+over-len(alive)))
	healthy := 0
	for _, i := range alive {
		if stable(i) {
			healthy++
		}
	}
	for _, i := range order(old) {
		switch {
		case !stable(i):
			kill = append(kill, i)
		case healthy-1 >= minStable:
			kill = append(kill, i)
			healthy--
		}
	}
	return launch, kill
}

// podUnreachableLocked applies each pod's unreachable strategy: an
// instance unreachable for inactiveAfterSeconds stops counting (it is
// replaced); after expungeAfterSeconds it is forgotten, so that if it
// comes back its tasks are killed as tasks nobody knows.
func (a *Apps) podUnreachableLocked(now time.Time) {
	for _, id := range sortedKeys(a.pods.instances) {
		i := a.pods.instances[id]
		var since time.Time
		for _, t := range i.Tasks {
			if t.State == api.TaskUnreachable && (since.IsZero() || t.Since.Before(since)) {
				since = t.Since
			}
		}
		ps := a.pods.pods[i.PodID]
		if since.IsZero() || ps == nil {
			i.Inactive = false
			continue
		}
		u, err := ps.def.unreachable()
		if err != nil || u.Disabled {
			i.Inactive = false
			continue
		}
		away := now.Sub(since)
		if !i.Inactive && away >= seconds(u.InactiveAfterSeconds) {
			i.Inactive = true
			a.revive = true
			a.log.Info("unreachable pod instance inactive; replacing it", "pod_id", i.PodID, "instance_id", i.ID)
		}
		if away >= seconds(u.ExpungeAfterSeconds) {
			if err := a.store.del(prefixPodInstances + i.ID); err != nil {
				a.log.Warn("expunge pod instance; retried later", "instance_id", i.ID, "err", err)
				continue
			}
			delete(a.pods.instances, i.ID)
			a.log.Info("unreachable pod instance expunged", "pod_id", i.PodID, "instance_id", i.ID)
		}
	}
}
