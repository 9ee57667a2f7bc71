package api

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
)

// Mesos v1 scheduler HTTP API (POST PathScheduler): the JSON shapes of
// calls and events. Field names and enum strings are Mesos'; bytes (uuids)
// are base64 as in Mesos JSON. Only what nodectl implements is modelled;
// unknown fields are ignored when decoding.

// PathScheduler is the v1 scheduler API endpoint on the leading master.
const PathScheduler = "/api/v1/scheduler"

// StreamIDHeader carries the subscription's stream id on every call but
// SUBSCRIBE.
const StreamIDHeader = "Mesos-Stream-Id"

// Call types (scheduler.proto Call.Type).
const (
	CallSubscribe            = "SUBSCRIBE"
	CallTeardown             = "TEARDOWN"
	CallAccept               = "ACCEPT"
	CallDecline              = "DECLINE"
	CallRevive               = "REVIVE"
	CallSuppress             = "SUPPRESS"
	CallKill                 = "KILL"
	CallShutdown             = "SHUTDOWN"
	CallAcknowledge          = "ACKNOWLEDGE"
	CallReconcile            = "RECONCILE"
	CallMessage              = "MESSAGE"
	CallRequest              = "REQUEST"
	CallUpdateFramework      = "UPDATE_FRAMEWORK"
	CallAcceptInverseOffers  = "ACCEPT_INVERSE_OFFERS"
	CallDeclineInverseOffers = "DECLINE_INVERSE_OFFERS"
	CallAcknowledgeOpStatus  = "ACKNOWLEDGE_OPERATION_STATUS"
	CallReconcileOperations  = "RECONCILE_OPERATIONS"
)

// Offer operation types. nodectl implements all of these.
const (
	OperationLaunch      = "LAUNCH"
	OperationLaunchGroup = "LAUNCH_GROUP"
	OperationReserve     = "RESERVE"
	OperationUnreserve   = "UNRESERVE"
	OperationCreate      = "CREATE"
	OperationDestroy     = "DESTROY"
)

// Framework capabilities the master acts on.
const (
	CapabilityPartitionAware   = "PARTITION_AWARE"
	CapabilityTaskKillingState = "TASK_KILLING_STATE"
	CapabilityMultiRole        = "MULTI_ROLE"
)

// Call is one scheduler call: {"type": ..., "framework_id": {...},
// "<lowercase type>": {...}}.
type Call struct {
	Type        string           `json:"type"`
	FrameworkID *ID              `json:"framework_id,omitempty"`
	Subscribe   *SubscribeCall   `json:"subscribe,omitempty"`
	Accept      *AcceptCall      `json:"accept,omitempty"`
	Decline     *DeclineCall     `json:"decline,omitempty"`
	Revive      *RolesCall       `json:"revive,omitempty"`
	Suppress    *RolesCall       `json:"suppress,omitempty"`
	Kill        *KillCall        `json:"kill,omitempty"`
	Acknowledge *AcknowledgeCall `json:"acknowledge,omitempty"`
	Reconcile   *ReconcileCall   `json:"reconcile,omitempty"`
	// SHUTDOWN and MESSAGE reach a custom executor (executor.go).
	Shutdown *ShutdownCall `json:"shutdown,omitempty"`
	Message  *MessageCall  `json:"message,omitempty"`
	// ACCEPT_INVERSE_OFFERS and DECLINE_INVERSE_OFFERS (maintenance.go).
	AcceptInverseOffers  *InverseOffersCall `json:"accept_inverse_offers,omitempty"`
	DeclineInverseOffers *InverseOffersCall `json:"decline_inverse_offers,omitempty"`
	// UPDATE_FRAMEWORK and operation feedback (operations.go).
	UpdateFramework            *UpdateFrameworkCall            `json:"update_framework,omitempty"`
	AcknowledgeOperationStatus *AcknowledgeOperationStatusCall `json:"acknowledge_operation_status,omitempty"`
	ReconcileOperations        *ReconcileOperationsCall        `json:"reconcile_operations,omitempty"`
}

// SubscribeCall registers (no FrameworkInfo.ID) or re-registers a framework.
type SubscribeCall struct {
	FrameworkInfo   FrameworkInfo `json:"framework_info"`
	SuppressedRoles []string      `json:"suppressed_roles,omitempty"`
}

// Filters go with DECLINE and ACCEPT: resources declined are not offered
// again to the framework on that agent for RefuseSeconds (default 5).
type Filters struct {
	RefuseSeconds *float64 `json:"refuse_seconds,omitempty"`
}

// AcceptCall uses offers (all from one agent) for operations; what the
// operations leave unused is declined with Filters.
type AcceptCall struct {
	OfferIDs   []ID        `json:"offer_ids"`
	Operations []Operation `json:"operations,omitempty"`
	Filters    *Filters    `json:"filters,omitempty"`
}

