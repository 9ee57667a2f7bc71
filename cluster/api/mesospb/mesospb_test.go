package mesospb

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"google.golang.org/protobuf/encoding/protowire"

	"nodectl/cluster/api"
)

func ptr[T any](v T) *T { return &v }

// tree decodes JSON into a generic tree without nulls and empty arrays or
// objects: what an absent protobuf field and an empty one look like.
func tree(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return prune(v)
}

func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if e = prune(e); !empty(e) {
				out[k] = e
			}
		}
		return out
	case []any:
		out := []any{}
		for _, e := range x {
			out = append(out, prune(e))
		}
		return out
	}
	return v
}

// roundTrip sends the JSON of v through protobuf and back: what reaches
// nodectl's handlers must be what the JSON said.
func roundTrip(t *testing.T, name string, v any) {
	t.Helper()
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := FromJSON(name, js)
	if err != nil {
		t.Fatalf("FromJSON %s: %v", js, err)
	}
	back, err := ToJSON(name, pb)
	if err != nil {
		t.Fatalf("ToJSON: %v", err)
	}
	if a, b := tree(t, js), tree(t, back); !reflect.DeepEqual(a, b) {
		t.Errorf("%s round trip:\n in  %s\n out %s", name, js, back)
	}
	// And into the handlers' type: the same value.
	typed := reflect.New(reflect.TypeOf(v))
	if err := json.Unmarshal(back, typed.Interface()); err != nil {
		t.Fatalf("decode %s: %v", back, err)
	}
	if !reflect.DeepEqual(typed.Elem().Interface(), v) {
		t.Errorf("%s: handlers see\n %+v\nwant\n %+v", name, typed.Elem().Interface(), v)
	}
}

func res() api.Resources {
	return api.Resources{
		{Name: "cpus", Type: "SCALAR", Scalar: &api.ScalarVal{Value: 0.5}, Role: "web",
			Reservations: []api.ReservationInfo{{Type: "DYNAMIC", Role: "web", Principal: "ops", Labels: &api.Labels{Labels: []api.Label{{Key: "k", Value: "v"}}}}}},
		{Name: "ports", Type: "RANGES", Ranges: &api.RangesVal{Range: []api.Range{{Begin: 31000, End: 31009}}}},
		{Name: "zones", Type: "SET", Set: &api.SetVal{Item: []string{"a", "b"}}},
		{Name: "disk", Type: "SCALAR", Scalar: &api.ScalarVal{Value: 64}, Role: "web",
			Disk: &api.DiskInfo{Persistence: &api.Persistence{ID: "vol1", Principal: "ops"}, Volume: &api.DiskVolume{ContainerPath: "data", Mode: "RW"},
				Source: &api.DiskSource{Type: "MOUNT", Mount: &api.DiskSourceRoot{Root: "/mnt/d1"}}}},
	}
}

