package cluster

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"nodectl/cluster/api"
	"nodectl/cluster/internal/alloc"
)

// Roles, weights and quota (Mesos: https://mesos.apache.org/documentation/latest/roles/,
// .../weights/, .../quota/; src/master/quota_handler.cpp and
// src/master/weights_handler.cpp in apache/mesos):
//
//   - Weights: a role's DRF share is its dominant share over its weight
//     (alloc). --weights sets them at start; UPDATE_WEIGHTS and PUT
//     /weights change them. Once weights were written to the registry they
//     win over --weights, as in Mesos.
//   - Quota: Mesos 1.9's QuotaConfig (guarantees and limits) per role,
//     enforced by the allocator (cluster/internal/alloc/quota.go). Set with
//     UPDATE_QUOTA, or the legacy SET_QUOTA / POST /quota, which sets
//     guarantee and limit alike as Mesos 1.9 does; removed with
//     REMOVE_QUOTA / DELETE /quota/<role>.
//   - --roles: frameworks may subscribe only in the listed roles (and "*");
//     weights and quota are refused for other roles.
//   - --whitelist: a file of agent hostnames; only those agents' resources
//     are offered. It is re-read every whitelistInterval (Mesos' watcher
//     period, 5 s); an unreadable file keeps the last list.
//
// Weights and quota are one registry record, written fenced before they
// take effect, and reloaded by every new leader.

// keyRoles holds the roles record (Mesos' Registry.weights and
// Registry.quotas).
const keyRoles = "/nodectl/registry/roles"

// whitelistInterval is how often --whitelist is re-read (Mesos'
// WHITELIST_WATCH_INTERVAL).
const whitelistInterval = 5 * time.Second

// RolesConfig is the master's role policy (Mesos' --weights, --roles,
// --whitelist).
type RolesConfig struct {
	// Weights are the initial role weights, used until the registry holds
	// weights of its own.
	Weights map[string]float64
	// Whitelist lists the roles frameworks may use ("*" is always
	// allowed); empty allows every role.
	Whitelist []string
	// AgentWhitelist is the path of a file of agent hostnames, one a line
	// (or file:///path); only those agents get offered. Empty: all agents.
	AgentWhitelist string
}

// rolesRecord is the registry's roles state.
type rolesRecord struct {
	// Weights are set once any weight was written (WeightsSet).
	Weights    map[string]float64     `json:"weights,omitempty"`
	WeightsSet bool                   `json:"weights_set,omitempty"`
	Quotas     map[string]alloc.Quota `json:"quotas,omitempty"`
}

func (r rolesRecord) clone() rolesRecord {
	out := rolesRecord{Weights: maps.Clone(r.Weights), WeightsSet: r.WeightsSet, Quotas: map[string]alloc.Quota{}}
	for k, q := range r.Quotas {
		out.Quotas[k] = alloc.Quota{Guarantees: maps.Clone(q.Guarantees), Limits: maps.Clone(q.Limits)}
	}
	return out
}

// rolesState is the master's roles state (guarded by Master.mu).
type rolesState struct {
	rec rolesRecord
	// agents is the --whitelist content (lower-case hostnames), nil for
	// none; read when the file was last read.
	agents map[string]bool
	read   time.Time
}

// ValidateRolesConfig checks the flags: weights positive and their roles
// valid and whitelisted, whitelist roles valid.
func ValidateRolesConfig(c RolesConfig) error {
	for _, r := range c.Whitelist {
		if err := api.ValidateRole(r); err != nil {
			return fmt.Errorf("--roles: %w", err)
		}
	}
	for _, r := range slices.Sorted(maps.Keys(c.Weights)) {
		w := c.Weights[r]
		if err := api.ValidateRole(r); err != nil {
			return fmt.Errorf("--weights: %w", err)
		}
		if !whitelisted(c.Whitelist, r) {
			return fmt.Errorf("--weights: invalid weight '%s=%v': %s is not a role of --roles", r, w, r)
		}
		if !(w > 0) {
			return fmt.Errorf("--weights: invalid weight '%s=%v': weights must be positive", r, w)
		}
	}
	return nil
}

