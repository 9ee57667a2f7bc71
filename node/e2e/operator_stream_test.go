package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
	"nodectl/cluster/api/mesospb"
)

// dcosMesosClient is the DC/OS UI's Mesos client library: the npm package
// the UI uses for the operator API's SUBSCRIBE stream.
const dcosMesosClient = "@dcos/mesos-client@1.0.0"

// installDCOSMesosClient installs the client with npm into a temporary
// directory beside the harness (testdata/dcos_mesos_client.js) and returns
// that directory. Without node and npm the test is skipped.
func installDCOSMesosClient(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the DC/OS Mesos client runs under node", tool)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"opstream-harness","private":true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	install := exec.Command("npm", "install", "--no-audit", "--no-fund", "--loglevel=error", dcosMesosClient)
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm install %s: %v\n%s", dcosMesosClient, err, out)
	}
	js, err := os.ReadFile(filepath.Join("testdata", "dcos_mesos_client.js"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "harness.js"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// mesosClientRun is the harness running as one principal: its output
// lines, one record (or the end) each.
type mesosClientRun struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	lines  chan map[string]any
}

func startMesosClient(t *testing.T, dir string, n node, principal, secret string) *mesosClientRun {
	t.Helper()
	cmd := exec.Command("node", "harness.js", n.url()+"/api/v1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+filepath.Join(n.dir, "pki", "ca.crt"),
		"OP_PRINCIPAL="+principal, "OP_SECRET="+secret)
	r := &mesosClientRun{cmd: cmd, stderr: &bytes.Buffer{}, lines: make(chan map[string]any, 1000)}
	cmd.Stderr = r.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("harness stderr (%s):\n%s", principal, r.stderr)
		}
	})
	go func() {
		defer close(r.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var v map[string]any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				v = map[string]any{"unparsed": sc.Text()}
			}
			r.lines <- v
		}
	}()
	return r
}

// await reads lines until match accepts one, failing after timeout or
// when the client's stream ends first.
func (r *mesosClientRun) await(t *testing.T, what string, timeout time.Duration, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(timeout)
	var seen []string
	for {
		select {
		case v, ok := <-r.lines:
			if !ok {
				t.Fatalf("the client's output ended before %s; saw %v", what, seen)
			}
			if v["error"] != nil || v["complete"] != nil || v["unparsed"] != nil {
				t.Fatalf("waiting for %s the client printed %v", what, v)
			}
			if match(v) {
				return v
			}
			typ, _ := v["type"].(string)
			seen = append(seen, typ)
		case <-deadline:
			t.Fatalf("no %s within %s; saw %v", what, timeout, seen)
		}
	}
}

