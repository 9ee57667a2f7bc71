package alloc

import (
	"cmp"
	"math"
	"slices"

	"nodectl/cluster/api"
)

// qty is a vector of scalar quantities in thousandths, the fixed point
// Mesos uses, so shares come from sums that never drift. It is indexed by
// kind: the position of the resource name in Allocator.kinds. A role's sums
// are updated on every offer, so they are kept as slices rather than maps.
type qty []int64

func millis(v float64) int64 { return int64(math.Round(v * 1000)) }

// kind returns the index of a scalar resource name, adding it if new. There
// are a handful of kinds (cpus, mem, disk, gpus...), so a linear search
// beats hashing.
func (a *Allocator) kind(name string) int {
	for i, n := range a.kinds {
		if n == name {
			return i
		}
	}
	a.kinds = append(a.kinds, name)
	return len(a.kinds) - 1
}

// add adds (sign 1) or takes away (sign -1) the scalars of rs to q.
func (a *Allocator) add(q *qty, rs api.Resources, sign int64) {
	for _, r := range rs {
		if r.Type != api.Scalar || r.Scalar == nil {
			continue
		}
		i := a.kind(r.Name)
		for len(*q) <= i {
			*q = append(*q, 0)
		}
		(*q)[i] += sign * millis(r.Scalar.Value)
	}
}

func (q qty) zero() bool {
	for _, v := range q {
		if v != 0 {
			return false
		}
	}
	return true
}

// within reports whether rs holds at least q, roles ignored.
func (a *Allocator) within(q qty, rs api.Resources) bool {
	for i, v := range q {
		if v > 0 && millis(rs.Scalar(a.kinds[i])) < v {
			return false
		}
	}
	return true
}

// dominant is the DRF dominant share of q: its largest fraction of the
// cluster total over all scalar resource kinds.
func (a *Allocator) dominant(q qty) float64 {
	var s float64
	for i, v := range q {
		if i < len(a.total) && a.total[i] > 0 {
			s = max(s, float64(v)/float64(a.total[i]))
		}
	}
	return s
}

// RoleShare is one role's DRF standing.
type RoleShare struct {
	Role   string
	Weight float64
	// Share is the weighted dominant share: the role's largest fraction of
	// any scalar resource in the cluster (offered plus used), over Weight.
	Share      float64
	Frameworks []FrameworkShare // by id: subscribers and holders of resources
}

// FrameworkShare is one framework's dominant share within a role.
type FrameworkShare struct {
	FrameworkID string
	Share       float64
}

// Shares returns every role that has subscribers or allocations, by name.
func (a *Allocator) Shares() []RoleShare {
	out := make([]RoleShare, 0, len(a.roles))
	for _, r := range a.roles {
		w := a.Weight(r.name)
		rs := RoleShare{Role: r.name, Weight: w, Share: a.dominant(r.alloc) / w}
		ids := map[string]bool{}
		for id := range r.subscribers {
			ids[id] = true
		}
		for id := range r.byFramework {
			ids[id] = true
		}
		for id := range ids {
			rs.Frameworks = append(rs.Frameworks, FrameworkShare{FrameworkID: id, Share: a.dominant(r.held(id))})
		}
		slices.SortFunc(rs.Frameworks, func(x, y FrameworkShare) int { return cmp.Compare(x.FrameworkID, y.FrameworkID) })
		out = append(out, rs)
	}
	slices.SortFunc(out, func(x, y RoleShare) int { return cmp.Compare(x.Role, y.Role) })
	return out
}
