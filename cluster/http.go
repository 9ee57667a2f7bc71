package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
)

// maxBody bounds request bodies of the agent protocol.
const maxBody = 4 << 20

// Routes are the master's operator, agent-protocol and scheduler routes,
// each with its one permission (cluster/auth). Every operator route is
// served with and without the /master prefix, as the Mesos master does.
func (m *Master) Routes() []auth.Route {
	var rs []auth.Route
	add := func(pattern string, perm auth.Perm, h http.Handler) {
		rs = append(rs, auth.Route{Pattern: pattern, Perm: perm, Handler: h})
	}
	both := func(pattern string, perm auth.Perm, h http.HandlerFunc) {
		method, path, _ := strings.Cut(pattern, " ")
		add(method+" "+path, perm, h)
		add(method+" /master"+path, perm, h)
	}
	both("GET /health", auth.Public, m.handleHealth)
	both("GET /state", auth.GetEndpoints, m.leaderOnly(m.handleState))
	both("GET /state-summary", auth.GetEndpoints, m.leaderOnly(m.handleStateSummary))
	both("GET /slaves", auth.GetEndpoints, m.leaderOnly(m.handleSlaves))
	both("GET /tasks", auth.GetEndpoints, m.leaderOnly(m.handleTasks))
	both("GET /frameworks", auth.GetEndpoints, m.leaderOnly(m.handleFrameworks))
	both("POST /teardown", auth.TeardownFrameworks, m.leaderOnly(m.handleTeardown))
	both("POST /agents/{id}/gone", auth.MarkAgentsGone, m.leaderOnly(m.handleGone))
	both("POST /reserve", auth.ReserveResources, m.leaderOnly(m.handleOperation(api.OperationReserve, "resources")))
	both("POST /unreserve", auth.UnreserveResources, m.leaderOnly(m.handleOperation(api.OperationUnreserve, "resources")))
	both("POST /create-volumes", auth.CreateVolumes, m.leaderOnly(m.handleOperation(api.OperationCreate, "volumes")))
	both("POST /destroy-volumes", auth.DestroyVolumes, m.leaderOnly(m.handleOperation(api.OperationDestroy, "volumes")))
	both("GET /metrics/snapshot", auth.GetEndpoints, m.handleSnapshot)
	rs = append(rs, m.mesosRoutes()...)
	rs = append(rs, m.maintenanceRoutes()...)
	rs = append(rs, m.quotaRoutes()...) // quota_http.go
	rs = append(rs, m.usageRoutes()...) // usage.go
	both("GET /version", auth.GetEndpoints, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, api.BuildInfo()) })
	add("GET /master/redirect", auth.GetEndpoints, http.HandlerFunc(m.handleRedirect))
	add("GET /redirect", auth.GetEndpoints, http.HandlerFunc(m.handleRedirect))
	add("GET /master/redirect/", auth.GetEndpoints, http.NotFoundHandler())
	add("GET /metrics", auth.GetEndpoints, promhttp.HandlerFor(m.metrics.Registry, promhttp.HandlerOpts{}))

	add("POST "+api.PathMembers, auth.ManageCluster, m.authorized(m.handleJoin))
	add("GET "+api.PathMembers, auth.GetEndpoints, http.HandlerFunc(m.handleMembers))
	add("POST "+api.PathMembers+"/{id}/promote", auth.ManageCluster, m.authorized(m.handlePromote))
	add("DELETE "+api.PathMembers+"/{id}", auth.ManageCluster, m.authorized(m.handleRemoveMember))
	add("GET "+api.PathSnapshot, auth.ManageCluster, m.authorized(m.handleSnapshotSave))
	add("POST "+api.PathRegister, auth.AgentProtocol, m.agentOnly(m.leaderOnly(m.handleRegister)))
	add("POST "+api.PathPing, auth.AgentProtocol, m.agentOnly(m.leaderOnly(m.handlePing)))
	add("GET "+api.PathStream, auth.AgentProtocol, m.agentOnly(m.leaderOnly(m.handleStream)))
	add("GET "+api.PathDNS, auth.AgentProtocol, m.agentOnly(m.leaderOnly(m.handleDNS))) // dnsrecords.go
	add("POST "+api.PathStatus, auth.AgentProtocol, m.agentOnly(m.leaderOnly(m.handleStatus)))
	add("POST "+api.PathStatuses, auth.AgentProtocol, m.agentOnly(m.leaderOnly(m.handleStatuses)))
	add("POST "+api.PathNetworkLeases, auth.AgentProtocol, m.agentOnly(m.leaderOnly(m.handleNetworkLeases))) // ipam.go
	add("POST "+api.PathExecutorMessage, auth.AgentProtocol, m.agentOnly(m.leaderOnly(m.handleExecutorMessage)))
	add("POST "+api.PathScheduler, auth.RegisterFrameworks, m.leaderOnly(m.handleScheduler))
	return rs
}

