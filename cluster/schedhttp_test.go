package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
)

// httpFramework is a framework speaking the v1 HTTP API to a test server.
type httpFramework struct {
	t        *testing.T
	srv      *httptest.Server
	resp     *http.Response
	br       *bufio.Reader
	streamID string
	id       string
}

func post(t testing.TB, url string, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func subscribeHTTP(t *testing.T, srv *httptest.Server, info string) *httpFramework {
	t.Helper()
	resp := post(t, srv.URL+api.PathScheduler, `{"type":"SUBSCRIBE","subscribe":{"framework_info":`+info+`}}`, nil)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("SUBSCRIBE: %s %s", resp.Status, b)
	}
	t.Cleanup(func() { resp.Body.Close() })
	f := &httpFramework{t: t, srv: srv, resp: resp, br: bufio.NewReader(resp.Body), streamID: resp.Header.Get(api.StreamIDHeader)}
	if f.streamID == "" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("SUBSCRIBE headers %v", resp.Header)
	}
	ev := f.next()
	if ev.Type != api.EventSubscribed || ev.Subscribed.HeartbeatIntervalSeconds <= 0 || ev.Subscribed.MasterInfo == nil {
		t.Fatalf("first event %+v", ev)
	}
	f.id = ev.Subscribed.FrameworkID.Value
	return f
}

// next reads the next event that is not a HEARTBEAT.
func (f *httpFramework) next() api.Event {
	f.t.Helper()
	for {
		ev := f.nextAny()
		if ev.Type != api.EventHeartbeat {
			return ev
		}
	}
}

func (f *httpFramework) nextAny() api.Event {
	f.t.Helper()
	rec, err := api.ReadRecord(f.br, 1<<20)
	if err != nil {
		f.t.Fatalf("read event: %v", err)
	}
	var ev api.Event
	if err := json.Unmarshal(rec, &ev); err != nil {
		f.t.Fatalf("decode event %q: %v", rec, err)
	}
	return ev
}

func (f *httpFramework) call(body string) *http.Response {
	f.t.Helper()
	return post(f.t, f.srv.URL+api.PathScheduler, body, map[string]string{api.StreamIDHeader: f.streamID})
}

func (f *httpFramework) mustCall(body string) {
	f.t.Helper()
	resp := f.call(body)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(resp.Body)
		f.t.Fatalf("call %s: %s %s", body, resp.Status, b)
	}
}

func newHTTPHarness(t *testing.T, mod ...func(*Config)) (*harness, *httptest.Server) {
	h := newHarness(t, append([]func(*Config){func(c *Config) { c.HeartbeatInterval = 50 * time.Millisecond }}, mod...)...)
	srv := httptest.NewServer(h.m.Handler())
	t.Cleanup(srv.Close)
	return h, srv
}

// The v1 scheduler API end to end over HTTP: RecordIO events, calls with
// the stream id, heartbeats, disconnection when the stream ends.
func TestSchedulerHTTP(t *testing.T) {
	h, srv := newHTTPHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024")
	f := subscribeHTTP(t, srv, `{"name":"http","user":"root","failover_timeout":60}`)
	h.m.allocate()
	ev := f.next()
	if ev.Type != api.EventOffers || len(ev.Offers.Offers) != 1 {
		t.Fatalf("event %+v", ev)
	}
	o := ev.Offers.Offers[0]
	if o.AllocationInfo == nil || o.AllocationInfo.Role != "*" || o.Hostname != "a1" {
		t.Errorf("offer %+v", o)
	}
	f.mustCall(`{"type":"ACCEPT","framework_id":{"value":"` + f.id + `"},"accept":{"offer_ids":[{"value":"` + o.ID.Value + `"}],
		"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"t","task_id":{"value":"t1"},"agent_id":{"value":"` + ag + `"},
		"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":0.5}}],"command":{"value":"sleep 1"}}]}}],"filters":{"refuse_seconds":0}}}`)
	wantStrings(t, "messages", msgTypes(h.messages(ag)), []string{"LAUNCH t1"})
	up := h.report(ag, f.id, "t1", api.TaskRunning)
	ev = f.next()
	if ev.Type != api.EventUpdate || ev.Update.Status.State != api.TaskRunning {
		t.Fatalf("event %+v", ev)
	}
	uuid, _ := json.Marshal(up.Status.UUID) // base64, as Mesos JSON has bytes
	f.mustCall(`{"type":"ACKNOWLEDGE","framework_id":{"value":"` + f.id + `"},"acknowledge":{"agent_id":{"value":"` + ag + `"},"task_id":{"value":"t1"},"uuid":` + string(uuid) + `}}`)
	wantStrings(t, "messages", msgTypes(h.messages(ag)), []string{"ACKNOWLEDGE t1"})
	f.mustCall(`{"type":"RECONCILE","framework_id":{"value":"` + f.id + `"},"reconcile":{"tasks":[]}}`)
	if ev := f.next(); ev.Type != api.EventUpdate || ev.Update.Status.Reason != api.ReasonReconciliation {
		t.Fatalf("reconcile answer %+v", ev)
	}
	f.mustCall(`{"type":"KILL","framework_id":{"value":"` + f.id + `"},"kill":{"task_id":{"value":"t1"}}}`)
	wantStrings(t, "messages", msgTypes(h.messages(ag)), []string{"KILL t1"})
	f.mustCall(`{"type":"SUPPRESS","framework_id":{"value":"` + f.id + `"}}`)
	f.mustCall(`{"type":"REVIVE","framework_id":{"value":"` + f.id + `"},"revive":{"roles":["*"]}}`)
	f.mustCall(`{"type":"REQUEST","framework_id":{"value":"` + f.id + `"}}`)

	// Heartbeats keep coming (every 50ms here).
	for range 2 {
		if ev := f.nextAny(); ev.Type != api.EventHeartbeat && ev.Type != api.EventOffers {
			t.Fatalf("idle stream event %s", ev.Type)
		}
	}
	// Closing the stream disconnects the framework.
	f.resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for h.metric("master/frameworks_connected") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("framework still connected after its stream closed")
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
	resp := f.call(`{"type":"REVIVE","framework_id":{"value":"` + f.id + `"}}`)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("call after disconnect: %s, want 403", resp.Status)
	}
	// Re-subscribing with the id fails over; TEARDOWN ends it.
	f2 := subscribeHTTP(t, srv, `{"name":"http","failover_timeout":60,"id":{"value":"`+f.id+`"}}`)
	if f2.id != f.id {
		t.Fatalf("re-subscribed as %s, want %s", f2.id, f.id)
	}
	f2.mustCall(`{"type":"TEARDOWN","framework_id":{"value":"` + f.id + `"}}`)
	if _, err := api.ReadRecord(f2.br, 1<<20); err == nil {
		// Whatever was queued may come first; the stream must then end.
		for {
			if _, err := api.ReadRecord(f2.br, 1<<20); err != nil {
				break
			}
		}
	}
}

