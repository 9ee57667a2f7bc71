package cluster

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"time"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
)

// masterLogPath is the Mesos virtual path of the master's log.
const masterLogPath = "/master/log"

// agentFilesTimeout bounds one proxied files request (a download may be
// large, so this is generous; a dead agent fails at the dial).
const agentFilesTimeout = 2 * time.Minute

// FilesHandler serves the Mesos files API for this master's own log
// (/files/browse|read|download?path=/master/log; "" logFile: none) and every
// agent's files under /slave/<agent-id>/... (files_proxy.go), and, so a
// browser needs only the master's port, proxies an agent's files API:
//
//	GET /agents/{agentId}/files/{browse|read|download}?path=...
//	  → https://<agent ip>:<agent port>/files/{op}?path=... (cfg.AgentTransport)
//
// The agent's address comes from the registry, so the proxy is answered by
// the leader (a standby redirects, as for /state). Unknown agents get 404
// and unreachable ones 502, both with a JSON message.
func (m *Master) FilesHandler(logFile string) http.Handler { return auth.Mux(m.FilesRoutes(logFile)) }

// FilesRoutes are FilesHandler's routes with their permissions.
func (m *Master) FilesRoutes(logFile string) []auth.Route {
	own := api.FilesHandler(func(virtual string) (api.FileTarget, error) {
		if virtual == masterLogPath && logFile != "" {
			return api.FileAt(logFile), nil
		}
		return api.FileTarget{}, fmt.Errorf("%s: %w", virtual, api.ErrFileNotFound)
	}, "/master")
	m.filesLog.Store(&logFile)
	files := m.handleFiles(own) // files_proxy.go: by path, the log or an agent's files
	proxy := m.leaderOnly(m.proxyAgentFiles)
	return []auth.Route{
		{Pattern: "GET /files/{op}", Perm: auth.GetEndpoints, Handler: files},
		{Pattern: "GET /master/files/{op}", Perm: auth.GetEndpoints, Handler: files},
		{Pattern: "GET /agents/{agentId}/files/{op}", Perm: auth.AccessSandboxes, Handler: proxy},
		{Pattern: "GET /master/agents/{agentId}/files/{op}", Perm: auth.AccessSandboxes, Handler: proxy},
		// The agents' operator API (agentoperator.go): calls checked one by one.
		{Pattern: "POST /agents/{agentId}/api/v1", Perm: auth.GetEndpoints, Handler: m.leaderOnly(m.proxyAgentOperator)},
		{Pattern: "POST /master/agents/{agentId}/api/v1", Perm: auth.GetEndpoints, Handler: m.leaderOnly(m.proxyAgentOperator)},
	}
}

func (m *Master) proxyAgentFiles(w http.ResponseWriter, r *http.Request) {
	id, op := r.PathValue("agentId"), r.PathValue("op")
	switch op {
	case "browse", "read", "download", "browse.json", "read.json", "download.json":
	default:
		writeError(w, http.StatusNotFound, "unknown files operation '"+op+"'")
		return
	}
	if !m.sandboxAllowed(r, r.URL.Query().Get("path")) { // files_proxy.go
		writeError(w, http.StatusForbidden, "Forbidden: this principal may not access that path (access_sandboxes)")
		return
	}
	m.proxyToAgent(w, r, id, "/files/"+op, "files", agentFilesTimeout)
}

// proxyToAgent forwards r to path on agent id's API (over the agents'
// mutual TLS when configured), bounded by timeout; an unknown agent is a
// 404, an unreachable one a 502. what names the proxy in the log.
func (m *Master) proxyToAgent(w http.ResponseWriter, r *http.Request, id, path, what string, timeout time.Duration) {
	addr, ok := m.agentAddress(id)
	if !ok {
		writeError(w, http.StatusNotFound, "unknown agent '"+id+"'")
		return
	}
	scheme := "http"
	if m.cfg.AgentTransport != nil {
		scheme = "https"
	}
	proxy := &httputil.ReverseProxy{
		Transport: m.cfg.AgentTransport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = scheme
			pr.Out.URL.Host = addr
			pr.Out.URL.Path = path
			pr.Out.URL.RawPath = ""
			pr.Out.Host = addr
			// The agent trusts the master's certificate: the caller's
			// credentials stay here.
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del("Cookie")
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			m.log.Warn("agent "+what+" proxy", "agent_id", id, "err", err)
			writeError(w, http.StatusBadGateway, fmt.Sprintf("agent %s at %s unreachable: %v", id, addr, err))
		},
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	proxy.ServeHTTP(w, r.WithContext(ctx))
}

// agentAddress is the agent API's host:port from the registry.
func (m *Master) agentAddress(id string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.agents[id]
	if !ok || a.Info.Port <= 0 {
		return "", false
	}
	host := a.Info.IP
	if host == "" {
		host = a.Info.Hostname
	}
	return net.JoinHostPort(host, strconv.Itoa(a.Info.Port)), true
}