func fullTask() api.TaskInfo {
	return api.TaskInfo{
		Name: "t", TaskID: api.ID{Value: "t1"}, AgentID: api.ID{Value: "a1"}, Resources: res(),
		Command: &api.CommandInfo{Value: "echo hi", Shell: ptr(true), Arguments: []string{"x"}, User: "nobody",
			URIs: []api.CommandURI{{Value: "http://x/y.tgz", Extract: ptr(false), Executable: true, Cache: true, OutputFile: "y"}},
			Environment: &api.Environment{Variables: []api.EnvVar{{Name: "A", Value: "1"},
				{Name: "S", Type: "SECRET", Secret: &api.Secret{Type: "REFERENCE", Reference: &api.SecretRef{Name: "db/pass", Key: "k"}}}}}},
		Container: &api.ContainerInfo{Type: "MESOS",
			Mesos: &api.MesosContainer{Image: &api.Image{Type: "DOCKER", Docker: &api.DockerImage{Name: "busybox:1"}, Cached: ptr(false)}},
			Volumes: []api.Volume{{ContainerPath: "/etc/x", Mode: "RO", HostPath: "/etc/x"},
				{ContainerPath: "s", Mode: "RO", Source: &api.VolumeSource{Type: "SECRET", Secret: &api.Secret{Type: "VALUE", Value: &api.SecretVal{Data: []byte("pw\x00\xff")}}}},
				{ContainerPath: "shared", Mode: "RW", Source: &api.VolumeSource{Type: "SANDBOX_PATH", SandboxPath: &api.SandboxPath{Type: "PARENT", Path: "shared"}}}},
			LinuxInfo: &api.LinuxInfo{Seccomp: &api.SeccompInfo{ProfileName: "default"}},
			NetworkInfos: []api.NetworkInfo{{Name: "bridge", PortMappings: []api.NetPortMapping{{HostPort: 31000, ContainerPort: 80, Protocol: "tcp"}},
				Labels: &api.Labels{Labels: []api.Label{{Key: "a"}}}, IPAddresses: []api.IPAddress{{Protocol: "IPv4", IPAddress: "10.0.0.2"}}}}},
		KillPolicy:  &api.KillPolicy{GracePeriod: &api.DurationInfo{Nanoseconds: 1<<62 + 7}},
		Labels:      &api.Labels{Labels: []api.Label{{Key: "l", Value: "v"}}},
		HealthCheck: &api.HealthCheck{Type: "HTTP", HTTP: &api.HTTPCheck{Port: 8080, Path: "/h", Scheme: "http", Statuses: []uint32{200}}, DelaySeconds: 1, IntervalSeconds: 2, TimeoutSeconds: 3, ConsecutiveFailures: 4, GracePeriodSeconds: 5},
		MoreHealthChecks: []api.HealthCheck{{Type: "TCP", TCP: &api.TCPCheck{Port: 9}},
			{Type: "COMMAND", Command: &api.CommandInfo{Value: "true"}}},
	}
}

// Every call body the scheduler handlers read, JSON → protobuf → JSON.
func TestSchedulerCallsRoundTrip(t *testing.T) {
	fid := &api.ID{Value: "fw-1"}
	refuse := 2.5
	calls := []api.Call{
		{Type: api.CallSubscribe, Subscribe: &api.SubscribeCall{SuppressedRoles: []string{"b"}, FrameworkInfo: api.FrameworkInfo{
			ID: fid, User: "root", Name: "fw", Role: "a", Roles: []string{"a", "b"}, FailoverTimeout: 3600, Checkpoint: true, Hostname: "h",
			Principal: "p", WebuiURL: "http://ui", Capabilities: []api.Capability{{Type: "MULTI_ROLE"}, {Type: "PARTITION_AWARE"}},
			Labels: &api.Labels{Labels: []api.Label{{Key: "k", Value: "v"}}}}}},
		{Type: api.CallTeardown, FrameworkID: fid},
		{Type: api.CallAccept, FrameworkID: fid, Accept: &api.AcceptCall{OfferIDs: []api.ID{{Value: "o1"}, {Value: "o2"}}, Filters: &api.Filters{RefuseSeconds: &refuse},
			Operations: []api.Operation{
				{Type: api.OperationLaunch, Launch: &api.LaunchOperation{TaskInfos: []api.TaskInfo{fullTask()}}},
				{Type: api.OperationLaunchGroup, LaunchGroup: &api.LaunchGroupOperation{
					Executor:  api.ExecutorInfo{Type: "DEFAULT", ExecutorID: api.ID{Value: "e1"}, FrameworkID: fid, Resources: res()},
					TaskGroup: api.TaskGroupInfo{Tasks: []api.TaskInfo{fullTask(), {Name: "u", TaskID: api.ID{Value: "t2"}, AgentID: api.ID{Value: "a1"}}}}}},
				{Type: api.OperationReserve, Reserve: &api.ResourcesOperation{Resources: res()}},
				{Type: api.OperationUnreserve, Unreserve: &api.ResourcesOperation{Resources: res()}},
				{Type: api.OperationCreate, Create: &api.VolumesOperation{Volumes: res()}},
				{Type: api.OperationDestroy, Destroy: &api.VolumesOperation{Volumes: res()}},
			}}},
		{Type: api.CallDecline, FrameworkID: fid, Decline: &api.DeclineCall{OfferIDs: []api.ID{{Value: "o1"}}, Filters: &api.Filters{RefuseSeconds: &refuse}}},
		{Type: api.CallRevive, FrameworkID: fid, Revive: &api.RolesCall{Roles: []string{"a"}}},
		{Type: api.CallSuppress, FrameworkID: fid, Suppress: &api.RolesCall{Roles: []string{"a"}}},
		{Type: api.CallKill, FrameworkID: fid, Kill: &api.KillCall{TaskID: api.ID{Value: "t1"}, AgentID: &api.ID{Value: "a1"}, KillPolicy: &api.KillPolicy{GracePeriod: &api.DurationInfo{Nanoseconds: 5e9}}}},
		{Type: api.CallAcknowledge, FrameworkID: fid, Acknowledge: &api.AcknowledgeCall{AgentID: api.ID{Value: "a1"}, TaskID: api.ID{Value: "t1"}, UUID: []byte{0, 1, 2, 0xfe, 0xff}}},
		{Type: api.CallReconcile, FrameworkID: fid, Reconcile: &api.ReconcileCall{Tasks: []api.ReconcileTask{{TaskID: api.ID{Value: "t1"}, AgentID: &api.ID{Value: "a1"}}, {TaskID: api.ID{Value: "t2"}}}}},
		{Type: api.CallReconcile, FrameworkID: fid, Reconcile: &api.ReconcileCall{}},
		{Type: api.CallMessage, FrameworkID: fid},
		{Type: api.CallRequest, FrameworkID: fid},
	}
	for _, c := range calls {
		t.Run(c.Type, func(t *testing.T) { roundTrip(t, SchedulerCall, c) })
	}
}

