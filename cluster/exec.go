package cluster

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
)

// ExecRoutes is the exec session endpoint (`nodectl exec`, the UI's task
// terminal; the protocol is in cluster/api/exec.go and docs/exec.md):
//
//	GET /tasks/{taskId}/exec?command=...  (WebSocket)
//	  → wss://<agent ip>:<agent port>/tasks/{frameworkId}/{taskId}/exec (cfg.AgentTransport)
//
// The leader finds the task and its agent, checks the principal may run a
// process in it (launch_nested_container_sessions on the task's user; an
// app-scoped user: only its apps' tasks), and proxies the WebSocket to the
// agent, which runs the process inside the task's container.
func (m *Master) ExecRoutes() []auth.Route {
	h := m.leaderOnly(m.proxyExec)
	return []auth.Route{
		{Pattern: "GET /tasks/{taskId}/exec", Perm: auth.LaunchNestedContainerSessions, Handler: h},
		{Pattern: "GET /master/tasks/{taskId}/exec", Perm: auth.LaunchNestedContainerSessions, Handler: h},
	}
}

func (m *Master) proxyExec(w http.ResponseWriter, r *http.Request) {
	taskID := r.PathValue("taskId")
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		writeError(w, http.StatusBadRequest, "exec needs a WebSocket (Upgrade: websocket); see docs/exec.md")
		return
	}
	// A browser sends its cookies with any site's WebSocket: only this
	// origin's pages may open one with a session (cross-site WebSocket
	// hijacking).
	p, _ := auth.From(r.Context())
	if origin := r.Header.Get("Origin"); origin != "" && origin != "https://"+r.Host {
		writeError(w, http.StatusForbidden, fmt.Sprintf("cross-site request refused: Origin %q is not this site", origin))
		return
	} else if origin == "" && p.Kind == auth.KindSession {
		writeError(w, http.StatusForbidden, "cross-site request refused: a session's WebSocket needs an Origin header")
		return
	}
	req, err := api.ParseExecRequest(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	fwID, agentID, code, msg := m.execTarget(r, taskID, r.URL.Query().Get("framework_id"))
	if code != 0 {
		writeError(w, code, msg)
		return
	}
	addr, ok := m.agentAddress(agentID)
	if !ok {
		writeError(w, http.StatusServiceUnavailable, "the task's agent '"+agentID+"' is not registered")
		return
	}
	m.log.Info("exec session", "task_id", taskID, "framework_id", fwID, "agent_id", agentID,
		"principal", p.Name, "command", req.Command, "tty", req.TTY)
	scheme := "http"
	if m.cfg.AgentTransport != nil {
		scheme = "https"
	}
	q := r.URL.Query()
	q.Del("framework_id")
	proxy := &httputil.ReverseProxy{
		Transport: m.cfg.AgentTransport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = scheme
			pr.Out.URL.Host = addr
			pr.Out.URL.Path = "/tasks/" + url.PathEscape(fwID) + "/" + url.PathEscape(taskID) + "/exec"
			pr.Out.URL.RawPath = ""
			pr.Out.URL.RawQuery = q.Encode()
			pr.Out.Host = addr
			// The agent trusts the master's certificate; the caller's
			// credentials stay here.
			for _, h := range []string{"Authorization", "Cookie", "Origin", auth.CSRFHeader} {
				pr.Out.Header.Del(h)
			}
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			m.log.Warn("exec proxy", "agent_id", agentID, "err", err)
			writeError(w, http.StatusBadGateway, fmt.Sprintf("agent %s at %s unreachable: %v", agentID, addr, err))
		},
	}
	proxy.ServeHTTP(w, r)
}

// execTarget finds the running task taskID (in framework fwID, if given)
// and checks the request's principal may run a process in it. A non-zero
// code is the answer's status, with msg.
func (m *Master) execTarget(r *http.Request, taskID, fwID string) (fw, agent string, code int, msg string) {
	v := m.viewOf(r)
	m.mu.Lock()
	defer m.mu.Unlock()
	var (
		found   *task
		foundFw *framework
		n       int
	)
	for id, f := range m.frameworks {
		if fwID != "" && id != fwID {
			continue
		}
		if t := f.tasks[taskID]; t != nil {
			found, foundFw = t, f
			n++
		}
	}
	switch {
	case n == 0:
		return "", "", http.StatusNotFound, "no running task '" + taskID + "'"
	case n > 1:
		return "", "", http.StatusConflict, "task id '" + taskID + "' is in several frameworks: add framework_id"
	}
	if !m.execAllowed(v, foundFw, found) {
		name := v.p.Name
		if name == "" {
			name = "anonymous"
		}
		return "", "", http.StatusForbidden, fmt.Sprintf("principal '%s' lacks permission %s for task '%s'", name, auth.LaunchNestedContainerSessions, taskID)
	}
	if found.state != api.TaskRunning {
		return "", "", http.StatusConflict, fmt.Sprintf("task '%s' is %s, not running", taskID, found.state)
	}
	return foundFw.id, found.agentID, 0, ""
}

// execAllowed: v's principal may run a process in t (m.mu held).
func (m *Master) execAllowed(v view, fw *framework, t *task) bool {
	switch {
	case v.all:
		return true
	case v.scoped != nil:
		app := taskApp(t)
		return app != "" && auth.InPrefixes(app, v.scoped)
	}
	return m.cfg.Guard.Allowed(v.p, auth.LaunchNestedContainerSessions, taskUser(fw, t))
}
