package cluster

import (
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"nodectl/cluster/api"
	"nodectl/cluster/api/mesospb"
)

// opStatuses takes the framework's events: operation statuses and task
// updates.
func (f *fwClient) opStatuses() (ops []api.OperationStatus, tasks []api.TaskStatus) {
	for _, e := range f.events() {
		switch e.Type {
		case api.EventUpdateOperationStatus:
			ops = append(ops, e.UpdateOperationStatus.Status)
		case api.EventUpdate:
			tasks = append(tasks, e.Update.Status)
		}
	}
	return ops, tasks
}

func opSummary(sts []api.OperationStatus) []string {
	out := make([]string, len(sts))
	for i, s := range sts {
		out[i] = s.OperationID.Value + " " + s.State
	}
	return out
}

// Operation feedback on agent default resources, as a Mesos 1.7+ master
// gives it: FINISHED (with uuid, agent and converted resources) for an
// applied operation, ERROR for an invalid one or invalid offers,
// TASK_ERROR for a LAUNCH with an id; reconciliation; acknowledgement ends
// the record; GET_OPERATIONS lists what is kept.
func TestOperationFeedback(t *testing.T) {
	h := newHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024;disk:1000")
	db := h.subscribe(api.FrameworkInfo{Name: "db", Role: "db", Principal: "dbp"})
	o := db.offer()
	res := mustRes(t, "cpus:1;mem:128").Reserve("db", "dbp", nil)
	wrong := mustRes(t, "cpus:0.5").Reserve("other", "dbp", nil)
	must(t, h.m.Accept(db.sub, api.AcceptCall{OfferIDs: []api.ID{o.ID}, Operations: []api.Operation{
		{Type: api.OperationReserve, ID: &api.ID{Value: "r1"}, Reserve: &api.ResourcesOperation{Resources: res}},
		{Type: api.OperationReserve, ID: &api.ID{Value: "r2"}, Reserve: &api.ResourcesOperation{Resources: wrong}},
		{Type: api.OperationLaunch, ID: &api.ID{Value: "l1"}, Launch: &api.LaunchOperation{TaskInfos: []api.TaskInfo{mkTask("t9", "cpus:0.1")}}},
	}, Filters: &api.Filters{RefuseSeconds: ptr(0.0)}}))
	ops, tasks := db.opStatuses()
	wantStrings(t, "operation statuses", opSummary(ops), []string{"r1 " + api.OperationFinished, "r2 " + api.OperationError})
	fin := ops[0]
	if fin.UUID == nil || len(fin.UUID.Value) != 16 || fin.AgentID == nil || fin.AgentID.Value != ag || !fin.ConvertedResources.Equal(res) {
		t.Errorf("FINISHED status %+v", fin)
	}
	if ops[1].UUID != nil || !strings.Contains(ops[1].Message, "reservation role") {
		t.Errorf("ERROR status %+v", ops[1])
	}
	if len(tasks) != 1 || tasks[0].State != api.TaskError || !strings.Contains(tasks[0].Message, "`id` field cannot be set on LAUNCH") {
		t.Errorf("LAUNCH with id: %+v", tasks)
	}
	// Every field is in nodectl's scheduler.proto.
	evJSON, _ := json.Marshal(api.Event{Type: api.EventUpdateOperationStatus, UpdateOperationStatus: &api.UpdateOperationStatusEvent{Status: fin}})
	if _, err := mesospb.FromJSON(mesospb.SchedulerEvent, evJSON); err != nil {
		t.Errorf("UPDATE_OPERATION_STATUS as protobuf: %v", err)
	}
	if msgs := h.messages(ag); len(msgs) != 1 || msgs[0].Type != api.MsgCheckpointResources {
		t.Errorf("agent messages %v, want one checkpoint", msgTypes(msgs))
	}

	// The same id again while r1 is kept: refused. Invalid offers: ERROR.
	must(t, h.m.Accept(db.sub, api.AcceptCall{OfferIDs: []api.ID{{Value: "gone"}}, Operations: []api.Operation{
		{Type: api.OperationUnreserve, ID: &api.ID{Value: "u1"}, Unreserve: &api.ResourcesOperation{Resources: res}},
	}}))
	ops, _ = db.opStatuses()
	if len(ops) != 1 || ops[0].State != api.OperationError || !strings.Contains(ops[0].Message, "invalid offers") {
		t.Errorf("operation with invalid offers: %+v", ops)
	}
	o = db.offer()
	must(t, h.m.Accept(db.sub, api.AcceptCall{OfferIDs: []api.ID{o.ID}, Operations: []api.Operation{
		{Type: api.OperationUnreserve, ID: &api.ID{Value: "r1"}, Unreserve: &api.ResourcesOperation{Resources: res}},
	}}))
	ops, _ = db.opStatuses()
	if len(ops) != 1 || ops[0].State != api.OperationError || !strings.Contains(ops[0].Message, "already in use") {
		t.Errorf("duplicate operation id: %+v", ops)
	}

	// GET_OPERATIONS lists r1.
	_, out := operatorPost(t, h.m.routes(), "GET_OPERATIONS", "application/json")
	b, _ := json.Marshal(out)
	if !strings.Contains(string(b), `"operation_id":{"value":"r1"}`) || !strings.Contains(string(b), `"state":"OPERATION_FINISHED"`) {
		t.Errorf("GET_OPERATIONS %s", b)
	}

	// Reconciliation: explicit and implicit.
	must(t, h.m.ReconcileOperations(db.sub, api.ReconcileOperationsCall{Operations: []api.ReconcileOperation{
		{OperationID: api.ID{Value: "r1"}},
		{OperationID: api.ID{Value: "x1"}},
		{OperationID: api.ID{Value: "x2"}, AgentID: &api.ID{Value: ag}},
		{OperationID: api.ID{Value: "x3"}, AgentID: &api.ID{Value: "no-such-agent"}},
	}}))
	ops, _ = db.opStatuses()
	wantStrings(t, "reconciliation", opSummary(ops), []string{"r1 " + api.OperationFinished, "x1 " + api.OperationUnknown, "x2 " + api.OperationUnknown, "x3 " + api.OperationUnknown})
	if ops[0].UUID != nil || !strings.Contains(ops[3].Message, "Both operation and agent are unknown") {
		t.Errorf("reconciliation answers %+v", ops)
	}
	must(t, h.m.ReconcileOperations(db.sub, api.ReconcileOperationsCall{}))
	ops, _ = db.opStatuses()
	wantStrings(t, "implicit reconciliation", opSummary(ops), []string{"r1 " + api.OperationFinished})

	// Acknowledgement: validated; a wrong uuid is ignored; the right one
	// ends the record.
	bad := []api.AcknowledgeOperationStatusCall{
		{AgentID: &api.ID{Value: ag}, UUID: []byte("short"), OperationID: api.ID{Value: "r1"}},
		{UUID: fin.UUID.Value, OperationID: api.ID{Value: "r1"}},
		{AgentID: &api.ID{Value: ag}, UUID: fin.UUID.Value},
		{AgentID: &api.ID{Value: ag}, ResourceProviderID: &api.ID{Value: "rp"}, UUID: fin.UUID.Value, OperationID: api.ID{Value: "r1"}},
	}
	for _, c := range bad {
		if err := h.m.AcknowledgeOperationStatus(db.sub, c); err == nil || api.HTTPStatus(err) != 400 {
			t.Errorf("ack %+v: %v, want a 400", c, err)
		}
	}
	must(t, h.m.AcknowledgeOperationStatus(db.sub, api.AcknowledgeOperationStatusCall{AgentID: &api.ID{Value: ag}, UUID: make([]byte, 16), OperationID: api.ID{Value: "r1"}}))
	must(t, h.m.ReconcileOperations(db.sub, api.ReconcileOperationsCall{}))
	if ops, _ = db.opStatuses(); len(ops) != 1 {
		t.Fatalf("after a wrong-uuid ack: %v", opSummary(ops))
	}
	must(t, h.m.AcknowledgeOperationStatus(db.sub, api.AcknowledgeOperationStatusCall{AgentID: &api.ID{Value: ag}, UUID: fin.UUID.Value, OperationID: api.ID{Value: "r1"}}))
	must(t, h.m.ReconcileOperations(db.sub, api.ReconcileOperationsCall{}))
	if ops, _ = db.opStatuses(); len(ops) != 0 {
		t.Fatalf("after the ack: %v", opSummary(ops))
	}
	_, out = operatorPost(t, h.m.routes(), "GET_OPERATIONS", "application/json")
	if b, _ := json.Marshal(out); strings.Contains(string(b), "r1") {
		t.Errorf("GET_OPERATIONS after the ack: %s", b)
	}
}