// Operation is an Offer.Operation. nodectl implements LAUNCH,
// LAUNCH_GROUP, RESERVE, UNRESERVE, CREATE and DESTROY.
type Operation struct {
	Type string `json:"type"`
	// ID asks for operation feedback (UPDATE_OPERATION_STATUS events).
	ID     *ID              `json:"id,omitempty"`
	Launch *LaunchOperation `json:"launch,omitempty"`
	// LaunchGroup is the body of LAUNCH_GROUP (taskgroup.go).
	LaunchGroup *LaunchGroupOperation `json:"launch_group,omitempty"`
	Reserve     *ResourcesOperation   `json:"reserve,omitempty"`
	Unreserve   *ResourcesOperation   `json:"unreserve,omitempty"`
	Create      *VolumesOperation     `json:"create,omitempty"`
	Destroy     *VolumesOperation     `json:"destroy,omitempty"`
}

// ResourcesOperation is the body of RESERVE and UNRESERVE.
type ResourcesOperation struct {
	Resources Resources `json:"resources"`
}

// VolumesOperation is the body of CREATE and DESTROY.
type VolumesOperation struct {
	Volumes Resources `json:"volumes"`
}

// LaunchOperation launches tasks on the offers' agent.
type LaunchOperation struct {
	TaskInfos []TaskInfo `json:"task_infos"`
}

// DeclineCall declines offers.
type DeclineCall struct {
	OfferIDs []ID     `json:"offer_ids"`
	Filters  *Filters `json:"filters,omitempty"`
}

// RolesCall is the body of REVIVE and SUPPRESS: no roles means all of the
// framework's roles.
type RolesCall struct {
	Roles []string `json:"roles,omitempty"`
}

// KillCall kills a task; AgentID helps when the master does not know the
// task (after a failover).
type KillCall struct {
	TaskID     ID          `json:"task_id"`
	AgentID    *ID         `json:"agent_id,omitempty"`
	KillPolicy *KillPolicy `json:"kill_policy,omitempty"`
}

// AcknowledgeCall acknowledges the status update with UUID (base64 in JSON).
type AcknowledgeCall struct {
	AgentID ID     `json:"agent_id"`
	TaskID  ID     `json:"task_id"`
	UUID    []byte `json:"uuid"`
}

// ReconcileCall asks for the latest state of tasks; an empty list means
// every task the master knows for the framework (implicit reconciliation).
type ReconcileCall struct {
	Tasks []ReconcileTask `json:"tasks,omitempty"`
}

// ReconcileTask names one task to reconcile.
type ReconcileTask struct {
	TaskID  ID  `json:"task_id"`
	AgentID *ID `json:"agent_id,omitempty"`
}

// Event types (scheduler.proto Event.Type).
const (
	EventSubscribed = "SUBSCRIBED"
	EventOffers     = "OFFERS"
	EventRescind    = "RESCIND"
	EventUpdate     = "UPDATE"
	EventMessage    = "MESSAGE"
	EventFailure    = "FAILURE"
	EventError      = "ERROR"
	EventHeartbeat  = "HEARTBEAT"
	// Maintenance (maintenance.go).
	EventInverseOffers       = "INVERSE_OFFERS"
	EventRescindInverseOffer = "RESCIND_INVERSE_OFFER"
)

// Event is one scheduler event, framed in RecordIO on the SUBSCRIBE stream.
type Event struct {
	Type       string           `json:"type"`
	Subscribed *SubscribedEvent `json:"subscribed,omitempty"`
	Offers     *OffersEvent     `json:"offers,omitempty"`
	Rescind    *RescindEvent    `json:"rescind,omitempty"`
	Update     *UpdateEvent     `json:"update,omitempty"`
	Message    *MessageEvent    `json:"message,omitempty"`
	Failure    *FailureEvent    `json:"failure,omitempty"`
	Error      *ErrorEvent      `json:"error,omitempty"`
	// Maintenance (maintenance.go).
	InverseOffers       *InverseOffersEvent       `json:"inverse_offers,omitempty"`
	RescindInverseOffer *RescindInverseOfferEvent `json:"rescind_inverse_offer,omitempty"`
	// Operation feedback (operations.go).
	UpdateOperationStatus *UpdateOperationStatusEvent `json:"update_operation_status,omitempty"`
}

// SubscribedEvent is the first event of a subscription.
type SubscribedEvent struct {
	FrameworkID              ID               `json:"framework_id"`
	HeartbeatIntervalSeconds float64          `json:"heartbeat_interval_seconds"`
	MasterInfo               *MesosMasterInfo `json:"master_info,omitempty"`
}