// Every event the master sends, JSON → protobuf → JSON.
func TestSchedulerEventsRoundTrip(t *testing.T) {
	mi := api.MasterInfo{ID: "m1", PID: "master@127.0.0.1:5050", Hostname: "h", IP: "127.0.0.1", Port: 5050}.Mesos()
	mi.Capabilities = []api.MesosCapability{{Type: "AGENT_UPDATE"}}
	events := []api.Event{
		{Type: api.EventSubscribed, Subscribed: &api.SubscribedEvent{FrameworkID: api.ID{Value: "fw"}, HeartbeatIntervalSeconds: 15, MasterInfo: &mi}},
		{Type: api.EventOffers, Offers: &api.OffersEvent{Offers: []api.Offer{{ID: api.ID{Value: "o"}, FrameworkID: api.ID{Value: "fw"}, AgentID: api.ID{Value: "a"},
			Hostname: "h", Resources: res(), ExecutorIDs: []api.ID{{Value: "e"}}, AllocationInfo: &api.AllocationInfo{Role: "web"},
			Attributes: api.Attributes{"rack": "r1", "size": 3.0}.List()}}}},
		{Type: api.EventRescind, Rescind: &api.RescindEvent{OfferID: api.ID{Value: "o"}}},
		{Type: api.EventUpdate, Update: &api.UpdateEvent{Status: api.TaskStatus{TaskID: api.ID{Value: "t"}, State: "TASK_RUNNING", Message: "m",
			Source: "SOURCE_EXECUTOR", Reason: "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED", AgentID: &api.ID{Value: "a"}, ExecutorID: &api.ID{Value: "e"},
			Timestamp: 1.7e9 + 0.25, UUID: []byte{1, 2, 3}, Healthy: ptr(false), ExitCode: ptr(3),
			ContainerStatus: &api.ContainerStatus{ContainerID: &api.ID{Value: "c"}, ExecutorPID: 42, NetworkInfo: []any{
				map[string]any{"name": "bridge", "ip_addresses": []any{map[string]any{"ip_address": "10.1.0.3"}}}}},
			HealthChecks: []api.CheckResult{{Healthy: ptr(true), Message: "ok"}, {Healthy: ptr(false)}}}}},
		{Type: api.EventUpdate, Update: &api.UpdateEvent{Status: api.TaskStatus{TaskID: api.ID{Value: "t"}, State: "TASK_STARTING"}}},
		{Type: api.EventFailure, Failure: &api.FailureEvent{AgentID: &api.ID{Value: "a"}, ExecutorID: &api.ID{Value: "e"}, Status: ptr(-1)}},
		{Type: api.EventError, Error: &api.ErrorEvent{Message: "Framework failed over"}},
		{Type: api.EventHeartbeat},
	}
	for _, e := range events {
		t.Run(e.Type, func(t *testing.T) {
			js, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			pb, err := FromJSON(SchedulerEvent, js)
			if err != nil {
				t.Fatalf("FromJSON %s: %v", js, err)
			}
			back, err := ToJSON(SchedulerEvent, pb)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := tree(t, js), tree(t, back); !reflect.DeepEqual(a, b) {
				t.Errorf("round trip:\n in  %s\n out %s", js, back)
			}
		})
	}
}

