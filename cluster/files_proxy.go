package cluster

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"

	"nodectl/cluster/api"
	"nodectl/cluster/api/mesospb"
	"nodectl/cluster/auth"
)

// The master's files API over the whole cluster. Besides its own log
// (/master/log), the master's /files/browse, /files/read, /files/download
// (and their .json aliases, also under /master) serve every agent's files
// under the virtual path /slave/<agent-id>, followed by the path the agent
// itself serves:
//
//	/slave/<agent-id>/frameworks/<fw>/executors/<ex>/runs/latest[/...]
//	/slave/<agent-id><agent work dir>/slaves/<agent-id>/frameworks/.../runs/<container>[/...]
//	/slave/<agent-id>/slave/log  (the agent's log)
//
// so a client that knows only the master (the Mesos UI's pailer through
// the master, a CLI) reaches any sandbox. The request goes to that agent
// over the cluster's mutual TLS (Config.AgentTransport); /files/browse's
// answer comes back with its paths under /slave/<agent-id>. The operator
// API's LIST_FILES and READ_FILE take the same paths (forwarded to the
// agent's own operator API). /files/debug lists the master's own virtual
// paths, as Mesos' does.
//
// Authorization: the routes need get_endpoints; then, by path, the
// master's log needs access_mesos_logs; a sandbox needs access_sandboxes
// for the task's user and a task the caller may see (view_tasks, or its
// apps for an app-scoped user), as /agents/{id}/files; an agent's log
// needs access_mesos_logs; any other agent path is for superusers only.
// The agent port itself admits only master and admin certificates.

// agentFilesPrefix starts the master's virtual paths of an agent's files.
const agentFilesPrefix = "/slave/"

// splitAgentPath splits /slave/<agent-id>/<rest> into the agent id and the
// agent's own virtual path ("/<rest>"); ok=false for other paths.
func splitAgentPath(virtual string) (id, rest string, ok bool) {
	after, found := strings.CutPrefix(virtual, agentFilesPrefix)
	if !found {
		return "", "", false
	}
	id, rest, _ = strings.Cut(after, "/")
	if id == "" || id == "log" { // /slave/log is an agent's own name for its log
		return "", "", false
	}
	return id, "/" + rest, true
}

// sandboxAllowed says whether r's principal may read the agent path rest:
// the files of a task it may see and whose user it may access
// (access_sandboxes), an agent's log with access_mesos_logs, anything else
// only when it sees everything.
func (m *Master) sandboxAllowed(r *http.Request, rest string) bool {
	v := m.viewOf(r)
	if v.all {
		return true
	}
	if rest == "/slave/log" {
		return m.allowed(r, auth.AccessMesosLogs, "")
	}
	fw, t := m.sandboxTask(rest)
	if t == nil {
		return false
	}
	m.mu.Lock()
	user := taskUser(fw, t)
	m.mu.Unlock()
	return v.sandboxVisible(rest) && m.allowed(r, auth.AccessSandboxes, user)
}