// Malformed or misdirected calls get 4xx, never a crash (and never 5xx).
func TestSchedulerHTTPErrors(t *testing.T) {
	h, srv := newHTTPHarness(t)
	h.agent("a1", "cpus:2;mem:1024")
	f := subscribeHTTP(t, srv, `{"name":"x"}`)
	fid := `"framework_id":{"value":"` + f.id + `"}`
	for _, tc := range []struct {
		name, body string
		hdr        map[string]string
		want       int
	}{
		{"text content", `{}`, map[string]string{"Content-Type": "text/plain"}, 415},
		{"protobuf content not protobuf", `{}`, map[string]string{"Content-Type": "application/x-protobuf"}, 400},
		{"no content type", `{}`, map[string]string{"Content-Type": ""}, 415},
		{"xml accept", `{"type":"SUBSCRIBE"}`, map[string]string{"Accept": "application/xml"}, 406},
		{"recordio accept of xml", `{"type":"SUBSCRIBE"}`, map[string]string{"Accept": "application/recordio", "Message-Accept": "application/xml"}, 406},
		{"json accept with charset", `{"type":"NOPE"}`, map[string]string{"Accept": "application/json; charset=utf-8", api.StreamIDHeader: f.streamID}, 400},
		{"malformed", `{"type":`, nil, 400},
		{"not an object", `[]`, nil, 400},
		{"empty", ``, nil, 400},
		{"wrong field type", `{"type":1}`, nil, 400},
		{"no type", `{` + fid + `}`, map[string]string{api.StreamIDHeader: f.streamID}, 400},
		{"unknown type", `{"type":"FROB",` + fid + `}`, map[string]string{api.StreamIDHeader: f.streamID}, 400},
		{"unsupported type", `{"type":"SHUTDOWN",` + fid + `}`, map[string]string{api.StreamIDHeader: f.streamID}, 400},
		{"no stream id", `{"type":"REVIVE",` + fid + `}`, nil, 400},
		{"wrong stream id", `{"type":"REVIVE",` + fid + `}`, map[string]string{api.StreamIDHeader: "nope"}, 403},
		{"unknown framework", `{"type":"REVIVE","framework_id":{"value":"nope"}}`, map[string]string{api.StreamIDHeader: f.streamID}, 403},
		{"no framework id", `{"type":"REVIVE"}`, map[string]string{api.StreamIDHeader: f.streamID}, 400},
		{"accept without body", `{"type":"ACCEPT",` + fid + `}`, map[string]string{api.StreamIDHeader: f.streamID}, 400},
		{"reserve", `{"type":"ACCEPT",` + fid + `,"accept":{"offer_ids":[],"operations":[{"type":"RESERVE"}]}}`, map[string]string{api.StreamIDHeader: f.streamID}, 400},
		{"launch without launch", `{"type":"ACCEPT",` + fid + `,"accept":{"offer_ids":[],"operations":[{"type":"LAUNCH"}]}}`, map[string]string{api.StreamIDHeader: f.streamID}, 400},
		{"nan refuse", `{"type":"DECLINE",` + fid + `,"decline":{"offer_ids":[],"filters":{"refuse_seconds":"x"}}}`, map[string]string{api.StreamIDHeader: f.streamID}, 400},
		{"ack bad uuid", `{"type":"ACKNOWLEDGE",` + fid + `,"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"AAAA"}}`, map[string]string{api.StreamIDHeader: f.streamID}, 400},
		{"ack not base64", `{"type":"ACKNOWLEDGE",` + fid + `,"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"!!"}}`, map[string]string{api.StreamIDHeader: f.streamID}, 400},
		{"kill without task", `{"type":"KILL",` + fid + `,"kill":{}}`, map[string]string{api.StreamIDHeader: f.streamID}, 400},
		{"reconcile without task id", `{"type":"RECONCILE",` + fid + `,"reconcile":{"tasks":[{}]}}`, map[string]string{api.StreamIDHeader: f.streamID}, 400},
		{"suppress unknown role", `{"type":"SUPPRESS",` + fid + `,"suppress":{"roles":["r"]}}`, map[string]string{api.StreamIDHeader: f.streamID}, 400},
		{"subscribe with stream id", `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"y"}}}`, map[string]string{api.StreamIDHeader: "x"}, 400},
		{"subscribe without body", `{"type":"SUBSCRIBE"}`, nil, 400},
		{"subscribe without name", `{"type":"SUBSCRIBE","subscribe":{"framework_info":{}}}`, nil, 400},
		{"subscribe id mismatch", `{"type":"SUBSCRIBE","framework_id":{"value":"a"},"subscribe":{"framework_info":{"name":"y","id":{"value":"b"}}}}`, nil, 400},
		{"subscribe removed", `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"y","id":{"value":"REMOVED"}}}}`, nil, 403},
		{"too large", `{"type":"` + strings.Repeat("x", maxBody) + `"}`, nil, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "subscribe removed" {
				g := subscribeHTTP(t, srv, `{"name":"gone"}`)
				g.mustCall(`{"type":"TEARDOWN","framework_id":{"value":"` + g.id + `"}}`)
				tc.body = strings.ReplaceAll(tc.body, "REMOVED", g.id)
			}
			resp := post(t, srv.URL+api.PathScheduler, tc.body, tc.hdr)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("%s %q, want %d", resp.Status, b, tc.want)
			}
			if len(bytes.TrimSpace(b)) == 0 {
				t.Error("error without a message")
			}
		})
	}
	// The framework is still fine.
	f.mustCall(`{"type":"REVIVE",` + fid + `}`)
}

