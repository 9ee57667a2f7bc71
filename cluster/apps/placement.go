package apps

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"nodectl/cluster/api"
)

// Placement: what an offer must have for an app's task (resources, ports,
// constraints) and how instances are balanced over hosts and attribute
// values.

// knownValuesLocked is the values of an offer field (hostname or an
// attribute) seen in offers within hostMemory, and those of live app
// tasks: the groups instances can be spread over.
func (a *Apps) knownValuesLocked(field string, now time.Time) map[string]bool {
	vals := map[string]bool{}
	for v, seen := range a.seen[field] {
		if now.Sub(seen) <= hostMemory {
			vals[v] = true
		} else {
			delete(a.seen[field], v) // an agent long gone
		}
	}
	for _, t := range a.tasks {
		if v, ok := taskAttr(t, field); ok && t.alive() {
			vals[v] = true
		}
	}
	return vals
}

// taskAttr is the value of field (hostname or an attribute) where t runs.
func taskAttr(t *task, field string) (string, bool) {
	if v, ok := t.Attrs[field]; ok {
		return v, true
	}
	if field == "hostname" && t.Host != "" {
		return t.Host, true
	}
	return "", false
}

// underSpreadLimit: the group field=value has fewer of the app's live
// tasks than its even share of target, ⌈target / groups⌉ (MAX_PER-style
// balance).
func underSpreadLimit(ts []*task, field, value string, target, groups int) bool {
	here := 0
	for _, t := range ts {
		if v, ok := taskAttr(t, field); ok && v == value && t.alive() {
			here++
		}
	}
	return here < (target+groups-1)/groups
}

// groupsBalancedLocked enforces GROUP_BY: one more task on an agent with
// attrs keeps each of the app's GROUP_BY fields balanced over
// max(the constraint's count, the values known) groups.
func (a *Apps) groupsBalancedLocked(def *App, ts []*task, attrs map[string]string, target int, now time.Time) bool {
	for _, c := range def.Constraints {
		if c[1] != "GROUP_BY" {
			continue
		}
		field := strings.TrimPrefix(c[0], "@")
		have, ok := attrs[field]
		if !ok {
			return false
		}
		groups := len(a.knownValuesLocked(field, now))
		if len(c) > 2 {
			if n, err := strconv.Atoi(c[2]); err == nil && n > groups {
				groups = n
			}
		}
		if groups > 1 && !underSpreadLimit(ts, field, have, target, groups) {
			return false
		}
	}
	return true
}

// offerAttrs is the offer's hostname and attributes as text.
func offerAttrs(o api.Offer) map[string]string {
	m := map[string]string{"hostname": o.Hostname}
	for _, at := range o.Attributes {
		switch {
		case at.Text != nil:
			m[at.Name] = at.Text.Value
		case at.Scalar != nil:
			m[at.Name] = strconv.FormatFloat(at.Scalar.Value, 'f', -1, 64)
		}
	}
	return m
}

// fit picks the app's resources out of an offer's: cpus, mem, disk and
// one host port per port definition.
func fit(def *App, left api.Resources) (api.Resources, []int, bool) {
	// roleOf is the role of the first of left's name resources with at
	// least v (left may hold one per role: unreserved and reserved).
	roleOf := func(name string, v float64) string {
		for _, r := range left {
			if r.Name == name && r.Source() == nil && (r.Scalar == nil || r.Scalar.Value >= v) { // not PATH/MOUNT disks (diskplace.go)
				return r.Role
			}
		}
		return ""
	}
	var need api.Resources
	for _, s := range []struct {
		name string
		v    float64
	}{{"cpus", max(*def.Cpus, api.MinCPUs)}, {"mem", max(*def.Mem, api.MinMemMB)}, {"disk", *def.Disk}} { // at least Mesos' minimums, as the master counts a task
		if s.v > 0 {
			r := api.ScalarResource(s.name, s.v)
			r.Role = roleOf(s.name, s.v)
			need = append(need, r)
		}
	}
	var ports []int
	if n := len(def.hostPortDefs()); n > 0 {
		avail := left.RangesOf("ports")
		taken := map[uint64]bool{}
		var rs []api.Range
		for _, pd := range def.hostPortDefs() {
			p, ok := pickPort(avail, taken, pd.Port, def.fixedHostPorts())
			if !ok {
				return nil, nil, false
			}
			taken[p] = true
			ports = append(ports, int(p))
			rs = append(rs, api.Range{Begin: p, End: p})
		}
		r := api.RangesResource("ports", rs...)
		r.Role = roleOf("ports", 0)
		need = append(need, r)
	}
	if !left.Contains(need) {
		return nil, nil, false
	}
	return need, ports, true
}

func pickPort(avail []api.Range, taken map[uint64]bool, want int, require bool) (uint64, bool) {
	if want != 0 && require {
		p := uint64(want)
		for _, r := range avail {
			if p >= r.Begin && p <= r.End && !taken[p] {
				return p, true
			}
		}
		return 0, false
	}
	for _, r := range avail {
		for p := r.Begin; p <= r.End; p++ {
			if !taken[p] {
				return p, true
			}
		}
	}
	return 0, false
}

// meetsConstraints checks an agent (its attributes) against the app's
// constraints, given where the app's tasks already are. GROUP_BY is
// balanced by groupsBalancedLocked.
func meetsConstraints(def *App, attrs map[string]string, tasks []*task) bool {
	var placed []*task
	for _, t := range tasks {
		if t.alive() {
			placed = append(placed, t)
		}
	}
	for _, c := range def.Constraints {
		field, op, val := c[0], c[1], ""
		if len(c) > 2 {
			val = c[2]
		}
		field = strings.TrimPrefix(field, "@")
		have, ok := attrs[field]
		count := func(v string) int {
			n := 0
			for _, t := range placed {
				if x, ok := t.Attrs[field]; ok && x == v {
					n++
				}
			}
			return n
		}
		switch op {
		case "UNIQUE":
			if !ok || count(have) > 0 {
				return false
			}
		case "CLUSTER":
			if !ok {
				return false
			}
			if val != "" {
				if have != val {
					return false
				}
			} else {
				for _, t := range placed {
					if x := t.Attrs[field]; x != have {
						return false
					}
				}
			}
		case "IS":
			if !ok || have != val {
				return false
			}
		case "LIKE", "UNLIKE":
			re, err := regexp.Compile("^(?:" + val + ")$")
			if err != nil {
				return false
			}
			match := ok && re.MatchString(have)
			if match != (op == "LIKE") {
				return false
			}
		case "MAX_PER":
			n, _ := strconv.Atoi(val)
			if !ok || count(have) >= n {
				return false
			}
		}
	}
	return true
}
