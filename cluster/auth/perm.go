package auth

import "sort"

// Realm groups permissions the way Mesos groups its HTTP authentication
// realms (src/master/master.cpp): the --authenticate_http_readonly,
// --authenticate_http_readwrite and --authenticate_frameworks flags open
// one realm each to anonymous callers.
type Realm string

// The realms.
const (
	RealmPublic    Realm = "public"    // no principal: /health, /ping, the UI's assets and login, join (its token is the credential)
	RealmReadonly  Realm = "readonly"  // mesos-master-readonly
	RealmReadwrite Realm = "readwrite" // mesos-master-readwrite (and Marathon's /v2 writes)
	RealmScheduler Realm = "scheduler" // mesos-master-scheduler: /api/v1/scheduler
	RealmAdmin     Realm = "admin"     // cluster administration: members, tokens, users, snapshots
	RealmNode      Realm = "node"      // node certificates only: the agent protocol, certificate renewal
	RealmSelf      Realm = "self"      // any principal about itself: whoami, logout
)

// Perm is the one permission a route needs. Its name is the Mesos ACL
// action where Mesos has one (docs/authorization.md), else nodectl's.
type Perm string

// The permissions. Object says what an ACL rule's second entity matches
// (Mesos' names); "" means the permission is checked with no object.
const (
	Public             Perm = "public"
	Self               Perm = "self"
	GetEndpoints       Perm = "get_endpoints"
	ViewApps           Perm = "view_apps"
	CreateApps         Perm = "create_apps"
	UpdateApps         Perm = "update_apps"
	DeleteApps         Perm = "delete_apps"
	AccessSandboxes    Perm = "access_sandboxes"
	AccessMesosLogs    Perm = "access_mesos_logs"
	RegisterFrameworks Perm = "register_frameworks"
	RunTasks           Perm = "run_tasks"
	TeardownFrameworks Perm = "teardown_frameworks"
	ReserveResources   Perm = "reserve_resources"
	UnreserveResources Perm = "unreserve_resources"
	CreateVolumes      Perm = "create_volumes"
	DestroyVolumes     Perm = "destroy_volumes"
	MarkAgentsGone     Perm = "mark_agents_gone"
	ViewFrameworks     Perm = "view_frameworks"
	ViewTasks          Perm = "view_tasks"
	ManageCluster      Perm = "manage_cluster"
	AgentProtocol      Perm = "agent_protocol"
	RenewCertificate   Perm = "renew_certificate"
	ViewSecrets        Perm = "view_secrets"
	ManageSecrets      Perm = "manage_secrets"
	// LaunchNestedContainerSessions is Mesos' ACL for a process run inside
	// a running task (LAUNCH_NESTED_CONTAINER_SESSION): `nodectl exec`.
	LaunchNestedContainerSessions Perm = "launch_nested_container_sessions"
	// The maintenance permissions are Mesos' ACLs of the same names
	// (https://mesos.apache.org/documentation/latest/authorization/); the
	// object is a machine, by hostname (else IP).
	UpdateMaintenanceSchedule Perm = "update_maintenance_schedule"
	GetMaintenanceSchedule    Perm = "get_maintenance_schedule"
	GetMaintenanceStatus      Perm = "get_maintenance_status"
	StartMaintenance          Perm = "start_maintenance"
	StopMaintenance           Perm = "stop_maintenance"
	// The agent drain permissions are Mesos' ACLs drain_agents,
	// deactivate_agents and reactivate_agents (Mesos'
	// include/mesos/authorizer/acls.proto); Mesos gives their object
	// implicitly (ANY or NONE), nodectl matches it with the agent's id or
	// hostname.
	DrainAgents      Perm = "drain_agents"
	DeactivateAgents Perm = "deactivate_agents"
	ReactivateAgents Perm = "reactivate_agents"
	// UpdateQuota and UpdateWeight are Mesos' ACLs for changing a role's
	// quota and weight; the object is the role.
	UpdateQuota  Perm = "update_quota"
	UpdateWeight Perm = "update_weight"
	// UpgradeNodes is nodectl's own: make a node install a signed update
	// bundle and restart into it (POST /node/upgrade, docs/upgrade.md).
	// It has no object, so no ACL grants it: superusers only.
	UpgradeNodes Perm = "upgrade_nodes"
)

// PermInfo describes a permission.
type PermInfo struct {
	Perm   Perm
	Realm  Realm
	Object string // the ACL rule's object entity key ("" for none)
	Doc    string
}

