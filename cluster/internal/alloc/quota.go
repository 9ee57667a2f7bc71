package alloc

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"nodectl/cluster/api"
)

// Quota, as Mesos 1.9 has it (docs/quota.md and the quota stages of
// src/master/allocator/mesos/hierarchical.cpp in apache/mesos):
//
//   - A role's quota is a QuotaConfig: guarantees and limits, each a
//     quantity per scalar resource name (cpus, mem, disk, gpus, or any
//     other scalar). A name without a limit is unlimited; a name without a
//     guarantee is guaranteed nothing.
//   - A role's consumption is what its subtree (the role and every role
//     below it, "a" covers "a/b") holds, offered or used, plus the
//     resources reserved for the subtree that are free. A limit on a role
//     caps the consumption of its subtree: offers are cut so that no role's
//     consumption passes the limit of the role itself or of any ancestor.
//   - Guarantees: each round first offers, agent by agent, to the roles
//     whose guarantees are not met, up to what they are missing (stage 1).
//     Then everyone is offered what is left (stage 2), but unreserved
//     resources still needed to meet unsatisfied guarantees (the required
//     headroom: the sum over top-most guaranteed roles of guarantee minus
//     consumption) are held back from roles beyond their guarantee.
//   - Reserved resources count already (consumption) and are offered to
//     their role whatever its limit.
//
// Mesos refuses quota on nested roles; nodectl takes it, with Mesos'
// hierarchy rule for guarantees (a parent's guarantee holds its children's
// sum) and limits that apply to the whole subtree.

// Quota is one role's quota configuration (Mesos QuotaConfig without the
// role). Values are scalar quantities by resource name.
type Quota struct {
	Guarantees map[string]float64 `json:"guarantees,omitempty"`
	Limits     map[string]float64 `json:"limits,omitempty"`
}

// Empty reports whether q is the default quota (no guarantee, no limit).
func (q Quota) Empty() bool { return len(q.Guarantees) == 0 && len(q.Limits) == 0 }

// ErrBadQuota is an invalid quota configuration.
var ErrBadQuota = errors.New("invalid quota")

// Mesos' largest accepted quota values (src/master/quota.cpp): one exabyte
// in megabytes for mem and disk, a trillion for anything else.
const (
	maxQuotaMB    = 1024 * 1024 * 1024 * 1024
	maxQuotaOther = 1e12
)

// quota is a Quota in thousandths.
type quota struct {
	cfg   Quota
	guar  map[string]int64
	limit map[string]int64
}

// ValidateQuota checks one role's quota as Mesos' quota::validate does:
// a valid role, finite non-negative values within Mesos' bounds, and no
// guarantee above the limit of the same resource.
func ValidateQuota(role string, q Quota) error {
	if err := api.ValidateRole(role); err != nil {
		return fmt.Errorf("%w: role '%s': %w", ErrBadQuota, role, err)
	}
	check := func(what string, m map[string]float64) error {
		for _, name := range sortedNames(m) {
			v := m[name]
			if name == "" || strings.ContainsAny(name, " ;:()[]{}") {
				return fmt.Errorf("%w: %s: resource name '%s' is not valid", ErrBadQuota, what, name)
			}
			bound := float64(maxQuotaOther)
			if name == "mem" || name == "disk" {
				bound = maxQuotaMB
			}
			switch {
			case math.IsNaN(v) || math.IsInf(v, 0):
				return fmt.Errorf("%w: %s: {'%s': %v} is not a finite number", ErrBadQuota, what, name, v)
			case v < 0:
				return fmt.Errorf("%w: %s: {'%s': %v} is negative", ErrBadQuota, what, name, v)
			case v > bound:
				return fmt.Errorf("%w: %s: {'%s': %v} is larger than the largest supported value %v", ErrBadQuota, what, name, v, bound)
			}
		}
		return nil
	}
	if err := check("guarantees", q.Guarantees); err != nil {
		return err
	}
	if err := check("limits", q.Limits); err != nil {
		return err
	}
	for _, name := range sortedNames(q.Guarantees) {
		if l, ok := q.Limits[name]; ok && millis(q.Guarantees[name]) > millis(l) {
			return fmt.Errorf("%w: role '%s': guarantee {'%s': %v} is above its limit {'%s': %v}", ErrBadQuota, role, name, q.Guarantees[name], name, l)
		}
	}
	return nil
}