// sandboxTask is the task whose sandbox the agent path p lies in
// (…/frameworks/<fw>/executors/<task>/…), if the master knows it.
func (m *Master) sandboxTask(p string) (*framework, *task) {
	segs := strings.Split(p, "/")
	for i := 0; i+3 < len(segs); i++ {
		if segs[i] != "frameworks" || segs[i+2] != "executors" {
			continue
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		fw := m.frameworks[segs[i+1]]
		if fw == nil {
			for _, c := range m.completedFw {
				if c.id == segs[i+1] {
					fw = c
				}
			}
		}
		if fw == nil {
			return nil, nil
		}
		if t := fw.tasks[segs[i+3]]; t != nil {
			return fw, t
		}
		return fw, fw.completedIdx[segs[i+3]]
	}
	return nil, nil
}

// filesOps are the files API's operations as Mesos names them.
var filesOps = map[string]string{
	"browse": "browse", "browse.json": "browse", "read": "read", "read.json": "read",
	"download": "download", "download.json": "download", "debug": "debug", "debug.json": "debug",
}

// handleFiles serves GET /files/{op} and /master/files/{op}: the master's
// own files through own, an agent's through the proxy.
func (m *Master) handleFiles(own http.Handler) http.HandlerFunc {
	proxy := m.leaderOnly(m.proxyFilesPath)
	return func(w http.ResponseWriter, r *http.Request) {
		op, ok := filesOps[r.PathValue("op")]
		if !ok {
			writeError(w, http.StatusNotFound, "unknown files operation '"+r.PathValue("op")+"'")
			return
		}
		if op == "debug" {
			out := map[string]string{}
			if lf := m.filesLog.Load(); lf != nil && *lf != "" && m.allowed(r, auth.AccessMesosLogs, "") {
				out[masterLogPath] = *lf
			}
			writeJSON(w, http.StatusOK, out)
			return
		}
		virtual, err := api.CleanFilePath(r.URL.Query().Get("path"))
		if err != nil {
			own.ServeHTTP(w, r) // answers 400 with the files API's own words
			return
		}
		if _, _, ok := splitAgentPath(virtual); ok {
			proxy(w, r)
			return
		}
		if !m.permit(w, r, auth.AccessMesosLogs, "") {
			return
		}
		own.ServeHTTP(w, r)
	}
}

// proxyFilesPath forwards a /files request for /slave/<agent-id>/<rest> to
// that agent's /files/{op}?path=<rest>.
func (m *Master) proxyFilesPath(w http.ResponseWriter, r *http.Request) {
	op := filesOps[r.PathValue("op")]
	virtual, _ := api.CleanFilePath(r.URL.Query().Get("path"))
	id, rest, _ := splitAgentPath(virtual)
	if !m.sandboxAllowed(r, rest) {
		writeError(w, http.StatusForbidden, "Forbidden: this principal may not access '"+virtual+"' (access_sandboxes, view_tasks)")
		return
	}
	addr, ok := m.agentAddress(id)
	if !ok {
		writeError(w, http.StatusNotFound, "No file or directory found at path '"+virtual+"': unknown agent '"+id+"'")
		return
	}
	q := r.URL.Query()
	q.Set("path", rest)
	prefix := agentFilesPrefix + id
	proxy := &httputil.ReverseProxy{
		Transport: m.cfg.AgentTransport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = m.agentScheme()
			pr.Out.URL.Host = addr
			pr.Out.URL.Path = "/files/" + op
			pr.Out.URL.RawPath = ""
			pr.Out.URL.RawQuery = q.Encode()
			pr.Out.Host = addr
			// The agent trusts the master's certificate: the caller's
			// credentials stay here.
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del("Cookie")
		},
		ModifyResponse: func(resp *http.Response) error {
			if op != "browse" || resp.StatusCode != http.StatusOK {
				return nil
			}
			// The listing's paths are the agent's: put them under
			// /slave/<agent-id>.
			var entries []api.FileInfo
			if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&entries); err != nil {
				return fmt.Errorf("agent %s listing: %w", id, err)
			}
			_ = resp.Body.Close()
			for i := range entries {
				entries[i].Path = prefix + entries[i].Path
			}
			b, err := json.Marshal(entries)
			if err != nil {
				return err
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
			resp.ContentLength = int64(len(b))
			resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			m.log.Warn("agent files proxy", "agent_id", id, "err", err)
			writeError(w, http.StatusBadGateway, fmt.Sprintf("agent %s at %s: %v", id, addr, err))
		},
	}
	ctx, cancel := context.WithTimeout(r.Context(), agentFilesTimeout)
	defer cancel()
	proxy.ServeHTTP(w, r.WithContext(ctx))
}

func (m *Master) agentScheme() string {
	if m.cfg.AgentTransport != nil {
		return "https"
	}
	return "http"
}

// filesCall is the part of a master Call LIST_FILES and READ_FILE read.
type filesCall struct {
	ListFiles *struct {
		Path string `json:"path"`
	} `json:"list_files"`
	ReadFile *struct {
		Path   string       `json:"path"`
		Offset json.Number  `json:"offset"`
		Length *json.Number `json:"length"`
	} `json:"read_file"`
}

// filesOperator answers the operator API's LIST_FILES and READ_FILE
// (false: another call, not answered). The master's log is read here; an
// agent's paths go to that agent's operator API.
func (m *Master) filesOperator(w http.ResponseWriter, r *http.Request, typ string, body []byte, outProto bool) bool {
	if typ != "LIST_FILES" && typ != "READ_FILE" {
		return false
	}
	resp, err := m.filesCall(r, typ, body)
	if err != nil {
		code := api.HTTPStatus(err)
		if code == http.StatusInternalServerError {
			code = http.StatusBadGateway // the agent failed
		}
		writeError(w, code, fmt.Sprintf("operator call %s: %v", typ, err))
		return true
	}
	m.writeOperatorAnswer(w, typ, resp, outProto)
	return true
}