// perms is every permission. A Perm missing here cannot be registered.
var perms = map[Perm]PermInfo{
	Public:             {Public, RealmPublic, "", "anyone, no credentials"},
	Self:               {Self, RealmSelf, "", "any authenticated principal, about itself"},
	GetEndpoints:       {GetEndpoints, RealmReadonly, "paths", "read cluster state, metrics, flags, versions (view_frameworks and view_tasks filter what is shown)"},
	ViewApps:           {ViewApps, RealmReadonly, "apps", "see apps, their tasks, deployments, queue and events (filtered by app id)"},
	CreateApps:         {CreateApps, RealmReadwrite, "apps", "create apps (by app id)"},
	UpdateApps:         {UpdateApps, RealmReadwrite, "apps", "change, scale, restart apps, kill their tasks, cancel deployments (by app id)"},
	DeleteApps:         {DeleteApps, RealmReadwrite, "apps", "delete apps (by app id)"},
	AccessSandboxes:    {AccessSandboxes, RealmReadonly, "users", "read task sandboxes through the files API (by task user)"},
	AccessMesosLogs:    {AccessMesosLogs, RealmReadonly, "logs", "read the master's log through the files API"},
	RegisterFrameworks: {RegisterFrameworks, RealmScheduler, "roles", "subscribe a framework (by role) and drive it"},
	RunTasks:           {RunTasks, RealmScheduler, "users", "launch tasks as a user (checked at launch and at app submission)"},
	TeardownFrameworks: {TeardownFrameworks, RealmReadwrite, "framework_principals", "tear a framework down (by its principal)"},
	ReserveResources:   {ReserveResources, RealmReadwrite, "roles", "reserve resources (by role)"},
	UnreserveResources: {UnreserveResources, RealmReadwrite, "reserver_principals", "unreserve resources (by reserver)"},
	CreateVolumes:      {CreateVolumes, RealmReadwrite, "roles", "create persistent volumes (by role)"},
	DestroyVolumes:     {DestroyVolumes, RealmReadwrite, "creator_principals", "destroy persistent volumes (by creator)"},
	MarkAgentsGone:     {MarkAgentsGone, RealmReadwrite, "agents", "mark an agent gone for good"},
	ViewFrameworks:     {ViewFrameworks, RealmReadonly, "users", "see frameworks in /state and /frameworks (by framework user)"},
	ViewTasks:          {ViewTasks, RealmReadonly, "users", "see tasks in /state and /tasks (by task user)"},
	ManageCluster:      {ManageCluster, RealmAdmin, "", "masters, join tokens, users, etcd snapshots (superusers unless an ACL grants it)"},
	AgentProtocol:      {AgentProtocol, RealmNode, "", "the agent protocol: agent certificates only"},
	RenewCertificate:   {RenewCertificate, RealmNode, "", "renew a node's certificate: node certificates only"},
	ViewSecrets:        {ViewSecrets, RealmReadonly, "secrets", "list secret paths, never values; reference a secret from an app (by secret path, prefix-matched like app ids)"},
	ManageSecrets:      {ManageSecrets, RealmReadwrite, "secrets", "create, replace and delete secrets (by secret path, prefix-matched like app ids)"},
	LaunchNestedContainerSessions: {LaunchNestedContainerSessions, RealmReadwrite, "users",
		"run a process inside a running task, as the task's user (nodectl exec, the UI's terminal; by task user; an app-scoped user: its apps' tasks)"},
	UpdateMaintenanceSchedule: {UpdateMaintenanceSchedule, RealmReadwrite, "machines", "replace the maintenance schedule (by machine: every machine of the old and the new schedule)"},
	GetMaintenanceSchedule:    {GetMaintenanceSchedule, RealmReadonly, "machines", "see the maintenance schedule (filtered by machine)"},
	GetMaintenanceStatus:      {GetMaintenanceStatus, RealmReadonly, "machines", "see which machines are draining or down (filtered by machine)"},
	StartMaintenance:          {StartMaintenance, RealmReadwrite, "machines", "bring scheduled machines down: their agents are removed and their tasks end (by machine)"},
	StopMaintenance:           {StopMaintenance, RealmReadwrite, "machines", "bring machines up after maintenance (by machine)"},
	DrainAgents:               {DrainAgents, RealmReadwrite, "agents", "drain an agent: no more offers, its tasks are killed or moved (by agent id or hostname)"},
	DeactivateAgents:          {DeactivateAgents, RealmReadwrite, "agents", "deactivate an agent: no more offers from it (by agent id or hostname)"},
	ReactivateAgents:          {ReactivateAgents, RealmReadwrite, "agents", "reactivate a drained or deactivated agent (by agent id or hostname)"},
	UpdateQuota:               {UpdateQuota, RealmReadwrite, "roles", "set, change and remove a role's quota (by role)"},
	UpdateWeight:              {UpdateWeight, RealmReadwrite, "roles", "change a role's weight (by role)"},
	UpgradeNodes:              {UpgradeNodes, RealmAdmin, "", "upgrade a node: it installs a signed update bundle and restarts into it (superusers only)"},
}

// Info describes p; false for an unknown permission.
func Info(p Perm) (PermInfo, bool) {
	i, ok := perms[p]
	return i, ok
}

// Perms lists every permission, sorted by name.
func Perms() []PermInfo {
	out := make([]PermInfo, 0, len(perms))
	for _, i := range perms {
		out = append(out, i)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Perm < out[b].Perm })
	return out
}

// appPerm reports whether p is one of nodectl's app permissions, or a
// secret permission: both take a path as object, matched by prefix, and an
// app-scoped user's app prefixes bound both (its secrets live beside its
// apps, say /team-a/db/password).
func appPerm(p Perm) bool {
	switch p {
	case ViewApps, CreateApps, UpdateApps, DeleteApps, ViewSecrets, ManageSecrets:
		return true
	}
	return false
}