// FuzzSchedulerCall: no call body crashes the master or gets a 5xx.
func FuzzSchedulerCall(f *testing.F) {
	for _, s := range []string{
		`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"x"}}}`,
		`{"type":"ACCEPT","framework_id":{"value":"F"},"accept":{"offer_ids":[{"value":"O"}],"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"t","task_id":{"value":"t"},"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":1}}],"command":{"value":"x"}}]}}]}}`,
		`{"type":"DECLINE","framework_id":{"value":"F"},"decline":{"offer_ids":[{"value":"O"}],"filters":{"refuse_seconds":1e308}}}`,
		`{"type":"KILL","framework_id":{"value":"F"},"kill":{"task_id":{"value":"t"},"kill_policy":{"grace_period":{"nanoseconds":-1}}}}`,
		`{"type":"ACKNOWLEDGE","framework_id":{"value":"F"},"acknowledge":{"agent_id":{"value":"A"},"task_id":{"value":"t"},"uuid":"AAAAAAAAAAAAAAAAAAAAAA=="}}`,
		`{"type":"RECONCILE","framework_id":{"value":"F"},"reconcile":{"tasks":[{"task_id":{"value":"t"},"agent_id":{"value":"A"}}]}}`,
		`{"type":"SUPPRESS","framework_id":{"value":"F"},"suppress":{"roles":["*","x"]}}`,
		`{"type":"TEARDOWN","framework_id":{"value":"F"}}`,
		`null`, `{}`, `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"x","failover_timeout":1e400}}}`,
	} {
		f.Add(s)
	}
	h := newHarness(f)
	ag := h.agent("a1", "cpus:2;mem:1024")
	q := NewEventQueue()
	sub, err := h.m.Subscribe(SubscribeRequest{Info: api.FrameworkInfo{Name: "fuzz", FailoverTimeout: 3600}, Sink: q})
	if err != nil {
		f.Fatal(err)
	}
	handler := h.m.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		h.m.allocate()
		offerID := ""
		for _, e := range offersOf(mustPoll(q)) {
			offerID = e.ID.Value
		}
		body = strings.NewReplacer(`"F"`, `"`+sub.FrameworkID+`"`, `"O"`, `"`+offerID+`"`, `"A"`, `"`+ag+`"`).Replace(body)
		req := httptest.NewRequest(http.MethodPost, api.PathScheduler, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(api.StreamIDHeader, sub.StreamID)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req.WithContext(ctx))
		if rec.Code >= 500 {
			t.Fatalf("%d for %q: %s", rec.Code, body, rec.Body)
		}
	})
}

func mustPoll(q *EventQueue) []api.Event {
	evs, _ := q.poll()
	return evs
}
