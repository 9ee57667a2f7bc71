package node_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"nodectl/cluster/api"
	"nodectl/node/nodetest"
)

// The fencing contract against a real master on etcd: an agent marked
// gone is refused with 410 and {"message":..., "shutdown":true} on
// register, ping and stream, also after the master restarts; registering
// anew (no id) gives it a new id.
func TestGoneAgentFenced(t *testing.T) {
	t.Parallel()
	c := nodetest.Start(t, nodetest.Options{AgentPingTimeout: time.Second})
	base := c.Master.URL()
	hc := &http.Client{Transport: agentTLSTransport(t, c, nil)}
	post := func(path string, v any) (int, []byte) {
		t.Helper()
		b, _ := json.Marshal(v)
		resp, err := hc.Post(base+path, "application/json", bytes.NewReader(b))
		if err != nil {
			return 0, []byte(err.Error()) // the master may be restarting
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	info := api.AgentInfo{Hostname: "fenced", IP: "127.0.0.1", Port: 6100, Resources: mustParse(t, "cpus:1;mem:128"), Version: api.Version}
	register := func(id string) (int, []byte) {
		t.Helper()
		in := info
		in.ID = id
		return post(api.PathRegister, api.RegisterRequest{Agent: in})
	}
	var code int
	var body []byte
	nodetest.WaitFor(t, 30*time.Second, "registered", func() bool { code, body = register(""); return code == 200 })
	var reg api.RegisterResponse
	if err := json.Unmarshal(body, &reg); err != nil || reg.AgentID == "" {
		t.Fatalf("register: %s %v", body, err)
	}
	id := reg.AgentID
	if code, body := post(api.PathPing, api.PingRequest{AgentID: id}); code != http.StatusNoContent {
		t.Fatalf("ping: %d %s", code, body)
	}
	// Marking an agent gone is an operator's call (mark_agents_gone): an
	// agent's certificate may not, the admin's may.
	if code, body := post("/master/agents/"+id+"/gone", nil); code != http.StatusForbidden {
		t.Fatalf("mark gone with an agent certificate: %d %s, want 403", code, body)
	}
	resp, err := nodetest.Client(30*time.Second).Post(base+"/master/agents/"+id+"/gone", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mark gone: %s", resp.Status)
	}

	want := `{"message":"agent ` + id + ` has been removed: register anew","shutdown":true}` + "\n"
	fenced := func(what string, code int, body []byte) {
		t.Helper()
		var r api.AgentRemoved
		_ = json.Unmarshal(body, &r)
		if code != api.StatusAgentRemoved || string(body) != want || !r.Shutdown {
			t.Errorf("%s: %d %s, want 410 %s", what, code, body, want)
		}
	}
	code, body = register(id)
	fenced("re-register", code, body)
	code, body = post(api.PathPing, api.PingRequest{AgentID: id})
	fenced("ping", code, body)
	resp, err = hc.Get(base + api.PathStream + "?agent_id=" + id)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	fenced("stream", resp.StatusCode, body)

	// The gone list is in etcd: a restarted master still refuses the id.
	if err := c.Master.Stop(); err != nil {
		t.Fatalf("stop master: %v", err)
	}
	c.Master.Start()
	nodetest.WaitFor(t, 30*time.Second, "fenced after the restart", func() bool {
		code, body = register(id)
		return code == api.StatusAgentRemoved && string(body) == want
	})
	code, body = register("")
	if err := json.Unmarshal(body, &reg); code != 200 || err != nil || reg.AgentID == id || reg.AgentID == "" {
		t.Fatalf("register anew: %d %s", code, body)
	}
	if got := c.Metric("master/slaves_active"); got != 1 {
		t.Errorf("master/slaves_active = %v, want the new agent only", got)
	}
}

func mustParse(t *testing.T, s string) api.Resources {
	t.Helper()
	rs, err := api.ParseResources(s)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}