// The three calls over HTTP in JSON: 202, and the answers arrive on the
// stream.
func TestOperationFeedbackHTTP(t *testing.T) {
	h, srv := newHTTPHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024")
	f := subscribeHTTP(t, srv, `{"name":"http","user":"root","role":"db","principal":"p"}`)
	h.m.allocate()
	ev := f.next()
	if ev.Type != api.EventOffers {
		t.Fatalf("event %+v", ev)
	}
	f.mustCall(`{"type":"ACCEPT","framework_id":{"value":"` + f.id + `"},"accept":{"offer_ids":[{"value":"` + ev.Offers.Offers[0].ID.Value + `"}],
		"operations":[{"type":"RESERVE","id":{"value":"op1"},"reserve":{"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":1},
		"reservations":[{"type":"DYNAMIC","role":"db","principal":"p"}]}]}}]}}`)
	ev = f.next()
	if ev.Type != api.EventUpdateOperationStatus || ev.UpdateOperationStatus.Status.State != api.OperationFinished {
		t.Fatalf("event %+v", ev)
	}
	st := ev.UpdateOperationStatus.Status
	f.mustCall(`{"type":"RECONCILE_OPERATIONS","framework_id":{"value":"` + f.id + `"},"reconcile_operations":{"operations":[{"operation_id":{"value":"op1"}},{"operation_id":{"value":"op2"},"agent_id":{"value":"` + ag + `"}}]}}`)
	for _, want := range []string{"op1 " + api.OperationFinished, "op2 " + api.OperationUnknown} {
		if ev := f.next(); ev.Type != api.EventUpdateOperationStatus || opSummary([]api.OperationStatus{ev.UpdateOperationStatus.Status})[0] != want {
			t.Fatalf("reconcile answer %+v, want %s", ev, want)
		}
	}
	uuid, _ := json.Marshal(st.UUID.Value)
	f.mustCall(`{"type":"ACKNOWLEDGE_OPERATION_STATUS","framework_id":{"value":"` + f.id + `"},"acknowledge_operation_status":{"agent_id":{"value":"` + ag + `"},"operation_id":{"value":"op1"},"uuid":` + string(uuid) + `}}`)
	resp := f.call(`{"type":"ACKNOWLEDGE_OPERATION_STATUS","framework_id":{"value":"` + f.id + `"}}`)
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("ACKNOWLEDGE_OPERATION_STATUS without a body: %s", resp.Status)
	}
	h.m.mu.Lock()
	n := len(h.m.frameworks[f.id].operations)
	h.m.mu.Unlock()
	if n != 0 {
		t.Errorf("%d operations kept after the acknowledgement", n)
	}
}