// ValidateQuotas checks a whole quota configuration: each role's quota,
// and Mesos' hierarchy rule that a role's guarantees hold the sum of its
// children's (nearest descendants with quota).
func ValidateQuotas(all map[string]Quota) error {
	for _, role := range sortedNames(all) {
		if err := ValidateQuota(role, all[role]); err != nil {
			return err
		}
	}
	for _, parent := range sortedNames(all) {
		sum := map[string]int64{}
		for _, child := range sortedNames(all) {
			if p := nearestAncestor(child, all); p == parent {
				for n, v := range all[child].Guarantees {
					sum[n] += millis(v)
				}
			}
		}
		for _, n := range sortedNames(sum) {
			if sum[n] > millis(all[parent].Guarantees[n]) {
				return fmt.Errorf("%w: parent role '%s' with guarantees %s does not hold the sum of its children's guarantees (%s: %v)",
					ErrBadQuota, parent, formatQuantities(all[parent].Guarantees), n, float64(sum[n])/1000)
			}
		}
	}
	return nil
}

// nearestAncestor is the closest proper ancestor of role that has an
// entry in m, or "".
func nearestAncestor[V any](role string, m map[string]V) string {
	for p := parentRole(role); p != ""; p = parentRole(p) {
		if _, ok := m[p]; ok {
			return p
		}
	}
	return ""
}

func parentRole(role string) string {
	i := strings.LastIndexByte(role, '/')
	if i < 0 {
		return ""
	}
	return role[:i]
}