// Golden against a real Mesos client library: the bytes mesos-go's
// protobuf codec sends decode to the JSON its JSON codec sends, and the
// bytes nodectl sends decode in mesos-go to the event the JSON says.
func TestMesosGoWire(t *testing.T) {
	shell := true
	cmd := "sleep 1"
	principal := "p"
	ft := 60.0
	calls := []*scheduler.Call{
		{Type: scheduler.Call_SUBSCRIBE, Subscribe: &scheduler.Call_Subscribe{FrameworkInfo: &mesos.FrameworkInfo{
			User: "u", Name: "n", Principal: &principal, FailoverTimeout: &ft, Roles: []string{"r"},
			Capabilities: []mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE}}}}},
		{Type: scheduler.Call_ACCEPT, FrameworkID: &mesos.FrameworkID{Value: "f"}, Accept: &scheduler.Call_Accept{
			OfferIDs: []mesos.OfferID{{Value: "o"}}, Operations: []mesos.Offer_Operation{{Type: mesos.Offer_Operation_LAUNCH, Launch: &mesos.Offer_Operation_Launch{
				TaskInfos: []mesos.TaskInfo{{Name: "t", TaskID: mesos.TaskID{Value: "t"}, AgentID: mesos.AgentID{Value: "a"},
					Resources: []mesos.Resource{{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 0.1},
						AllocationInfo: &mesos.Resource_AllocationInfo{Role: &principal}},
						{Name: "ports", Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: []mesos.Value_Range{{Begin: 1, End: 1 << 40}}}}},
					Command:    &mesos.CommandInfo{Shell: &shell, Value: &cmd},
					KillPolicy: &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: 1 << 50}}}}}}}}},
		{Type: scheduler.Call_ACKNOWLEDGE, FrameworkID: &mesos.FrameworkID{Value: "f"}, Acknowledge: &scheduler.Call_Acknowledge{
			AgentID: mesos.AgentID{Value: "a"}, TaskID: mesos.TaskID{Value: "t"}, UUID: []byte{9, 8, 7}}},
		{Type: scheduler.Call_KILL, FrameworkID: &mesos.FrameworkID{Value: "f"}, Kill: &scheduler.Call_Kill{TaskID: mesos.TaskID{Value: "t"}}},
		{Type: scheduler.Call_TEARDOWN, FrameworkID: &mesos.FrameworkID{Value: "f"}},
	}
	for _, c := range calls {
		pb, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ToJSON(SchedulerCall, pb)
		if err != nil {
			t.Fatalf("%v: %v", c.Type, err)
		}
		want, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := tree(t, want), tree(t, got); !reflect.DeepEqual(a, b) {
			t.Errorf("%v:\n mesos-go JSON %s\n nodectl       %s", c.Type, want, got)
		}
	}

	status := api.TaskStatus{TaskID: api.ID{Value: "t"}, State: "TASK_FINISHED", Source: "SOURCE_EXECUTOR",
		AgentID: &api.ID{Value: "a"}, Timestamp: 12.5, UUID: []byte{1, 2}, Healthy: ptr(true), ExitCode: ptr(0)}
	js, _ := json.Marshal(api.Event{Type: api.EventUpdate, Update: &api.UpdateEvent{Status: status}})
	pb, err := FromJSON(SchedulerEvent, js)
	if err != nil {
		t.Fatal(err)
	}
	var ev scheduler.Event
	if err := ev.Unmarshal(pb); err != nil {
		t.Fatalf("mesos-go cannot decode nodectl's UPDATE: %v", err)
	}
	st := ev.GetUpdate().GetStatus()
	if ev.Type != scheduler.Event_UPDATE || st.TaskID.Value != "t" || st.GetState() != mesos.TASK_FINISHED || st.GetSource() != mesos.SOURCE_EXECUTOR ||
		st.GetAgentID().GetValue() != "a" || st.GetTimestamp() != 12.5 || string(st.GetUUID()) != "\x01\x02" || !st.GetHealthy() {
		t.Errorf("mesos-go decoded %+v", ev)
	}
	mi := api.MasterInfo{ID: "m", IP: "127.0.0.1", Port: 5050, Hostname: "h"}.Mesos()
	js, _ = json.Marshal(api.Event{Type: api.EventSubscribed, Subscribed: &api.SubscribedEvent{FrameworkID: api.ID{Value: "f"}, HeartbeatIntervalSeconds: 15, MasterInfo: &mi}})
	if pb, err = FromJSON(SchedulerEvent, js); err != nil {
		t.Fatal(err)
	}
	ev = scheduler.Event{}
	if err := ev.Unmarshal(pb); err != nil {
		t.Fatalf("mesos-go cannot decode nodectl's SUBSCRIBED: %v", err)
	}
	if s := ev.GetSubscribed(); s.FrameworkID.Value != "f" || s.MasterInfo.IP != mi.IP || s.MasterInfo.GetAddress().GetIP() != "127.0.0.1" || s.MasterInfo.GetVersion() != api.MesosVersion {
		t.Errorf("mesos-go decoded %+v", s)
	}
}

