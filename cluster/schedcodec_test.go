package cluster

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"nodectl/cluster/api"
	"nodectl/cluster/api/mesospb"
)

func TestPreferredCodec(t *testing.T) {
	for _, tc := range []struct {
		accept, message string
		ok              bool
		want            wireCodec
	}{
		{"", "", true, wireCodec{}},
		{"*/*", "", true, wireCodec{}},
		{"application/json", "", true, wireCodec{}},
		{"application/x-protobuf", "", true, wireCodec{proto: true}},
		{"application/x-protobuf, application/json", "", true, wireCodec{}},
		{"application/json;q=0.5, application/x-protobuf", "", true, wireCodec{proto: true}},
		{"application/x-protobuf;q=0, application/json", "", true, wireCodec{}},
		{"application/xml", "", false, wireCodec{}},
		{"application/json;q=0", "", false, wireCodec{}},
		{"application/recordio", "application/x-protobuf", true, wireCodec{proto: true, recordio: true}},
		{"application/recordio", "", true, wireCodec{recordio: true}},
		{"application/recordio", "text/plain", false, wireCodec{recordio: true}},
	} {
		h := http.Header{}
		h.Set("Accept", tc.accept)
		h.Set("Message-Accept", tc.message)
		got, ok := streamCodec(h)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("Accept %q Message-Accept %q: %+v %v, want %+v %v", tc.accept, tc.message, got, ok, tc.want, tc.ok)
		}
	}
}

// pbFramework is a framework speaking protobuf to the scheduler API.
type pbFramework struct {
	t        *testing.T
	url      string
	resp     *http.Response
	br       *bufio.Reader
	streamID string
	id       string
}

// pbPost sends the Mesos JSON call js as protobuf.
func pbPost(t *testing.T, url, js string, hdr map[string]string) *http.Response {
	t.Helper()
	body, err := mesospb.FromJSON(mesospb.SchedulerCall, []byte(js))
	if err != nil {
		t.Fatalf("encode %s: %v", js, err)
	}
	return rawPost(t, url, body, map[string]string{"Content-Type": mesospb.MediaProtobuf, "Accept": mesospb.MediaProtobuf}, hdr)
}

func rawPost(t *testing.T, url string, body []byte, hdrs ...map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, hdr := range hdrs {
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (f *pbFramework) next() api.Event {
	f.t.Helper()
	for {
		rec, err := api.ReadRecord(f.br, 1<<20)
		if err != nil {
			f.t.Fatalf("read event: %v", err)
		}
		js, err := mesospb.ToJSON(mesospb.SchedulerEvent, rec)
		if err != nil {
			f.t.Fatalf("decode event: %v", err)
		}
		var ev api.Event
		if err := json.Unmarshal(js, &ev); err != nil {
			f.t.Fatal(err)
		}
		if ev.Type != api.EventHeartbeat {
			return ev
		}
	}
}

func (f *pbFramework) mustCall(js string) {
	f.t.Helper()
	resp := pbPost(f.t, f.url, js, map[string]string{api.StreamIDHeader: f.streamID})
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(resp.Body)
		f.t.Fatalf("call %s: %s %s", js, resp.Status, b)
	}
}

// The scheduler API in protobuf: calls in, RecordIO-framed protobuf
// events out, both through the handlers JSON uses.
func TestSchedulerHTTPProtobuf(t *testing.T) {
	h, srv := newHTTPHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024")
	url := srv.URL + api.PathScheduler
	resp := pbPost(t, url, `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"pb","failover_timeout":60}}}`, nil)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("SUBSCRIBE: %s %s", resp.Status, b)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if ct := resp.Header.Get("Content-Type"); ct != mesospb.MediaProtobuf {
		t.Fatalf("Content-Type %q", ct)
	}
	f := &pbFramework{t: t, url: url, resp: resp, br: bufio.NewReader(resp.Body), streamID: resp.Header.Get(api.StreamIDHeader)}
	ev := f.next()
	if ev.Type != api.EventSubscribed || ev.Subscribed.MasterInfo == nil || ev.Subscribed.MasterInfo.Version != api.MesosVersion {
		t.Fatalf("first event %+v", ev)
	}
	f.id = ev.Subscribed.FrameworkID.Value
	fid := `"framework_id":{"value":"` + f.id + `"}`
	h.m.allocate()
	if ev = f.next(); ev.Type != api.EventOffers || len(ev.Offers.Offers) != 1 {
		t.Fatalf("event %+v", ev)
	}
	o := ev.Offers.Offers[0]
	f.mustCall(`{"type":"ACCEPT",` + fid + `,"accept":{"offer_ids":[{"value":"` + o.ID.Value + `"}],
		"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"t","task_id":{"value":"t1"},"agent_id":{"value":"` + ag + `"},
		"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":0.5}}],"command":{"value":"sleep 1"},
		"kill_policy":{"grace_period":{"nanoseconds":3000000000}}}]}}],"filters":{"refuse_seconds":0}}}`)
	wantStrings(t, "messages", msgTypes(h.messages(ag)), []string{"LAUNCH t1"})
	up := h.report(ag, f.id, "t1", api.TaskRunning)
	if ev = f.next(); ev.Type != api.EventUpdate || ev.Update.Status.State != api.TaskRunning || !bytes.Equal(ev.Update.Status.UUID, up.Status.UUID) {
		t.Fatalf("event %+v", ev)
	}
	uuid, _ := json.Marshal(up.Status.UUID)
	f.mustCall(`{"type":"ACKNOWLEDGE",` + fid + `,"acknowledge":{"agent_id":{"value":"` + ag + `"},"task_id":{"value":"t1"},"uuid":` + string(uuid) + `}}`)
	wantStrings(t, "messages", msgTypes(h.messages(ag)), []string{"ACKNOWLEDGE t1"})
	f.mustCall(`{"type":"KILL",` + fid + `,"kill":{"task_id":{"value":"t1"}}}`)
	wantStrings(t, "messages", msgTypes(h.messages(ag)), []string{"KILL t1"})

	// A field nodectl does not know is refused with its number, not
	// dropped: FrameworkInfo.offer_filters is 13.
	// Append FrameworkInfo field 13 (an empty message) inside subscribe
	// (3) → framework_info (1): re-encode the nesting by hand.
	fi, err := mesospb.FromJSON("mesos.v1.FrameworkInfo", []byte(`{"user":"u","name":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	fi = append(fi, 13<<3|2, 0)
	sub := append([]byte{1<<3 | 2, byte(len(fi))}, fi...)
	raw := append([]byte{2 << 3, 1, 3<<3 | 2, byte(len(sub))}, sub...)
	resp = rawPost(t, url, raw, map[string]string{"Content-Type": mesospb.MediaProtobuf})
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "field 13 of mesos.v1.FrameworkInfo") {
		t.Fatalf("undeclared field: %s %s", resp.Status, b)
	}

	// application/recordio with Message-Accept: the newer way to ask.
	resp = pbPost(t, url, `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"pb2"}}}`,
		map[string]string{"Accept": mesospb.MediaRecordIO, "Message-Accept": mesospb.MediaProtobuf})
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != mesospb.MediaRecordIO || resp.Header.Get("Message-Content-Type") != mesospb.MediaProtobuf {
		t.Fatalf("recordio SUBSCRIBE: %s %v", resp.Status, resp.Header)
	}
	g := &pbFramework{t: t, url: url, resp: resp, br: bufio.NewReader(resp.Body)}
	if ev := g.next(); ev.Type != api.EventSubscribed {
		t.Fatalf("first event %+v", ev)
	}

	f.mustCall(`{"type":"TEARDOWN",` + fid + `}`)
}
