package cluster

import (
	"fmt"
	"maps"
	"net/http"
	"slices"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
	"nodectl/cluster/internal/alloc"
)

// The roles, weights and quota endpoints (Mesos' /roles, /weights,
// /quota, with and without /master) and operator calls (GET_ROLES,
// GET_WEIGHTS, UPDATE_WEIGHTS, GET_QUOTA, UPDATE_QUOTA, SET_QUOTA,
// REMOVE_QUOTA). Reads need get_endpoints; changes Mesos' update_weight
// and update_quota ACLs, checked on every role they touch.

func (m *Master) quotaRoutes() []auth.Route {
	var rs []auth.Route
	both := func(method, path string, perm auth.Perm, h http.HandlerFunc) {
		rs = append(rs, auth.Route{Pattern: method + " " + path, Perm: perm, Handler: m.leaderOnly(h)},
			auth.Route{Pattern: method + " /master" + path, Perm: perm, Handler: m.leaderOnly(h)})
	}
	both("PUT", "/weights", auth.UpdateWeight, func(w http.ResponseWriter, r *http.Request) {
		var infos []weightInfo
		if !readStrict(w, r, &infos) {
			return
		}
		m.answer(w, m.updateWeightsCall(r, infos))
	})
	both("POST", "/quota", auth.UpdateQuota, func(w http.ResponseWriter, r *http.Request) {
		var req quotaRequest
		if !readStrict(w, r, &req) {
			return
		}
		m.answer(w, m.setQuotaCall(r, req))
	})
	both("DELETE", "/quota/{role...}", auth.UpdateQuota, func(w http.ResponseWriter, r *http.Request) {
		m.answer(w, m.removeQuotaCall(r, r.PathValue("role")))
	})
	return rs
}

// weightInfo is Mesos' WeightInfo.
type weightInfo struct {
	Role   string  `json:"role"`
	Weight float64 `json:"weight"`
}

// quotaRequest is Mesos' QuotaRequest (POST /quota, SET_QUOTA).
type quotaRequest struct {
	Force     bool          `json:"force,omitempty"`
	Role      string        `json:"role"`
	Guarantee api.Resources `json:"guarantee"`
}

// permitRoles checks perm on every role.
func (m *Master) permitRoles(r *http.Request, perm auth.Perm, roles []string) error {
	for _, role := range roles {
		if !m.allowed(r, perm, role) {
			p, _ := auth.From(r.Context())
			return fmt.Errorf("%w: principal '%s' may not %s for role '%s'", api.ErrForbidden, p.Name, perm, role)
		}
	}
	return nil
}

func (m *Master) updateWeightsCall(r *http.Request, infos []weightInfo) error {
	weights := map[string]float64{}
	for _, wi := range infos {
		if _, dup := weights[wi.Role]; dup {
			return fmt.Errorf("%w: role '%s' appears more than once", ErrBadRequest, wi.Role)
		}
		weights[wi.Role] = wi.Weight
	}
	if len(weights) == 0 {
		return fmt.Errorf("%w: no weights given: send a list of {\"role\": ..., \"weight\": ...}", ErrBadRequest)
	}
	if err := m.permitRoles(r, auth.UpdateWeight, slices.Sorted(maps.Keys(weights))); err != nil {
		return err
	}
	return m.UpdateWeights(r.Context(), weights)
}

func (m *Master) setQuotaCall(r *http.Request, req quotaRequest) error {
	if err := m.permitRoles(r, auth.UpdateQuota, []string{req.Role}); err != nil {
		return err
	}
	return m.SetQuota(r.Context(), req.Role, req.Guarantee, req.Force)
}

func (m *Master) removeQuotaCall(r *http.Request, role string) error {
	if err := m.permitRoles(r, auth.UpdateQuota, []string{role}); err != nil {
		return err
	}
	return m.RemoveQuota(r.Context(), role)
}

func (m *Master) updateQuotaCall(r *http.Request, configs []QuotaConfig, force bool) error {
	roles := make([]string, len(configs))
	for i, c := range configs {
		roles[i] = c.Role
	}
	if err := m.permitRoles(r, auth.UpdateQuota, roles); err != nil {
		return err
	}
	return m.UpdateQuota(r.Context(), configs, force)
}

// quotaCall is the part of an operator Call the quota and weight calls
// read (master.proto's Call.UpdateWeights, UpdateQuota, SetQuota,
// RemoveQuota).
type quotaCall struct {
	Type          string `json:"type"`
	UpdateWeights *struct {
		WeightInfos []weightInfo `json:"weight_infos"`
	} `json:"update_weights,omitempty"`
	UpdateQuota *struct {
		Force        bool          `json:"force,omitempty"`
		QuotaConfigs []QuotaConfig `json:"quota_configs"`
	} `json:"update_quota,omitempty"`
	SetQuota *struct {
		QuotaRequest quotaRequest `json:"quota_request"`
	} `json:"set_quota,omitempty"`
	RemoveQuota *struct {
		Role string `json:"role"`
	} `json:"remove_quota,omitempty"`
}