// A field nodectl's .proto does not declare is refused, naming its number.
func TestUnknownFieldRefused(t *testing.T) {
	sub := &scheduler.Call{Type: scheduler.Call_SUBSCRIBE, Subscribe: &scheduler.Call_Subscribe{FrameworkInfo: &mesos.FrameworkInfo{
		User: "u", Name: "n", OfferFilters: map[string]mesos.OfferFilters{"r": {}}}}}
	pb, err := sub.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	_, err = ToJSON(SchedulerCall, pb)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "field 13 of mesos.v1.FrameworkInfo") {
		t.Errorf("offer_filters: %v", err)
	}
	// A top-level field: REQUEST's body (11).
	b := protowire.AppendTag(nil, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, 11)
	b = protowire.AppendTag(b, 11, protowire.BytesType)
	b = protowire.AppendBytes(b, nil)
	if _, err = ToJSON(SchedulerCall, b); err == nil || !strings.Contains(err.Error(), "field 11 of mesos.v1.scheduler.Call") {
		t.Errorf("request body: %v", err)
	}
	// An enum value nodectl does not know.
	b = protowire.AppendTag(nil, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, 99)
	if _, err = ToJSON(SchedulerCall, b); err == nil || !strings.Contains(err.Error(), "type (field 2)") {
		t.Errorf("call type 99: %v", err)
	}
	// A missing required field.
	b = protowire.AppendTag(nil, 3, protowire.BytesType)
	b = protowire.AppendBytes(b, nil)
	if _, err = ToJSON(SchedulerCall, b); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "framework_info") {
		t.Errorf("subscribe without framework_info: %v", err)
	}
	// Garbage.
	if _, err = ToJSON(SchedulerCall, []byte{0xff, 0xff}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("garbage: %v", err)
	}
	// The other way, a JSON field with no protobuf home is an error (a
	// bug in nodectl), unless it carries nothing.
	if _, err := FromJSON(SchedulerEvent, []byte(`{"type":"HEARTBEAT","nodectl_new":1}`)); err == nil {
		t.Error("undeclared JSON field encoded")
	}
	if _, err := FromJSON(SchedulerEvent, []byte(`{"type":"HEARTBEAT","nodectl_new":[],"x":null,"y":{}}`)); err != nil {
		t.Errorf("empty undeclared fields: %v", err)
	}
}

