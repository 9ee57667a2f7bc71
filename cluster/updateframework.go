package cluster

import (
	"fmt"
	"slices"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
)

// UpdateFramework implements the v1 scheduler call UPDATE_FRAMEWORK
// (Mesos 1.9+; docs/scheduler-http-api.md "UPDATE_FRAMEWORK" and
// Master::updateFramework in Mesos' src/master/master.cpp): the
// subscribed framework replaces its FrameworkInfo and suppressed roles
// without re-subscribing.
//
// The new FrameworkInfo is validated as on SUBSCRIBE; principal, user and
// checkpoint may not change (refused naming the field, as Mesos'
// validation::framework::validateUpdate does). Name, roles,
// failover_timeout, hostname, capabilities, labels and webui_url change.
// Offers made to a role the framework leaves are rescinded; its tasks in
// that role keep running (their resources stay allocated to the role
// until they end). Offers to roles that become suppressed are kept, and
// roles that stop being suppressed are revived (their filters cleared),
// as Mesos does. offer_constraints are refused: nodectl has none.
// The record is written to etcd like SUBSCRIBE's.
func (m *Master) UpdateFramework(s Subscription, call api.UpdateFrameworkCall) error {
	if call.OfferConstraints != nil {
		return fmt.Errorf("%w: 'update_framework.offer_constraints' is not supported by nodectl (it has no offer constraints)", ErrBadCall)
	}
	info := call.FrameworkInfo
	if info.ID == nil || info.ID.Value != s.FrameworkID {
		return fmt.Errorf("%w: 'framework_id' differs from 'update_framework.framework_info.id'", ErrBadCall)
	}
	if err := validateFrameworkInfo(info); err != nil {
		return err
	}
	roles := info.AllRoles()
	if err := m.checkFrameworkRoles(roles); err != nil { // quota.go: --roles
		return err
	}
	for _, r := range call.SuppressedRoles {
		if !contains(roles, r) {
			return fmt.Errorf("%w: 'UpdateFramework' call is not valid: suppressed role %q is not one of the framework's roles", ErrBadCall, r)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	fw, err := m.callerLocked(s)
	if err != nil {
		return err
	}
	if info.Principal == "" && fw.authz != nil {
		info.Principal = fw.authz.Name // as SUBSCRIBE fills it in
	}
	if err := validateFrameworkUpdate(fw.info, info); err != nil {
		return err
	}
	if fw.authz != nil && m.cfg.Guard != nil {
		for _, r := range roles {
			if !m.cfg.Guard.Allowed(*fw.authz, auth.RegisterFrameworks, r) {
				return fmt.Errorf("%w: principal '%s' is not authorized to register frameworks in role '%s'", ErrForbidden, fw.authz.Name, r)
			}
		}
	}
	old, oldSuppressed := fw.info, fw.suppressedRoles
	fw.info = info
	fw.suppressedRoles = append([]string(nil), call.SuppressedRoles...)
	if err := m.alloc.UpdateFramework(fw.allocFramework()); err != nil {
		fw.info, fw.suppressedRoles = old, oldSuppressed
		return fmt.Errorf("%w: 'UpdateFramework' call is not valid: %w", ErrBadCall, err)
	}
	// Roles no longer suppressed get their filters cleared.
	var unsuppressed []string
	for _, r := range oldSuppressed {
		if contains(roles, r) && !contains(call.SuppressedRoles, r) {
			unsuppressed = append(unsuppressed, r)
		}
	}
	if len(unsuppressed) > 0 {
		if err := m.alloc.Revive(fw.id, unsuppressed...); err != nil {
			m.log.Warn("revive unsuppressed roles", "framework_id", fw.id, "err", err)
		}
	}
	for _, o := range sortedOffers(fw.offers) {
		if !contains(roles, o.role) {
			m.rescindLocked(o)
		}
	}
	m.persistFrameworkLocked(fw)
	m.kick()
	m.log.Info("framework updated", "framework_id", fw.id, "name", info.Name, "roles", roles,
		"removed_roles", removedRoles(old.AllRoles(), roles), "suppressed_roles", call.SuppressedRoles)
	return nil
}

// validateFrameworkUpdate refuses changes to the fields UPDATE_FRAMEWORK
// may not change (Mesos' validation::framework::validateUpdate).
func validateFrameworkUpdate(old, updated api.FrameworkInfo) error {
	switch {
	case old.Principal != updated.Principal:
		return fmt.Errorf("%w: FrameworkInfo update is not valid: changing 'framework_info.principal' is not allowed", ErrBadCall)
	case old.User != updated.User:
		return fmt.Errorf("%w: FrameworkInfo update is not valid: updating 'framework_info.user' is unsupported; attempted to update from '%s' to '%s'", ErrBadCall, old.User, updated.User)
	case old.Checkpoint != updated.Checkpoint:
		return fmt.Errorf("%w: FrameworkInfo update is not valid: updating 'framework_info.checkpoint' is unsupported; attempted to update from '%t' to '%t'", ErrBadCall, old.Checkpoint, updated.Checkpoint)
	}
	return nil
}

func removedRoles(old, updated []string) []string {
	var out []string
	for _, r := range old {
		if !slices.Contains(updated, r) {
			out = append(out, r)
		}
	}
	return out
}
