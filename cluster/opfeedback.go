package cluster

import (
	"bytes"
	"fmt"
	"net/http"
	"sort"

	"github.com/google/uuid"

	"nodectl/cluster/api"
)

// Operation feedback for offer operations on agent default resources, as
// a Mesos 1.7+ master does for an agent with the AGENT_OPERATION_FEEDBACK
// and RESOURCE_PROVIDER capabilities (every nodectl agent: the master
// applies RESERVE, UNRESERVE, CREATE and DESTROY itself and checkpoints
// the result on the agent). See Master::accept, Master::drop,
// Master::reconcileOperations and Master::acknowledgeOperationStatus in
// Mesos' src/master/master.cpp and the scheduler HTTP API documentation.
//
//   - An operation with an `id` that is applied gets OPERATION_FINISHED
//     with its converted resources, the agent id and a uuid; the master
//     keeps it (GET_OPERATIONS) until the framework acknowledges that
//     status with ACKNOWLEDGE_OPERATION_STATUS.
//   - One that fails validation (or whose offers are invalid) gets
//     OPERATION_ERROR without a uuid and is not kept (Mesos' drop()).
//   - LAUNCH and LAUNCH_GROUP with an `id` are refused: their tasks get
//     TASK_ERROR ("The `id` field cannot be set on LAUNCH operations").
//   - RECONCILE_OPERATIONS answers each named operation with its latest
//     status (without uuid), or OPERATION_UNREACHABLE /
//     OPERATION_GONE_BY_OPERATOR / OPERATION_UNKNOWN by what the master
//     knows of the named agent; with no operation named, it answers every
//     operation the master keeps for the framework.
//
// Nothing here is written to etcd: after a leader change the kept
// operations are unknown (OPERATION_UNKNOWN on reconciliation). Mesos'
// agents checkpoint them and report them back; nodectl's applied
// conversions themselves are in the registry either way.

// frameworkOperation is an operation kept for feedback.
type frameworkOperation struct {
	info     api.Operation
	agentID  string
	uuid     []byte // the operation's own uuid (Operation.uuid)
	statuses []api.OperationStatus
}

func (op *frameworkOperation) latest() api.OperationStatus { return op.statuses[len(op.statuses)-1] }

// sendOperationStatusLocked sends an UPDATE_OPERATION_STATUS event.
func sendOperationStatusLocked(fw *framework, st api.OperationStatus) {
	if fw.sink != nil {
		fw.sink.Send(api.Event{Type: api.EventUpdateOperationStatus, UpdateOperationStatus: &api.UpdateOperationStatusEvent{Status: st}})
	}
}

func isLaunch(op api.Operation) bool {
	return op.Type == api.OperationLaunch || op.Type == api.OperationLaunchGroup
}

// operationErrorLocked reports OPERATION_ERROR for an operation with an
// id that is not applied (Mesos' Master::drop).
func (m *Master) operationErrorLocked(fw *framework, op api.Operation, msg string) {
	if op.ID == nil || isLaunch(op) {
		return
	}
	m.log.Warn("offer operation dropped", "op", op.Type, "operation_id", op.ID.Value, "framework_id", fw.id, "err", msg)
	sendOperationStatusLocked(fw, api.OperationStatus{OperationID: &api.ID{Value: op.ID.Value}, State: api.OperationError, Message: msg})
}

// refuseLaunchIDLocked refuses a LAUNCH or LAUNCH_GROUP that sets id, as
// Mesos does: its tasks get TASK_ERROR. It reports whether it did.
func (m *Master) refuseLaunchIDLocked(fw *framework, op api.Operation) bool {
	if op.ID == nil || !isLaunch(op) {
		return false
	}
	reason := api.ReasonTaskInvalid
	if op.Type == api.OperationLaunchGroup {
		reason = api.ReasonTaskGroupInvalid
	}
	for _, ti := range launchedTasks(op) {
		m.dropLaunchLocked(fw, ti, api.TaskError, reason, "The `id` field cannot be set on "+op.Type+" operations")
	}
	return true
}

// applyWithFeedbackLocked applies a RESERVE, UNRESERVE, CREATE or DESTROY
// of an ACCEPT and, when it has an id, reports the outcome.
func (m *Master) applyWithFeedbackLocked(fw *framework, a *agent, avail map[string]api.Resources, roles []string, op api.Operation) {
	if op.ID != nil {
		if op.ID.Value == "" {
			m.operationErrorLocked(fw, op, "the operation's 'id' is empty")
			return
		}
		if fw.operations[op.ID.Value] != nil {
			m.operationErrorLocked(fw, op, fmt.Sprintf("operation id %q is already in use by this framework", op.ID.Value))
			return
		}
	}
	var converted api.Resources
	if c, err := convertOp(a, op); err == nil {
		converted = c.to
	}
	if err := m.applyOfferOpLocked(fw, a, avail, roles, op); err != nil {
		if op.ID == nil {
			m.log.Warn("offer operation dropped", "op", op.Type, "framework_id", fw.id, "agent_id", a.Info.ID, "err", err)
		}
		m.operationErrorLocked(fw, op, err.Error())
		return
	}
	if op.ID == nil {
		return
	}
	st := api.OperationStatus{
		OperationID: &api.ID{Value: op.ID.Value}, State: api.OperationFinished,
		ConvertedResources: converted, UUID: &api.UUIDValue{Value: newUUID()}, AgentID: &api.ID{Value: a.Info.ID},
	}
	if fw.operations == nil {
		fw.operations = map[string]*frameworkOperation{}
	}
	fw.operations[op.ID.Value] = &frameworkOperation{info: op, agentID: a.Info.ID, uuid: newUUID(), statuses: []api.OperationStatus{st}}
	sendOperationStatusLocked(fw, st)
}