// The operator API's protobuf responses.
func TestOperatorRoundTrip(t *testing.T) {
	for _, js := range []string{
		`{"type":"GET_HEALTH","get_health":{"healthy":true}}`,
		`{"type":"GET_VERSION","get_version":{"version_info":{"version":"1.11.0","nodectl_version":"dev","git_sha":"abc","build_time":0,"build_date":"","build_user":"","git_branch":"","git_tag":""}}}`,
		`{"type":"GET_FLAGS","get_flags":{"flags":[{"name":"port","value":"5050"}]}}`,
		`{"type":"GET_METRICS","get_metrics":{"metrics":[{"name":"master/uptime_secs","value":12.5}]}}`,
		`{"type":"GET_LOGGING_LEVEL","get_logging_level":{"level":0}}`,
		`{"type":"GET_AGENTS","get_agents":{"agents":[{"agent_info":{"id":{"value":"a"},"hostname":"h","port":5051,"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":2}}],"attributes":[{"name":"rack","type":"TEXT","text":{"value":"r"}}]},"active":true,"deactivated":false,"version":"1.11.0","pid":"slave(1)@127.0.0.1:5051","registered_time":{"nanoseconds":1700000000123456789},"total_resources":[],"allocated_resources":[],"offered_resources":[],"capabilities":[{"type":"MULTI_ROLE"}]}],"recovered_agents":[]}}`,
		`{"type":"GET_FRAMEWORKS","get_frameworks":{"frameworks":[{"framework_info":{"user":"u","name":"n","id":{"value":"f"}},"active":true,"connected":true,"recovered":false,"registered_time":{"nanoseconds":5},"offers":[],"inverse_offers":[],"allocated_resources":[],"offered_resources":[]}],"completed_frameworks":[]}}`,
		`{"type":"GET_MASTER","get_master":{"master_info":{"id":"m","ip":16777343,"port":5050,"capabilities":[]},"start_time":1.5,"elected_time":2.5}}`,
	} {
		pb, err := FromJSON(OperatorResponse, []byte(js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		back, err := ToJSON(OperatorResponse, pb)
		if err != nil {
			t.Fatal(err)
		}
		// 64-bit nanoseconds must survive as exact numbers.
		if strings.Contains(js, "1700000000123456789") && !strings.Contains(string(back), "1700000000123456789") {
			t.Errorf("nanoseconds lost: %s", back)
		}
		if a, b := tree(t, []byte(js)), tree(t, back); !reflect.DeepEqual(a, b) {
			t.Errorf("round trip:\n in  %s\n out %s", js, back)
		}
	}
	for _, js := range []string{`{"type":"GET_HEALTH"}`, `{"type":"GET_METRICS","get_metrics":{"timeout":{"nanoseconds":5000000000}}}`} {
		pb, err := FromJSON(OperatorCall, []byte(js))
		if err != nil {
			t.Fatal(err)
		}
		back, err := ToJSON(OperatorCall, pb)
		if err != nil || !reflect.DeepEqual(tree(t, []byte(js)), tree(t, back)) {
			t.Errorf("%s → %s (%v)", js, back, err)
		}
	}
}