// inSubtree reports whether role is root or below it.
func inSubtree(role, root string) bool {
	return role == root || strings.HasPrefix(role, root+"/")
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func formatQuantities(m map[string]float64) string {
	parts := make([]string, 0, len(m))
	for _, n := range sortedNames(m) {
		parts = append(parts, fmt.Sprintf("%s:%v", n, m[n]))
	}
	return "{" + strings.Join(parts, "; ") + "}"
}

// SetQuotas replaces the whole quota configuration (roles not named have
// the default quota). Either all of it is applied or, on error, none.
func (a *Allocator) SetQuotas(all map[string]Quota) error {
	if err := ValidateQuotas(all); err != nil {
		return fmt.Errorf("set quotas: %w", err)
	}
	qs := map[string]*quota{}
	for role, q := range all {
		if q.Empty() {
			continue
		}
		n := &quota{cfg: Quota{Guarantees: cloneMap(q.Guarantees), Limits: cloneMap(q.Limits)}, guar: map[string]int64{}, limit: map[string]int64{}}
		for k, v := range q.Guarantees {
			if millis(v) > 0 {
				n.guar[k] = millis(v)
			}
		}
		for k, v := range q.Limits {
			n.limit[k] = millis(v)
		}
		qs[role] = n
	}
	a.quotas = qs
	a.epoch++ // agents skipped for want of takers may have takers now
	return nil
}

func cloneMap(m map[string]float64) map[string]float64 {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Quotas returns the quota configuration: every role with a quota.
func (a *Allocator) Quotas() map[string]Quota {
	out := make(map[string]Quota, len(a.quotas))
	for role, q := range a.quotas {
		out[role] = Quota{Guarantees: cloneMap(q.cfg.Guarantees), Limits: cloneMap(q.cfg.Limits)}
	}
	return out
}

// unreserved reports whether r may go to any role.
func unreserved(r api.Resource) bool { return r.Role == "" || r.Role == "*" }

// QuotaConsumed is a role's quota consumption as Mesos reports it
// (RoleResourceBreakdown::consumedQuota): what the role's subtree uses
// plus the resources reserved for it that nobody uses. Offered resources
// are not charged here; the allocator still counts them while it offers.
func (a *Allocator) QuotaConsumed(role string) map[string]float64 {
	m := map[string]int64{}
	for _, n := range a.order {
		for k, al := range n.allocs {
			if inSubtree(k.role, role) {
				addScalars(m, al.used, 1)
			}
		}
		for _, r := range n.free {
			if !unreserved(r) && inSubtree(r.Role, role) {
				addScalars(m, api.Resources{r}, 1)
			}
		}
		// Offered reserved resources are still reservations.
		for k, al := range n.allocs {
			if inSubtree(k.role, role) {
				for _, r := range al.offered {
					if !unreserved(r) && inSubtree(r.Role, role) {
						addScalars(m, api.Resources{r}, 1)
					}
				}
			}
		}
	}
	return fromMillisMap(m)
}

// Total is the scalar total of every agent's resources (Mesos' cluster
// capacity for the quota overcommit check).
func (a *Allocator) Total() map[string]float64 {
	out := map[string]float64{}
	for i, v := range a.total {
		if v != 0 {
			out[a.kinds[i]] = float64(v) / 1000
		}
	}
	return out
}

// UsedScalar is the total of scalar resource name in every agent's Used
// pool: what tasks (and their executors) hold. It is kept as allocations
// change, so reading it costs nothing however many tasks run.
func (a *Allocator) UsedScalar(name string) float64 {
	for i, n := range a.kinds {
		if n == name && i < len(a.used) {
			return float64(a.used[i]) / 1000
		}
	}
	return 0
}

func addScalars(m map[string]int64, rs api.Resources, sign int64) {
	for _, r := range rs {
		if r.Type == api.Scalar && r.Scalar != nil {
			m[r.Name] += sign * millis(r.Scalar.Value)
		}
	}
}

func fromMillisMap(m map[string]int64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		if v != 0 {
			out[k] = float64(v) / 1000
		}
	}
	return out
}

// quotaRound is the quota book-keeping of one allocation round.
type quotaRound struct {
	a        *Allocator
	consumed map[string]map[string]int64 // role with quota → offered+used+free reserved of its subtree
	// available is the free unreserved scalars of every agent (Mesos'
	// available headroom); required the unsatisfied guarantees of the
	// top-most guaranteed roles (Mesos' required headroom).
	available map[string]int64
	required  map[string]int64

	// Caches of limitRoom and surplus, valid until the next charge.
	rooms      map[string]map[string]int64
	surplusVal map[string]int64
	surplusOK  bool
}

func (a *Allocator) newQuotaRound() *quotaRound {
	q := &quotaRound{a: a, consumed: map[string]map[string]int64{}, available: map[string]int64{}, rooms: map[string]map[string]int64{}}
	for role := range a.quotas {
		q.consumed[role] = map[string]int64{}
	}
	for _, r := range a.roles {
		for root, c := range q.consumed {
			if inSubtree(r.name, root) {
				for i, v := range r.alloc {
					c[a.kinds[i]] += v
				}
			}
		}
	}
	for _, n := range a.order {
		for _, r := range n.free {
			if r.Type != api.Scalar || r.Scalar == nil {
				continue
			}
			if unreserved(r) {
				q.available[r.Name] += millis(r.Scalar.Value)
				continue
			}
			for root, c := range q.consumed {
				if inSubtree(r.Role, root) {
					c[r.Name] += millis(r.Scalar.Value)
				}
			}
		}
	}
	q.updateRequired()
	return q
}

func (q *quotaRound) updateRequired() {
	q.required = map[string]int64{}
	for role, qu := range q.a.quotas {
		if len(qu.guar) == 0 || nearestGuaranteed(role, q.a.quotas) != "" {
			continue
		}
		for n, g := range qu.guar {
			if need := g - q.consumed[role][n]; need > 0 {
				q.required[n] += need
			}
		}
	}
}

// nearestGuaranteed is the closest proper ancestor of role with a
// guarantee, or "".
func nearestGuaranteed(role string, qs map[string]*quota) string {
	for p := parentRole(role); p != ""; p = parentRole(p) {
		if q, ok := qs[p]; ok && len(q.guar) > 0 {
			return p
		}
	}
	return ""
}

// unsatisfied is what role may still take towards a guarantee: the
// guarantee of the role, or of its nearest guaranteed ancestor, minus that
// role's consumption; only the names still short.
func (q *quotaRound) unsatisfied(role string) map[string]int64 {
	g := role
	if qu, ok := q.a.quotas[role]; !ok || len(qu.guar) == 0 {
		g = nearestGuaranteed(role, q.a.quotas)
		if g == "" {
			return nil
		}
	}
	out := map[string]int64{}
	for n, v := range q.a.quotas[g].guar {
		if need := v - q.consumed[g][n]; need > 0 {
			out[n] = need
		}
	}
	return out
}

// limitRoom is how much more role may consume per limited name: the least
// room under the limits of the role and of its ancestors (never negative).
// Names absent are unlimited.
func (q *quotaRound) limitRoom(role string) map[string]int64 {
	if room, ok := q.rooms[role]; ok {
		return room
	}
	var out map[string]int64
	defer func() { q.rooms[role] = out }()
	for x := role; x != ""; x = parentRole(x) {
		qu, ok := q.a.quotas[x]
		if !ok || len(qu.limit) == 0 {
			continue
		}
		if out == nil {
			out = map[string]int64{}
		}
		for n, l := range qu.limit {
			room := max(0, l-q.consumed[x][n])
			if cur, ok := out[n]; !ok || room < cur {
				out[n] = room
			}
		}
	}
	return out
}

// surplus is what may go to roles beyond their guarantees without eating
// into the required headroom; nil when nothing is required.
func (q *quotaRound) surplus() map[string]int64 {
	if q.surplusOK {
		return q.surplusVal
	}
	q.surplusVal, q.surplusOK = q.computeSurplus(), true
	return q.surplusVal
}

func (q *quotaRound) computeSurplus() map[string]int64 {
	if len(q.required) == 0 {
		return nil
	}
	out := make(map[string]int64, len(q.required))
	for n, r := range q.required {
		out[n] = max(0, q.available[n]-r)
	}
	return out
}

// charge books unreserved scalars just offered to role.
func (q *quotaRound) charge(role string, rs api.Resources) {
	for root, c := range q.consumed {
		if inSubtree(role, root) {
			addScalars(c, rs, 1)
		}
	}
	addScalars(q.available, rs, -1)
	q.updateRequired()
	clear(q.rooms)
	q.surplusOK = false
}

// splitQuota splits resources offerable to a role into the unreserved
// scalars (what quota governs) and the rest (reservations and non-scalars,
// offered whatever the quota).
func splitQuota(rs api.Resources) (quotaRes, rest api.Resources) {
	for _, r := range rs {
		if r.Type == api.Scalar && unreserved(r) {
			quotaRes = append(quotaRes, r)
		} else {
			rest = append(rest, r)
		}
	}
	return quotaRes, rest
}

// shrink cuts the scalars of rs so that each name in bound totals at most
// its bound; names not in bound are kept whole if keepOthers, else dropped
// (Mesos' shrinkResources against limits and against quantities).
func shrink(rs api.Resources, bound map[string]int64, keepOthers bool) api.Resources {
	if bound == nil && keepOthers {
		return rs
	}
	left := make(map[string]int64, len(bound))
	for k, v := range bound {
		left[k] = v
	}
	var out api.Resources
	for _, r := range rs {
		b, ok := left[r.Name]
		if !ok {
			if keepOthers {
				out = append(out, r)
			}
			continue
		}
		v := millis(r.Scalar.Value)
		take := min(v, b)
		if take <= 0 {
			continue
		}
		left[r.Name] = b - take
		if take < v {
			r.Scalar = &api.ScalarVal{Value: float64(take) / 1000}
		}
		out = append(out, r)
	}
	return out
}

// uncut reports whether shrink left rs whole (same entries, same values).
func uncut(shrunk, rs api.Resources) bool {
	if len(shrunk) != len(rs) {
		return false
	}
	for i := range rs {
		if shrunk[i].Name != rs[i].Name || shrunk[i].Scalar.Value != rs[i].Scalar.Value {
			return false
		}
	}
	return true
}

func minus(x map[string]int64, rs api.Resources) map[string]int64 {
	if x == nil {
		return nil
	}
	out := make(map[string]int64, len(x))
	for k, v := range x {
		out[k] = v
	}
	addScalars(out, rs, -1)
	for k, v := range out {
		out[k] = max(0, v)
	}
	return out
}

// allocateQuota is Allocate when some role has a quota: stage 1 for
// guarantees, stage 2 for everyone, both within limits and headroom. The
// blocked cache is not used: quota makes an agent's fate depend on what
// other agents hold.
func (a *Allocator) allocateQuota(now time.Time, cands []*role) []Offer {
	q := a.newQuotaRound()
	var offers []Offer
	sorted := true
	for stage := 1; stage <= 2; stage++ {
		for _, n := range a.order {
			if !n.active || !a.listed(n) || !a.allocatable(n.free) {
				continue
			}
			if !sorted {
				a.sortCandidates()
				sorted = true
			}
			for _, r := range cands {
				avail := offerableTo(n.free, r.name)
				quotaRes, rest := splitQuota(avail)
				room := q.limitRoom(r.name)
				var charged, rs api.Resources
				if stage == 1 {
					unsat := q.unsatisfied(r.name)
					if len(unsat) == 0 {
						continue
					}
					g := shrink(shrink(quotaRes, unsat, false), room, true)
					if len(g) == 0 {
						continue // nothing here helps the guarantee
					}
					more := shrink(shrink(quotaRes.Subtract(g), minus(room, g), true), q.surplus(), true)
					charged = g.Add(more)
				} else {
					charged = shrink(shrink(quotaRes, room, true), q.surplus(), true)
				}
				if uncut(charged, quotaRes) {
					rs = avail // nothing held back: keep the agent's bag (agent.take's fast path)
				} else {
					rs = charged.Add(rest)
				}
				if !a.allocatable(rs) {
					continue
				}
				i, _ := a.pick(r, n, rs, now)
				if i < 0 {
					continue
				}
				offers = append(offers, a.offer(n, r, i, rs))
				q.charge(r.name, charged)
				sorted = false
				if !a.allocatable(n.free) {
					break
				}
			}
		}
	}
	return offers
}

// offer makes an offer of rs on n to r's i-th candidate framework and
// updates the shares.
func (a *Allocator) offer(n *agent, r *role, i int, rs api.Resources) Offer {
	c := &r.fws[i]
	o := Offer{FrameworkID: c.f.info.ID, Role: r.name, AgentID: n.info.ID, Hostname: n.info.Hostname, Resources: rs}
	a.track(n, allocKey{c.f.info.ID, r.name}, Offered, rs)
	r.share = a.dominant(r.alloc) / a.Weight(r.name)
	c.share = a.dominant(r.held(c.f.info.ID))
	r.dirty = true
	return o
}

// RoleInfo is one role's standing, for /roles and GET_ROLES.
type RoleInfo struct {
	Role       string
	Weight     float64
	Quota      Quota
	Offered    api.Resources // offered to the role's frameworks
	Used       api.Resources // used by its tasks and executors (Mesos "allocated")
	Reserved   api.Resources // reserved for the role on every agent
	Consumed   map[string]float64
	Frameworks []string // subscribed, by id
}

// Roles lists every role that has subscribers, allocations, a weight, a
// quota or reservations, by name.
func (a *Allocator) Roles() []RoleInfo {
	byName := map[string]*RoleInfo{}
	get := func(name string) *RoleInfo {
		ri := byName[name]
		if ri == nil {
			ri = &RoleInfo{Role: name, Weight: a.Weight(name)}
			byName[name] = ri
		}
		return ri
	}
	for name, r := range a.roles {
		ri := get(name)
		for id := range r.subscribers {
			ri.Frameworks = append(ri.Frameworks, id)
		}
	}
	for name := range a.weights {
		get(name)
	}
	for name, q := range a.quotas {
		get(name).Quota = Quota{Guarantees: cloneMap(q.cfg.Guarantees), Limits: cloneMap(q.cfg.Limits)}
	}
	for _, n := range a.order {
		for k, al := range n.allocs {
			ri := get(k.role)
			ri.Offered = ri.Offered.Add(al.offered)
			ri.Used = ri.Used.Add(al.used)
		}
		for _, r := range n.info.Resources {
			if !unreserved(r) {
				ri := get(r.Role)
				ri.Reserved = ri.Reserved.Add(api.Resources{r})
			}
		}
	}
	out := make([]RoleInfo, 0, len(byName))
	for _, ri := range byName {
		slices.Sort(ri.Frameworks)
		ri.Consumed = a.QuotaConsumed(ri.Role)
		out = append(out, *ri)
	}
	slices.SortFunc(out, func(x, y RoleInfo) int { return cmp.Compare(x.Role, y.Role) })
	return out
}