// ParseWeights parses Mesos' --weights syntax "role=weight,role=weight".
func ParseWeights(s string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, tok := range strings.Split(s, ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		role, ws, ok := strings.Cut(tok, "=")
		if !ok || role == "" {
			return nil, fmt.Errorf("invalid weight '%s': --weights should be of the form 'role=weight,role=weight'", tok)
		}
		w, err := strconv.ParseFloat(ws, 64)
		if err != nil || !(w > 0) || w > 1e9 {
			return nil, fmt.Errorf("invalid weight '%s': weights must be positive numbers", tok)
		}
		out[role] = w
	}
	return out, nil
}

func whitelisted(list []string, role string) bool {
	return len(list) == 0 || role == "*" || slices.Contains(list, role)
}

// roleAllowed checks role against --roles.
func (m *Master) roleAllowed(role string) error {
	if whitelisted(m.cfg.Roles.Whitelist, role) {
		return nil
	}
	return fmt.Errorf("%w: role '%s' is not on the master's --roles whitelist (%s)", ErrBadRequest, role, strings.Join(m.cfg.Roles.Whitelist, ","))
}

// checkFrameworkRoles refuses a framework whose roles are not all in
// --roles, with Mesos' message.
func (m *Master) checkFrameworkRoles(roles []string) error {
	var bad []string
	for _, r := range roles {
		if !whitelisted(m.cfg.Roles.Whitelist, r) {
			bad = append(bad, r)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%w: roles { %s } are not present in the master's --roles (%s)", ErrBadCall, strings.Join(bad, ", "), strings.Join(m.cfg.Roles.Whitelist, ","))
}

// loadRoles reads the roles record; none is an empty one.
func loadRoles(ctx context.Context, st store) (rolesRecord, bool, error) {
	return loadRecord[rolesRecord](ctx, st, keyRoles) // maintenance.go
}

// restoreRolesLocked installs the recovered roles record in the new
// term's allocator.
func (m *Master) restoreRolesLocked(rec rolesRecord) {
	m.roleState.rec = rec.clone()
	weights := m.cfg.Roles.Weights
	if rec.WeightsSet {
		if len(m.cfg.Roles.Weights) > 0 {
			m.log.Warn("the registry's weights win over --weights, as in Mesos; change them with UPDATE_WEIGHTS or PUT /weights")
		}
		weights = rec.Weights
	}
	if err := m.alloc.UpdateWeights(weights); err != nil {
		m.log.Error("recovered weights refused", "err", err)
	}
	if err := m.alloc.SetQuotas(rec.Quotas); err != nil {
		m.log.Error("recovered quota refused; roles run without quota", "err", err)
	}
	m.alloc.SetAgentWhitelist(m.roleState.agents)
}

// weightsLocked are the weights in effect.
func (m *Master) weightsLocked() map[string]float64 {
	if m.roleState.rec.WeightsSet {
		return maps.Clone(m.roleState.rec.Weights)
	}
	return maps.Clone(m.cfg.Roles.Weights)
}

// commitRoles writes the roles record fenced, then applies it, under the
// registrar as every registry change. check runs first, under the lock,
// on a copy of the current record and returns the new one.
func (m *Master) commitRoles(ctx context.Context, check func(cur rolesRecord) (rolesRecord, error), apply func(rec rolesRecord) error) error {
	m.registrar.Lock()
	defer m.registrar.Unlock()
	m.mu.Lock()
	if !m.elected {
		m.mu.Unlock()
		return ErrNotLeader
	}
	cur := m.roleState.rec.clone()
	if !cur.WeightsSet {
		cur.Weights = m.weightsLocked()
	}
	rec, err := check(cur)
	wb := m.wb
	m.mu.Unlock()
	if err != nil {
		return err
	}
	if err := wb.st.commit(ctx, []op{{kind: opPut, key: keyRoles, val: rec.clone()}}); err != nil {
		return fmt.Errorf("write roles state: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.elected || m.wb != wb {
		return ErrNotLeader
	}
	m.roleState.rec = rec
	err = apply(rec)
	m.kick()
	return err
}

// UpdateWeights sets role weights (UPDATE_WEIGHTS, PUT /weights); roles
// not named keep theirs.
func (m *Master) UpdateWeights(ctx context.Context, weights map[string]float64) error {
	for _, r := range slices.Sorted(maps.Keys(weights)) {
		w := weights[r]
		if err := api.ValidateRole(r); err != nil {
			return fmt.Errorf("%w: invalid role '%s': %w", ErrBadRequest, r, err)
		}
		if err := m.roleAllowed(r); err != nil {
			return err
		}
		if !(w > 0) || w > 1e9 {
			return fmt.Errorf("%w: invalid weight %v for role '%s': weights must be positive", ErrBadRequest, w, r)
		}
	}
	return m.commitRoles(ctx, func(cur rolesRecord) (rolesRecord, error) {
		if cur.Weights == nil {
			cur.Weights = map[string]float64{}
		}
		for r, w := range weights {
			if w == 1 {
				delete(cur.Weights, r)
			} else {
				cur.Weights[r] = w
			}
		}
		cur.WeightsSet = true
		return cur, nil
	}, func(rec rolesRecord) error {
		if err := m.alloc.UpdateWeights(weights); err != nil {
			return fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		m.log.Info("role weights updated", "weights", fmt.Sprint(weights))
		return nil
	})
}

// QuotaConfig is one role's quota in Mesos' QuotaConfig JSON shape
// (values as {"value": n}).
type QuotaConfig struct {
	Role       string                   `json:"role"`
	Guarantees map[string]api.ScalarVal `json:"guarantees,omitempty"`
	Limits     map[string]api.ScalarVal `json:"limits,omitempty"`
}

func (c QuotaConfig) quota() alloc.Quota {
	conv := func(m map[string]api.ScalarVal) map[string]float64 {
		if len(m) == 0 {
			return nil
		}
		out := make(map[string]float64, len(m))
		for k, v := range m {
			out[k] = v.Value
		}
		return out
	}
	return alloc.Quota{Guarantees: conv(c.Guarantees), Limits: conv(c.Limits)}
}

func quotaConfig(role string, q alloc.Quota) QuotaConfig {
	conv := func(m map[string]float64) map[string]api.ScalarVal {
		if m == nil {
			return nil
		}
		out := make(map[string]api.ScalarVal, len(m))
		for k, v := range m {
			out[k] = api.ScalarVal{Value: v}
		}
		return out
	}
	return QuotaConfig{Role: role, Guarantees: conv(q.Guarantees), Limits: conv(q.Limits)}
}

// UpdateQuota applies quota configs all or nothing (UPDATE_QUOTA). A
// config with no guarantees and no limits removes the role's quota.
// Unless force, a limit below the role's current consumption and
// guarantees beyond the cluster's capacity are refused, as in Mesos.
// Offers of roles whose quota changed are rescinded so that the next ones
// respect it.
func (m *Master) UpdateQuota(ctx context.Context, configs []QuotaConfig, force bool) error {
	seen := map[string]bool{}
	for _, c := range configs {
		if c.Role == "" {
			return fmt.Errorf("%w: invalid QuotaConfig: 'QuotaConfig.role' must be set", ErrBadRequest)
		}
		if seen[c.Role] {
			return fmt.Errorf("%w: invalid QuotaConfig: role '%s' appears more than once", ErrBadRequest, c.Role)
		}
		seen[c.Role] = true
		if err := m.roleAllowed(c.Role); err != nil {
			return fmt.Errorf("invalid QuotaConfig: %w", err)
		}
		if err := alloc.ValidateQuota(c.Role, c.quota()); err != nil {
			return fmt.Errorf("%w: invalid QuotaConfig: %w", ErrBadRequest, err)
		}
	}
	return m.commitRoles(ctx, func(cur rolesRecord) (rolesRecord, error) {
		for _, c := range configs {
			q := c.quota()
			if !force && len(q.Limits) > 0 {
				consumed := m.alloc.QuotaConsumed(c.Role)
				for _, n := range slices.Sorted(maps.Keys(q.Limits)) {
					if consumed[n] > q.Limits[n] {
						return cur, fmt.Errorf("%w: invalid QuotaConfig: role '%s' is already consuming %s:%v; this is more than the requested limit %s:%v (use 'force' to bypass this check)",
							ErrBadRequest, c.Role, n, consumed[n], n, q.Limits[n])
					}
				}
			}
			if q.Empty() {
				delete(cur.Quotas, c.Role)
			} else {
				cur.Quotas[c.Role] = q
			}
		}
		if err := alloc.ValidateQuotas(cur.Quotas); err != nil {
			return cur, fmt.Errorf("%w: invalid QuotaConfig: %w", ErrBadRequest, err)
		}
		if !force {
			if err := m.capacityCheckLocked(cur.Quotas); err != nil {
				return cur, err
			}
		}
		return cur, nil
	}, func(rec rolesRecord) error {
		if err := m.alloc.SetQuotas(rec.Quotas); err != nil {
			return fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		for _, c := range configs {
			m.rescindRoleOffersLocked(c.Role)
		}
		m.log.Info("quota updated", "roles", len(configs), "quota_roles", len(rec.Quotas), "force", force)
		return nil
	})
}

// capacityCheckLocked is Mesos' overcommit check: the top-level roles'
// guarantees must fit in the registered agents' total.
func (m *Master) capacityCheckLocked(qs map[string]alloc.Quota) error {
	total := m.alloc.Total()
	sum := map[string]float64{}
	for role, q := range qs {
		if guaranteedAncestor(role, qs) {
			continue // held by an ancestor's guarantee (ValidateQuotas)
		}
		for n, v := range q.Guarantees {
			sum[n] += v
		}
	}
	for _, n := range slices.Sorted(maps.Keys(sum)) {
		if sum[n] > total[n]+1e-9 {
			return fmt.Errorf("%w: invalid QuotaConfig: total quota guarantees %s:%v exceed cluster capacity %s:%v (use 'force' to bypass this check)",
				ErrBadRequest, n, sum[n], n, total[n])
		}
	}
	return nil
}

// guaranteedAncestor reports whether a role above role has guarantees.
func guaranteedAncestor(role string, qs map[string]alloc.Quota) bool {
	for i := strings.LastIndexByte(role, '/'); i > 0; i = strings.LastIndexByte(role, '/') {
		role = role[:i]
		if len(qs[role].Guarantees) > 0 {
			return true
		}
	}
	return false
}

// rescindRoleOffersLocked rescinds the outstanding offers made to role or
// to a role below it.
func (m *Master) rescindRoleOffersLocked(role string) {
	for _, o := range sortedOffers(m.offers) {
		if o.role == role || strings.HasPrefix(o.role, role+"/") {
			m.rescindLocked(o)
		}
	}
}

// SetQuota is the legacy SET_QUOTA / POST /quota: guarantees, which Mesos
// 1.9 also takes as the limits. The role must have no quota yet.
func (m *Master) SetQuota(ctx context.Context, role string, guarantee api.Resources, force bool) error {
	if role == "" {
		return fmt.Errorf("%w: failed to validate set quota request: 'role' must be set", ErrBadRequest)
	}
	q := map[string]api.ScalarVal{}
	for _, r := range guarantee {
		switch {
		case r.Type != api.Scalar || r.Scalar == nil:
			return fmt.Errorf("%w: failed to validate set quota request: resource '%s' is not a scalar; quota applies to scalars only", ErrBadRequest, r.Name)
		case r.Role != "" && r.Role != "*" || r.Reservation != nil || len(r.Reservations) > 0 || r.Disk != nil:
			return fmt.Errorf("%w: failed to validate set quota request: resource '%s' must be unreserved, with no disk info", ErrBadRequest, r.Name)
		case q[r.Name] != (api.ScalarVal{}):
			return fmt.Errorf("%w: failed to validate set quota request: resource '%s' appears more than once", ErrBadRequest, r.Name)
		}
		q[r.Name] = api.ScalarVal{Value: r.Scalar.Value}
	}
	m.mu.Lock()
	_, exists := m.roleState.rec.Quotas[role]
	m.mu.Unlock()
	if exists {
		return fmt.Errorf("%w: failed to validate set quota request: cannot set quota for role '%s' which already has quota", ErrBadRequest, role)
	}
	return m.UpdateQuota(ctx, []QuotaConfig{{Role: role, Guarantees: q, Limits: q}}, force)
}

// RemoveQuota is REMOVE_QUOTA / DELETE /quota/<role>.
func (m *Master) RemoveQuota(ctx context.Context, role string) error {
	m.mu.Lock()
	_, exists := m.roleState.rec.Quotas[role]
	m.mu.Unlock()
	if !exists {
		return fmt.Errorf("%w: failed to remove quota: role '%s' has no quota set", ErrBadRequest, role)
	}
	return m.UpdateQuota(ctx, []QuotaConfig{{Role: role}}, true)
}

// quotaConfigs are the configured quotas, by role.
func (m *Master) quotaConfigs() ([]QuotaConfig, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.elected {
		return nil, ErrNotLeader
	}
	out := []QuotaConfig{}
	for _, role := range slices.Sorted(maps.Keys(m.roleState.rec.Quotas)) {
		out = append(out, quotaConfig(role, m.roleState.rec.Quotas[role]))
	}
	return out, nil
}

// refreshAgentWhitelist re-reads --whitelist when it is due; called by
// the allocation loop before each round. A file that cannot be read keeps
// the last list (Mesos' watcher logs and keeps it too).
func (m *Master) refreshAgentWhitelist() {
	path := strings.TrimPrefix(m.cfg.Roles.AgentWhitelist, "file://")
	if path == "" || path == "*" { // Mesos' old spelling of "all agents"
		return
	}
	now := m.cfg.Now()
	m.mu.Lock()
	due := m.roleState.read.IsZero() || now.Sub(m.roleState.read) >= whitelistInterval
	m.mu.Unlock()
	if !due {
		return
	}
	b, err := os.ReadFile(path)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roleState.read = now
	if err != nil {
		m.log.Warn("read --whitelist; keeping the last list", "path", path, "err", err)
		return
	}
	hosts := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if h := strings.ToLower(strings.TrimSpace(line)); h != "" && !strings.HasPrefix(h, "#") {
			hosts[h] = true
		}
	}
	if maps.Equal(hosts, m.roleState.agents) {
		return
	}
	m.roleState.agents = hosts
	m.log.Info("agent whitelist updated", "path", path, "agents", len(hosts))
	if m.alloc != nil {
		m.alloc.SetAgentWhitelist(hosts)
		for _, a := range m.sortedAgentsLocked() {
			if !hosts[strings.ToLower(a.Info.Hostname)] {
				m.rescindAgentOffersLocked(a)
			}
		}
	}
}

// Mesos' pause after a failover when quota is set (docs/quota.md,
// "Implementation Notes"): the allocator makes no offers until 80% of the
// recovered agents are back or 10 minutes have passed, since the tasks on
// agents not back yet still count against limits the allocator cannot see.
const (
	quotaRecoveryShare   = 0.8
	quotaRecoveryTimeout = 10 * time.Minute
)

// quotaPausedLocked reports whether allocation waits for recovered agents.
func (m *Master) quotaPausedLocked(now time.Time) bool {
	total := m.removals.recoveredAgents
	if total == 0 || len(m.roleState.rec.Quotas) == 0 || !now.Before(m.electedTime.Add(quotaRecoveryTimeout)) {
		return false
	}
	pending := 0
	for _, a := range m.agents {
		if a.recovered {
			pending++
		}
	}
	return float64(pending) > (1-quotaRecoveryShare)*float64(total)+1e-9
}