// MesosMasterInfo is Mesos' MasterInfo message as the scheduler API sends
// it (include/mesos/v1/mesos.proto): ip is a uint32, the IPv4 address as
// the bytes of a network-order in_addr.s_addr read on a little-endian host
// (src/master/master.cpp sets it from self().address.ip.in()->s_addr), and
// address carries the same in string form. Strict decoders of Mesos'
// protobuf JSON (mesos-go) refuse a string ip.
type MesosMasterInfo struct {
	ID       string        `json:"id"`
	IP       uint32        `json:"ip"`
	Port     int           `json:"port"`
	PID      string        `json:"pid,omitempty"`
	Hostname string        `json:"hostname,omitempty"`
	Version  string        `json:"version,omitempty"`
	Address  *MesosAddress `json:"address,omitempty"`
	// Capabilities are Mesos' MasterInfo.Capability values the master
	// has; none of AGENT_UPDATE, AGENT_DRAINING, QUOTA_V2 yet.
	Capabilities []MesosCapability `json:"capabilities"`
}

// MesosCapability is one MasterInfo.Capability ({"type": "..."}).
type MesosCapability struct {
	Type string `json:"type"`
}

// MesosVersion is the Mesos release whose APIs nodectl speaks: the version
// Mesos clients see in MasterInfo.version, /version and the operator
// API's GET_VERSION (they compare it as a semantic version). nodectl's own
// build is Version.
const MesosVersion = "1.11.0"

// MesosAddress is Mesos' Address message: hostname, IP string, port.
type MesosAddress struct {
	Hostname string `json:"hostname,omitempty"`
	IP       string `json:"ip,omitempty"`
	Port     int    `json:"port"`
}

// Mesos is m in Mesos' MasterInfo form. An address that is not IPv4 has
// ip 0 (Mesos' field cannot hold it) and only the string form.
func (m MasterInfo) Mesos() MesosMasterInfo {
	var ip uint32
	if a, err := netip.ParseAddr(m.IP); err == nil && a.Unmap().Is4() {
		b := a.Unmap().As4()
		ip = binary.LittleEndian.Uint32(b[:])
	}
	return MesosMasterInfo{
		ID: m.ID, IP: ip, Port: m.Port, PID: m.PID, Hostname: m.Hostname, Version: MesosVersion,
		Address: &MesosAddress{Hostname: m.Hostname, IP: m.IP, Port: m.Port}, Capabilities: []MesosCapability{},
	}
}

// OffersEvent carries new offers.
type OffersEvent struct {
	Offers []Offer `json:"offers"`
}

// RescindEvent withdraws an offer.
type RescindEvent struct {
	OfferID ID `json:"offer_id"`
}

// UpdateEvent carries a task status update. Acknowledge it when
// Status.UUID is set.
type UpdateEvent struct {
	Status TaskStatus `json:"status"`
}

// FailureEvent reports an agent removed (no ExecutorID) or an executor gone.
type FailureEvent struct {
	AgentID    *ID  `json:"agent_id,omitempty"`
	ExecutorID *ID  `json:"executor_id,omitempty"`
	Status     *int `json:"status,omitempty"`
}

// ErrorEvent ends a subscription: the framework should abort (or
// re-subscribe, for "Framework failed over").
type ErrorEvent struct {
	Message string `json:"message"`
}

// AllocationInfo names the role an offer is allocated to.
type AllocationInfo struct {
	Role string `json:"role"`
}

// Offer is resources of one agent offered to a framework in one role.
type Offer struct {
	ID             ID              `json:"id"`
	FrameworkID    ID              `json:"framework_id"`
	AgentID        ID              `json:"agent_id"`
	Hostname       string          `json:"hostname"`
	Resources      Resources       `json:"resources"`
	Attributes     []Attribute     `json:"attributes,omitempty"`
	ExecutorIDs    []ID            `json:"executor_ids,omitempty"`
	AllocationInfo *AllocationInfo `json:"allocation_info,omitempty"`
	// Unavailability is set while the agent's machine is in the
	// maintenance schedule (maintenance.go).
	Unavailability *Unavailability `json:"unavailability,omitempty"`
}

// Attribute is a Mesos Attribute: TEXT or SCALAR.
type Attribute struct {
	Name   string     `json:"name"`
	Type   string     `json:"type"`
	Text   *TextVal   `json:"text,omitempty"`
	Scalar *ScalarVal `json:"scalar,omitempty"`
}

// TextVal is Mesos' Value.Text.
type TextVal struct {
	Value string `json:"value"`
}

// List renders attributes in the Mesos Attribute list shape, by name.
func (a Attributes) List() []Attribute {
	names := make([]string, 0, len(a))
	for k := range a {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]Attribute, 0, len(names))
	for _, n := range names {
		switch v := a[n].(type) {
		case float64:
			out = append(out, Attribute{Name: n, Type: "SCALAR", Scalar: &ScalarVal{Value: v}})
		default:
			out = append(out, Attribute{Name: n, Type: "TEXT", Text: &TextVal{Value: fmt.Sprint(v)}})
		}
	}
	return out
}

// IsTaskState reports whether s is one of the Mesos task states.
func IsTaskState(s TaskState) bool {
	for _, x := range AllTaskStates {
		if x == s {
			return true
		}
	}
	return false
}
