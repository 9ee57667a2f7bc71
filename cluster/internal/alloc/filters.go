package alloc

import (
	"time"

	"nodectl/cluster/api"
)

// filter is a Mesos refused-resources offer filter: until expires, the
// framework is not offered, in that role on that agent, resources that all
// lie within refused. More free resources (a task ended) lift it early.
type filter struct {
	refused api.Resources
	expires time.Time

	// Cache of the last Contains answer, valid while the agent's free
	// resources are unchanged (agent.version): a round with many declined
	// agents then costs a map lookup per framework, not a resource compare.
	checked bool
	version uint64
	covers  bool
}

func (f *framework) addFilter(agentID, role string, refused api.Resources, expires time.Time) {
	byRole := f.filters[agentID]
	if byRole == nil {
		byRole = map[string][]*filter{}
		f.filters[agentID] = byRole
	}
	byRole[role] = append(byRole[role], &filter{refused: refused, expires: expires})
}

// filtered reports whether a live filter covers offering rs on agent n in
// role, dropping the filters that have expired by now. It returns the
// covering filter's expiry, or the zero time if none covers rs.
func (f *framework) filtered(n *agent, role string, rs api.Resources, now time.Time, noCache bool) time.Time {
	byRole := f.filters[n.info.ID]
	if byRole == nil {
		return time.Time{}
	}
	fs, ok := byRole[role]
	if !ok {
		return time.Time{}
	}
	var covered time.Time
	live := fs[:0]
	for _, x := range fs {
		if !now.Before(x.expires) {
			continue
		}
		live = append(live, x)
		if noCache || !x.checked || x.version != n.version {
			x.checked, x.version, x.covers = true, n.version, x.refused.Contains(rs)
		}
		if x.covers && x.expires.After(covered) {
			covered = x.expires // blocked until the last covering filter expires
		}
	}
	clear(fs[len(live):])
	switch {
	case len(live) > 0:
		byRole[role] = live
	case len(byRole) == 1:
		delete(f.filters, n.info.ID)
	default:
		delete(byRole, role)
	}
	return covered
}

// dropFilters removes every filter of the framework in role.
func (f *framework) dropFilters(role string) {
	for agentID, byRole := range f.filters {
		delete(byRole, role)
		if len(byRole) == 0 {
			delete(f.filters, agentID)
		}
	}
}