// field digs a path of object keys out of v.
func field(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// TestOperatorStreamDCOSClient: the DC/OS UI's Mesos client from npm,
// unchanged under node, subscribes to a --role=all node's operator API
// over TLS and receives a Marathon app's task's whole life: TASK_ADDED,
// TASK_UPDATED to TASK_RUNNING, then TASK_KILLED when the app is deleted.
// A principal the ACLs deny get_endpoints gets 403 through the client.
func TestOperatorStreamDCOSClient(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	dir := installDCOSMesosClient(t)
	n := newNode(t)
	creds := filepath.Join(t.TempDir(), "credentials.json")
	b, _ := json.Marshal(map[string]any{"credentials": []map[string]string{
		{"principal": "watcher", "secret": "watcher-secret-0001"}, {"principal": "outsider", "secret": "outsider-secret-0001"},
	}})
	if err := os.WriteFile(creds, b, 0o600); err != nil {
		t.Fatal(err)
	}
	acls := `{"get_endpoints": [{"principals": {"values": ["outsider"]}, "paths": {"type": "NONE"}}]}`
	start(t, n.args("all", "--credentials", creds, "--acls", acls, "--resources", "cpus:4;mem:4096;disk:1024;ports:[31000-31999]")...)
	waitFor(t, 30*time.Second, "agent active", func() bool {
		s := slaves(t, n.url())
		return len(s) == 1 && s[0].Active
	})

	out := startMesosClient(t, dir, n, "outsider", "outsider-secret-0001")
	select {
	case v := <-out.lines:
		if code := field(v, "error", "code"); code != float64(http.StatusForbidden) {
			t.Fatalf("outsider's SUBSCRIBE through the client: %v, want error code 403", v)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("outsider's SUBSCRIBE: no answer")
	}

	w := startMesosClient(t, dir, n, "watcher", "watcher-secret-0001")
	sub := w.await(t, "SUBSCRIBED", 30*time.Second, func(v map[string]any) bool { return v["type"] == "SUBSCRIBED" })
	if agents, _ := field(sub, "subscribed", "get_state", "get_agents", "agents").([]any); len(agents) != 1 {
		t.Errorf("SUBSCRIBED shows agents %v", agents)
	}

	const app = "/opstream/sleep"
	appMust(t, n, "POST", "/v2/apps", `{"id":"`+app+`","cmd":"sleep `+appMark(8101)+`","cpus":0.05,"mem":16,"instances":1}`, 201)
	added := w.await(t, "TASK_ADDED of "+app, 2*time.Minute, func(v map[string]any) bool {
		id, _ := field(v, "task_added", "task", "task_id", "value").(string)
		return v["type"] == "TASK_ADDED" && strings.HasPrefix(id, "opstream_sleep")
	})
	taskID := field(added, "task_added", "task", "task_id", "value").(string)
	updated := func(state string) {
		t.Helper()
		w.await(t, "TASK_UPDATED "+state+" of "+taskID, 2*time.Minute, func(v map[string]any) bool {
			return v["type"] == "TASK_UPDATED" && field(v, "task_updated", "status", "task_id", "value") == taskID &&
				field(v, "task_updated", "state") == state && field(v, "task_updated", "status", "state") == state
		})
	}
	updated("TASK_RUNNING")
	// The stream's TASK_RUNNING can come before the app's deployment has
	// finished (it does once Marathon has the update): DELETE after it.
	waitFor(t, 60*time.Second, "the app's deployment to finish", func() bool { ids, ok := appDeploymentIDs(n); return ok && len(ids) == 0 })
	appMust(t, n, "DELETE", "/v2/apps"+app, "", 200)
	updated("TASK_KILLED")
}

// opRecords reads the RecordIO records of an operator stream.
func opRecords(t *testing.T, body io.Reader, out chan<- []byte) {
	defer close(out)
	br := bufio.NewReader(body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(strings.TrimSpace(line))
		if err != nil {
			t.Errorf("operator stream: bad record length %q", line)
			return
		}
		rec := make([]byte, size)
		if _, err := io.ReadFull(br, rec); err != nil {
			return
		}
		out <- rec
	}
}

// TestOperatorStreamProtobuf: the SUBSCRIBE stream in application/
// x-protobuf on the real binary: every record decodes as nodectl's
// mesos.v1.master.Event, and a task's life shows in it; then the
// mutating calls answer as Mesos does and their effect is in GET_AGENTS.
func TestOperatorStreamProtobuf(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := appStartNode(t, "")
	req, _ := http.NewRequest("POST", n.url()+"/api/v1", strings.NewReader(`{"type":"SUBSCRIBE"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", mesospb.MediaProtobuf)
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != mesospb.MediaProtobuf {
		t.Fatalf("SUBSCRIBE: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	recs := make(chan []byte, 1000)
	go opRecords(t, resp.Body, recs)
	next := func(what string, match func(map[string]any) bool) map[string]any {
		t.Helper()
		deadline := time.After(2 * time.Minute)
		for {
			select {
			case rec, ok := <-recs:
				if !ok {
					t.Fatalf("stream ended before %s", what)
				}
				js, err := mesospb.ToJSON(mesospb.OperatorEvent, rec)
				if err != nil {
					t.Fatalf("record does not decode as mesos.v1.master.Event: %v", err)
				}
				var v map[string]any
				if err := json.Unmarshal(js, &v); err != nil {
					t.Fatal(err)
				}
				if match(v) {
					return v
				}
			case <-deadline:
				t.Fatalf("no %s", what)
			}
		}
	}
	sub := next("SUBSCRIBED", func(v map[string]any) bool { return v["type"] == "SUBSCRIBED" })
	agents, _ := field(sub, "subscribed", "get_state", "get_agents", "agents").([]any)
	if len(agents) != 1 {
		t.Fatalf("SUBSCRIBED agents %v", agents)
	}
	agentID := field(agents[0], "agent_info", "id", "value").(string)
	const app = "/opstream/pb"
	appMust(t, n, "POST", "/v2/apps", `{"id":"`+app+`","cmd":"sleep `+appMark(8102)+`","cpus":0.05,"mem":16,"instances":1}`, 201)
	next("TASK_ADDED", func(v map[string]any) bool { return v["type"] == "TASK_ADDED" })
	next("TASK_UPDATED TASK_RUNNING", func(v map[string]any) bool {
		return v["type"] == "TASK_UPDATED" && field(v, "task_updated", "state") == "TASK_RUNNING"
	})
	// The stream's TASK_RUNNING can come before the app's deployment has
	// finished (it does once Marathon has the update): DELETE after it.
	waitFor(t, 60*time.Second, "the app's deployment to finish", func() bool { ids, ok := appDeploymentIDs(n); return ok && len(ids) == 0 })
	appMust(t, n, "DELETE", "/v2/apps"+app, "", 200)
	next("TASK_UPDATED TASK_KILLED", func(v map[string]any) bool {
		return v["type"] == "TASK_UPDATED" && field(v, "task_updated", "state") == "TASK_KILLED"
	})

	// RESERVE_RESOURCES as the admin, then UNRESERVE: 202 each, and
	// GET_AGENTS shows the reservation come and go.
	res := `[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservations":[{"type":"DYNAMIC","role":"ops","principal":"admin"}]}]`
	reserved := func() float64 {
		_, b := appDo(t, n, "POST", "/api/v1", `{"type":"GET_AGENTS"}`)
		var got struct {
			GetAgents struct {
				Agents []struct {
					TotalResources api.Resources `json:"total_resources"`
				} `json:"agents"`
			} `json:"get_agents"`
		}
		if err := json.Unmarshal(b, &got); err != nil || len(got.GetAgents.Agents) != 1 {
			t.Fatalf("GET_AGENTS: %v %s", err, b)
		}
		sum := 0.0
		for _, r := range got.GetAgents.Agents[0].TotalResources {
			if r.Name == "cpus" && len(r.Reservations) > 0 {
				sum += r.Scalar.Value
			}
		}
		return sum
	}
	appMust(t, n, "POST", "/api/v1", `{"type":"RESERVE_RESOURCES","reserve_resources":{"agent_id":{"value":"`+agentID+`"},"resources":`+res+`}}`, 202)
	if got := reserved(); got != 1 {
		t.Fatalf("reserved cpus after RESERVE_RESOURCES: %v", got)
	}
	appMust(t, n, "POST", "/api/v1", `{"type":"UNRESERVE_RESOURCES","unreserve_resources":{"agent_id":{"value":"`+agentID+`"},"resources":`+res+`}}`, 202)
	if got := reserved(); got != 0 {
		t.Fatalf("reserved cpus after UNRESERVE_RESOURCES: %v", got)
	}
	appMust(t, n, "POST", "/api/v1", `{"type":"GROW_VOLUME"}`, 400)
}