func (m *Master) filesCall(r *http.Request, typ string, body []byte) (any, error) {
	var call filesCall
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&call); err != nil {
		return nil, fmt.Errorf("%w: %v", api.ErrInvalid, err)
	}
	var p string
	switch {
	case typ == "LIST_FILES" && call.ListFiles != nil:
		p = call.ListFiles.Path
	case typ == "READ_FILE" && call.ReadFile != nil:
		p = call.ReadFile.Path
	default:
		return nil, fmt.Errorf("%w: %s needs %s.path", api.ErrInvalid, typ, strings.ToLower(typ))
	}
	virtual, err := api.CleanFilePath(p)
	if err != nil {
		return nil, err
	}
	id, rest, onAgent := splitAgentPath(virtual)
	if !onAgent {
		if !m.allowed(r, auth.AccessMesosLogs, "") {
			return nil, fmt.Errorf("%w: this principal may not read '%s' (access_mesos_logs)", api.ErrForbidden, virtual)
		}
		return m.ownFilesCall(typ, virtual, call)
	}
	if !m.sandboxAllowed(r, rest) {
		return nil, fmt.Errorf("%w: this principal may not access '%s' (access_sandboxes, view_tasks)", api.ErrForbidden, virtual)
	}
	// The agent's operator API with the agent's path; its answer with the
	// listing's paths under /slave/<agent-id>.
	var fwd map[string]any
	if typ == "LIST_FILES" {
		fwd = map[string]any{"type": typ, "list_files": map[string]any{"path": rest}}
	} else {
		rf := map[string]any{"path": rest, "offset": call.ReadFile.Offset}
		if call.ReadFile.Length != nil {
			rf["length"] = *call.ReadFile.Length
		}
		fwd = map[string]any{"type": typ, "read_file": rf}
	}
	var out map[string]any
	if err := m.agentOperatorJSON(r.Context(), id, fwd, &out); err != nil {
		return nil, err
	}
	resp, ok := out[strings.ToLower(typ)].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("agent %s answered %s without %s", id, typ, strings.ToLower(typ))
	}
	if typ == "LIST_FILES" {
		if infos, ok := resp["file_infos"].([]any); ok {
			for _, fi := range infos {
				if e, ok := fi.(map[string]any); ok {
					e["path"] = agentFilesPrefix + id + fmt.Sprint(e["path"])
				}
			}
		}
	}
	return resp, nil
}

// ownFilesCall answers LIST_FILES or READ_FILE of the master's own log.
func (m *Master) ownFilesCall(typ, virtual string, call filesCall) (any, error) {
	resolve := func(v string) (api.FileTarget, error) {
		if lf := m.filesLog.Load(); v == masterLogPath && lf != nil && *lf != "" {
			return api.FileAt(*lf), nil
		}
		return api.FileTarget{}, fmt.Errorf("%s: %w", v, api.ErrFileNotFound)
	}
	if typ == "LIST_FILES" {
		infos, err := api.ListFiles(resolve, virtual)
		if err != nil {
			return nil, err
		}
		return map[string]any{"file_infos": infos}, nil
	}
	offset, err := strconv.ParseInt(string(call.ReadFile.Offset), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: READ_FILE offset %q", api.ErrInvalid, call.ReadFile.Offset)
	}
	length := int64(-1)
	if call.ReadFile.Length != nil {
		if length, err = strconv.ParseInt(string(*call.ReadFile.Length), 10, 64); err != nil || length < 0 {
			return nil, fmt.Errorf("%w: READ_FILE length %q", api.ErrInvalid, *call.ReadFile.Length)
		}
	}
	data, size, err := api.ReadFile(resolve, virtual, offset, length)
	if err != nil {
		return nil, err
	}
	return map[string]any{"size": size, "data": base64.StdEncoding.EncodeToString(data)}, nil
}

// agentOperatorJSON sends call to agent id's operator API (POST /api/v1,
// JSON) and decodes the answer into out. The agent's 4xx come back with
// their status's kind and message.
func (m *Master) agentOperatorJSON(ctx context.Context, id string, call any, out any) error {
	addr, ok := m.agentAddress(id)
	if !ok {
		return fmt.Errorf("%w: unknown agent '%s'", api.ErrNotFound, id)
	}
	body, err := json.Marshal(call)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, agentFilesTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.agentScheme()+"://"+addr+"/api/v1", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mesospb.MediaJSON)
	req.Header.Set("Accept", mesospb.MediaJSON)
	tr := m.cfg.AgentTransport
	if tr == nil {
		tr = http.DefaultTransport
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("agent %s at %s unreachable: %w", id, addr, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("agent %s: %w", id, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		_ = json.Unmarshal(b, &e)
		kind := errors.New("agent error")
		switch resp.StatusCode {
		case http.StatusBadRequest:
			kind = api.ErrInvalid
		case http.StatusForbidden:
			kind = api.ErrForbidden
		case http.StatusNotFound:
			kind = api.ErrNotFound
		}
		return fmt.Errorf("%w: agent %s: %d %s", kind, id, resp.StatusCode, e.Message)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("agent %s answer: %w", id, err)
	}
	return nil
}