// quotaOperator serves the operator calls that change weights and quota;
// false for other calls. The route's permission is get_endpoints: each
// call checks its own here, on every role it names.
func (m *Master) quotaOperator(w http.ResponseWriter, r *http.Request, typ string, body []byte) bool {
	perms := map[string]auth.Perm{
		"UPDATE_WEIGHTS": auth.UpdateWeight, "UPDATE_QUOTA": auth.UpdateQuota, "SET_QUOTA": auth.UpdateQuota, "REMOVE_QUOTA": auth.UpdateQuota,
	}
	if _, ok := perms[typ]; !ok {
		return false
	}
	var call quotaCall
	missing, ok := decodeOperatorCall(w, typ, body, &call)
	if !ok {
		return true
	}
	switch typ {
	case "UPDATE_WEIGHTS":
		if call.UpdateWeights == nil {
			return missing("update_weights")
		}
		m.answer(w, m.updateWeightsCall(r, call.UpdateWeights.WeightInfos))
	case "UPDATE_QUOTA":
		if call.UpdateQuota == nil {
			return missing("update_quota")
		}
		m.answer(w, m.updateQuotaCall(r, call.UpdateQuota.QuotaConfigs, call.UpdateQuota.Force))
	case "SET_QUOTA":
		if call.SetQuota == nil {
			return missing("set_quota")
		}
		m.answer(w, m.setQuotaCall(r, call.SetQuota.QuotaRequest))
	case "REMOVE_QUOTA":
		if call.RemoveQuota == nil {
			return missing("remove_quota")
		}
		m.answer(w, m.removeQuotaCall(r, call.RemoveQuota.Role))
	}
	return true
}

// weightInfos are the weights in effect, as Mesos' WeightInfo list.
func (m *Master) weightInfos() []weightInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []weightInfo{}
	if !m.elected {
		return out
	}
	ws := m.weightsLocked()
	for _, role := range slices.Sorted(maps.Keys(ws)) {
		out = append(out, weightInfo{Role: role, Weight: ws[role]})
	}
	return out
}

// quotaStatus is Mesos' QuotaStatus: the legacy infos (guarantees as
// resources) and the 1.9 configs.
func (m *Master) quotaStatus() map[string]any {
	configs, err := m.quotaConfigs()
	if err != nil {
		configs = []QuotaConfig{}
	}
	infos := []map[string]any{}
	for _, c := range configs {
		g := api.Resources{}
		for _, n := range slices.Sorted(maps.Keys(c.Guarantees)) {
			g = append(g, api.ScalarResource(n, c.Guarantees[n].Value))
		}
		infos = append(infos, map[string]any{"role": c.Role, "guarantee": g})
	}
	return map[string]any{"infos": infos, "configs": configs}
}

// roleInfos are the allocator's roles with their frameworks; those of
// registered frameworks the allocator no longer tracks (none in practice)
// are not invented.
func (m *Master) roleInfos() []alloc.RoleInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.elected || m.alloc == nil {
		return nil
	}
	return m.alloc.Roles()
}

// nonNilMap is m, or an empty map for nil (JSON {} rather than null).
func nonNilMap(m map[string]float64) map[string]float64 {
	if m == nil {
		return map[string]float64{}
	}
	return m
}

func summary(rs api.Resources) map[string]any { return rs.Summary() }

func quantities(m map[string]float64) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// rolesV1 are GET_ROLES' roles: Mesos' Role (name, weight, frameworks,
// resources) plus, as /roles has them, quota, allocated, offered and
// reserved.
func (m *Master) rolesV1() []map[string]any {
	out := []map[string]any{}
	for _, ri := range m.roleInfos() {
		ids := []map[string]string{}
		for _, id := range ri.Frameworks {
			ids = append(ids, map[string]string{"value": id})
		}
		q := quotaConfig(ri.Role, alloc.Quota{Guarantees: nonNilMap(ri.Quota.Guarantees), Limits: nonNilMap(ri.Quota.Limits)})
		consumed := quotaConfig(ri.Role, alloc.Quota{Guarantees: nonNilMap(ri.Consumed)}).Guarantees
		out = append(out, map[string]any{
			"name": ri.Role, "weight": ri.Weight, "frameworks": ids,
			"resources": nonNilResources(ri.Used.Add(ri.Offered)), "allocated": nonNilResources(ri.Used),
			"offered": nonNilResources(ri.Offered), "reserved": nonNilResources(ri.Reserved),
			"quota": map[string]any{"role": ri.Role, "guarantees": q.Guarantees, "limits": q.Limits, "consumed": consumed},
		})
	}
	return out
}

// rolesV0 is /roles in Mesos' v0 shape: resource summaries, framework ids
// as strings, quota with guarantee, limit and consumed.
func (m *Master) rolesV0() []map[string]any {
	out := []map[string]any{}
	for _, ri := range m.roleInfos() {
		fws := ri.Frameworks
		if fws == nil {
			fws = []string{}
		}
		out = append(out, map[string]any{
			"name": ri.Role, "weight": ri.Weight, "frameworks": fws,
			"resources": summary(ri.Used.Add(ri.Offered)), "allocated": summary(ri.Used),
			"offered": summary(ri.Offered), "reserved": summary(ri.Reserved),
			"quota": map[string]any{
				"role": ri.Role, "guarantee": quantities(ri.Quota.Guarantees), "limit": quantities(ri.Quota.Limits),
				"consumed": quantities(ri.Consumed),
			},
		})
	}
	return out
}