// routes serves Routes with no authentication: for tests of the master
// alone. A node serves them through an auth.Router.
func (m *Master) routes() http.Handler { return auth.Mux(m.Routes()) }

// leaderOnly answers on a standby with 307 to the leader (a protocol-relative
// Location, as Mesos does) or 503 when no leader is known.
func (m *Master) leaderOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-m.closing:
			writeError(w, http.StatusServiceUnavailable, "master shutting down")
			return
		default:
		}
		if m.IsLeader() {
			h(w, r)
			return
		}
		l, ok := m.Leader()
		if !ok || l.ID == m.info.ID {
			// An election, or a new leader loading its state: a second
			// is the order of either (docs/ha.md).
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "no leader elected")
			return
		}
		w.Header().Set("Location", "//"+l.Address()+r.URL.RequestURI())
		w.WriteHeader(http.StatusTemporaryRedirect)
	}
}

func (m *Master) handleRedirect(w http.ResponseWriter, r *http.Request) {
	l, ok := m.Leader()
	if !ok {
		writeError(w, http.StatusServiceUnavailable, "no leader elected")
		return
	}
	w.Header().Set("Location", "//"+l.Address())
	w.WriteHeader(http.StatusTemporaryRedirect)
}

func (m *Master) handleRegister(w http.ResponseWriter, r *http.Request) {
	var req api.RegisterRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.Agent.Hostname == "" || req.Agent.Port <= 0 {
		writeError(w, http.StatusBadRequest, "agent hostname and port are required")
		return
	}
	resp, err := m.register(req)
	if err != nil {
		writeErr(w, err)
		return
	}
	if m.cfg.Etcd != nil {
		resp.Masters = m.MasterAddrs(r.Context())
	}
	writeJSON(w, http.StatusOK, resp)
}

func (m *Master) handlePing(w http.ResponseWriter, r *http.Request) {
	var req api.PingRequest
	if !readJSON(w, r, &req) {
		return
	}
	if err := m.ping(req.AgentID); err != nil {
		writeErr(w, err)
		return
	}
	m.reportBusyPorts(req.AgentID, req.BusyPorts) // busyports.go
	m.recordAgentUsage(req.AgentID, req.Usage)    // usage.go
	w.WriteHeader(http.StatusNoContent)
}

func (m *Master) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, m.metrics.Snapshot())
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := api.ReadBody(http.MaxBytesReader(w, r.Body, maxBody), r.ContentLength)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("read body: %v", err))
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("malformed JSON: %v", err))
		return false
	}
	return true
}

func writeErr(w http.ResponseWriter, err error) {
	var gone goneError
	if errors.As(err, &gone) {
		writeJSON(w, api.StatusAgentRemoved, api.NewAgentRemoved(string(gone)))
		return
	}
	writeError(w, errStatus(err), err.Error())
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, api.Error{Message: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}
