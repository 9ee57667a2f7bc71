package api

// Operation feedback and UPDATE_FRAMEWORK in the v1 scheduler API
// (include/mesos/v1/scheduler/scheduler.proto Call.UpdateFramework,
// Call.AcknowledgeOperationStatus, Call.ReconcileOperations and
// Event.UpdateOperationStatus; include/mesos/v1/mesos.proto
// OperationStatus and OperationState).

// EventUpdateOperationStatus carries an OperationStatus.
const EventUpdateOperationStatus = "UPDATE_OPERATION_STATUS"

// Operation states (mesos.proto OperationState) nodectl sends.
const (
	OperationPending     = "OPERATION_PENDING"
	OperationFinished    = "OPERATION_FINISHED"
	OperationFailed      = "OPERATION_FAILED"
	OperationError       = "OPERATION_ERROR"
	OperationDropped     = "OPERATION_DROPPED"
	OperationGone        = "OPERATION_GONE_BY_OPERATOR"
	OperationUnreachable = "OPERATION_UNREACHABLE"
	OperationUnknown     = "OPERATION_UNKNOWN"
	OperationRecovered   = "OPERATION_RECOVERING"
)

// OperationStateTerminal reports whether an operation in state s is done.
func OperationStateTerminal(s string) bool {
	switch s {
	case OperationFinished, OperationFailed, OperationError, OperationDropped, OperationGone:
		return true
	}
	return false
}

// UUIDValue is Mesos' UUID message: {"value": <base64 bytes>}.
type UUIDValue struct {
	Value []byte `json:"value"`
}

// OperationStatus is the state of an offer operation that asked for
// feedback (it has an id).
type OperationStatus struct {
	OperationID        *ID        `json:"operation_id,omitempty"`
	State              string     `json:"state"`
	Message            string     `json:"message,omitempty"`
	ConvertedResources Resources  `json:"converted_resources,omitempty"`
	UUID               *UUIDValue `json:"uuid,omitempty"`
	AgentID            *ID        `json:"agent_id,omitempty"`
}

// UpdateOperationStatusEvent is the body of UPDATE_OPERATION_STATUS.
type UpdateOperationStatusEvent struct {
	Status OperationStatus `json:"status"`
}

// AcknowledgeOperationStatusCall acknowledges an OperationStatus that had
// a uuid.
type AcknowledgeOperationStatusCall struct {
	AgentID            *ID    `json:"agent_id,omitempty"`
	ResourceProviderID *ID    `json:"resource_provider_id,omitempty"`
	UUID               []byte `json:"uuid"`
	OperationID        ID     `json:"operation_id"`
}

// ReconcileOperationsCall asks for the latest status of the named
// operations (all the framework's operations when none is named).
type ReconcileOperationsCall struct {
	Operations []ReconcileOperation `json:"operations,omitempty"`
}

// ReconcileOperation names one operation to reconcile.
type ReconcileOperation struct {
	OperationID        ID  `json:"operation_id"`
	AgentID            *ID `json:"agent_id,omitempty"`
	ResourceProviderID *ID `json:"resource_provider_id,omitempty"`
}

// UpdateFrameworkCall replaces the framework's FrameworkInfo and
// suppressed roles (Mesos 1.9+). OfferConstraints is kept raw only to be
// refused by name: nodectl does not implement offer constraints.
type UpdateFrameworkCall struct {
	FrameworkInfo    FrameworkInfo `json:"framework_info"`
	SuppressedRoles  []string      `json:"suppressed_roles,omitempty"`
	OfferConstraints any           `json:"offer_constraints,omitempty"`
}