// The new calls and the operation id survive nodectl's protobuf codec
// (the .proto files declare them with Mesos' numbers).
func TestOperationFeedbackProtobufCalls(t *testing.T) {
	for _, js := range []string{
		`{"type":"UPDATE_FRAMEWORK","framework_id":{"value":"f"},"update_framework":{"framework_info":{"user":"u","name":"n","id":{"value":"f"},"roles":["a"]},"suppressed_roles":["a"]}}`,
		`{"type":"ACKNOWLEDGE_OPERATION_STATUS","framework_id":{"value":"f"},"acknowledge_operation_status":{"agent_id":{"value":"a"},"uuid":"AAAAAAAAAAAAAAAAAAAAAA==","operation_id":{"value":"o"}}}`,
		`{"type":"RECONCILE_OPERATIONS","framework_id":{"value":"f"},"reconcile_operations":{"operations":[{"operation_id":{"value":"o"},"agent_id":{"value":"a"}}]}}`,
		`{"type":"ACCEPT","framework_id":{"value":"f"},"accept":{"offer_ids":[{"value":"o1"}],"operations":[{"type":"RESERVE","id":{"value":"op"},"reserve":{"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservations":[{"type":"DYNAMIC","role":"r"}]}]}}]}}`,
	} {
		pb, err := mesospb.FromJSON(mesospb.SchedulerCall, []byte(js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		back, err := mesospb.ToJSON(mesospb.SchedulerCall, pb)
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		var a, b api.Call
		must(t, json.Unmarshal([]byte(js), &a))
		must(t, json.Unmarshal(back, &b))
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Errorf("protobuf round trip:\n got %s\nwant %s", jb, ja)
		}
	}
	// A protobuf UPDATE_FRAMEWORK carrying offer_constraints (field 3) is
	// refused naming it, not dropped.
	uf, err := mesospb.FromJSON("mesos.v1.scheduler.Call.UpdateFramework", []byte(`{"framework_info":{"user":"u","name":"n","id":{"value":"f"}}}`))
	must(t, err)
	uf = protowire.AppendBytes(protowire.AppendTag(uf, 3, protowire.BytesType), nil)
	call := protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 17)
	call = protowire.AppendBytes(protowire.AppendTag(call, 19, protowire.BytesType), uf)
	if _, err := mesospb.ToJSON(mesospb.SchedulerCall, call); err == nil || !strings.Contains(err.Error(), "field 3") {
		t.Errorf("offer_constraints in protobuf: %v, want a refusal naming field 3", err)
	}
}