func newUUID() []byte {
	u := uuid.New()
	return u[:]
}

// ReconcileOperations implements RECONCILE_OPERATIONS.
func (m *Master) ReconcileOperations(s Subscription, call api.ReconcileOperationsCall) error {
	for i, o := range call.Operations {
		if o.OperationID.Value == "" {
			return fmt.Errorf("%w: 'reconcile_operations.operations[%d].operation_id' is empty", ErrBadCall, i)
		}
		if o.ResourceProviderID != nil {
			return fmt.Errorf("%w: 'reconcile_operations.operations[%d].resource_provider_id': nodectl has no resource providers", ErrBadCall, i)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	fw, err := m.callerLocked(s)
	if err != nil {
		return err
	}
	if len(call.Operations) == 0 {
		for _, id := range sortedStringKeys(fw.operations) {
			st := fw.operations[id].latest()
			st.UUID = nil // not sent reliably
			sendOperationStatusLocked(fw, st)
		}
		return nil
	}
	for _, o := range call.Operations {
		var st api.OperationStatus
		id := &api.ID{Value: o.OperationID.Value}
		if known := fw.operations[o.OperationID.Value]; known != nil {
			st = known.latest()
			st.UUID = nil
		} else {
			st = api.OperationStatus{OperationID: id, State: api.OperationUnknown, AgentID: o.AgentID}
			switch {
			case o.AgentID == nil:
				st.Message = "Reconciliation: Operation is unknown and no 'agent_id' was provided"
			case m.agents[o.AgentID.Value] != nil && m.agents[o.AgentID.Value].UnreachableTime != nil:
				st.State, st.Message = api.OperationUnreachable, "Reconciliation: Agent is unreachable"
			case m.agents[o.AgentID.Value] != nil:
				st.Message = "Reconciliation: Operation is unknown"
			case !m.removals.gone[o.AgentID.Value].IsZero():
				st.State, st.Message = api.OperationGone, "Reconciliation: Agent marked gone by operator"
			default:
				st.Message = "Reconciliation: Both operation and agent are unknown"
			}
		}
		sendOperationStatusLocked(fw, st)
	}
	return nil
}

// AcknowledgeOperationStatus implements ACKNOWLEDGE_OPERATION_STATUS:
// validated as Mesos does; an acknowledged terminal status ends the
// master's record of the operation. Acknowledgements of unknown
// operations or statuses are accepted and ignored, as in Mesos.
func (m *Master) AcknowledgeOperationStatus(s Subscription, call api.AcknowledgeOperationStatusCall) error {
	if len(call.UUID) != 16 {
		return fmt.Errorf("%w: acknowledge_operation_status.uuid must be 16 bytes (base64), got %d", ErrBadCall, len(call.UUID))
	}
	if call.AgentID == nil || call.AgentID.Value == "" {
		return fmt.Errorf("%w: Expecting 'agent_id' to be present", ErrBadCall)
	}
	if call.ResourceProviderID != nil {
		return fmt.Errorf("%w: 'acknowledge_operation_status.resource_provider_id': nodectl has no resource providers", ErrBadCall)
	}
	if call.OperationID.Value == "" {
		return fmt.Errorf("%w: Expecting 'operation_id' to be present", ErrBadCall)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	fw, err := m.callerLocked(s)
	if err != nil {
		return err
	}
	op := fw.operations[call.OperationID.Value]
	switch {
	case op == nil:
		m.log.Warn("acknowledgement of an unknown operation ignored", "framework_id", fw.id, "operation_id", call.OperationID.Value)
	case op.agentID != call.AgentID.Value:
		m.log.Warn("acknowledgement with the wrong agent ignored", "framework_id", fw.id, "operation_id", call.OperationID.Value, "agent_id", call.AgentID.Value)
	case op.latest().UUID == nil || !bytes.Equal(op.latest().UUID.Value, call.UUID):
		m.log.Warn("acknowledgement of an unknown status ignored", "framework_id", fw.id, "operation_id", call.OperationID.Value)
	case api.OperationStateTerminal(op.latest().State):
		delete(fw.operations, call.OperationID.Value)
	}
	return nil
}

// getOperations answers the operator API's GET_OPERATIONS: the operations
// the master keeps, in Mesos' Operation form.
func (m *Master) getOperations(r *http.Request) any {
	v := m.viewOf(r)
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []map[string]any{}
	for _, fw := range m.sortedFrameworksLocked() {
		if !v.framework(fw) {
			continue
		}
		ids := sortedStringKeys(fw.operations)
		sort.Strings(ids)
		for _, id := range ids {
			op := fw.operations[id]
			out = append(out, map[string]any{
				"framework_id": map[string]any{"value": fw.id}, "agent_id": map[string]any{"value": op.agentID},
				"info": op.info, "latest_status": op.latest(), "statuses": op.statuses, "uuid": api.UUIDValue{Value: op.uuid},
			})
		}
	}
	return map[string]any{"operations": out}
}
