package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"nodectl/cluster/api"
)

// maxBody bounds request bodies of the agent protocol.
const maxBody = 4 << 20

func (m *Master) routes() http.Handler {
	mux := http.NewServeMux()
	// Every operator route is served with and without the /master prefix,
	// as the Mesos master does.
	both := func(pattern string, h http.HandlerFunc) {
		method, path, _ := strings.Cut(pattern, " ")
		mux.HandleFunc(method+" "+path, h)
		mux.HandleFunc(method+" /master"+path, h)
	}
	both("GET /health", m.handleHealth)
	both("GET /state", m.leaderOnly(m.handleState))
	both("GET /state-summary", m.leaderOnly(m.handleStateSummary))
	both("GET /slaves", m.leaderOnly(m.handleSlaves))
	both("GET /tasks", m.leaderOnly(m.handleTasks))
	both("GET /frameworks", m.leaderOnly(m.handleFrameworks))
	both("POST /teardown", m.leaderOnly(m.handleTeardown))
	both("POST /agents/{id}/gone", m.leaderOnly(m.handleGone))
	both("POST /reserve", m.leaderOnly(m.handleOperation(api.OperationReserve, "resources")))
	both("POST /unreserve", m.leaderOnly(m.handleOperation(api.OperationUnreserve, "resources")))
	both("POST /create-volumes", m.leaderOnly(m.handleOperation(api.OperationCreate, "volumes")))
	both("POST /destroy-volumes", m.leaderOnly(m.handleOperation(api.OperationDestroy, "volumes")))
	both("GET /metrics/snapshot", m.handleSnapshot)
	both("GET /version", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, buildInfo()) })
	mux.HandleFunc("GET /master/redirect", m.handleRedirect)
	mux.HandleFunc("GET /redirect", m.handleRedirect)
	mux.HandleFunc("GET /master/redirect/", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.metrics.Registry, promhttp.HandlerOpts{}))

	mux.HandleFunc("POST "+api.PathMembers, m.authorized(m.handleJoin))
	mux.HandleFunc("GET "+api.PathMembers, m.handleMembers)
	mux.HandleFunc("POST "+api.PathMembers+"/{id}/promote", m.authorized(m.handlePromote))
	mux.HandleFunc("DELETE "+api.PathMembers+"/{id}", m.authorized(m.handleRemoveMember))
	mux.HandleFunc("GET "+api.PathSnapshot, m.authorized(m.handleSnapshotSave))
	mux.HandleFunc("POST "+api.PathRegister, m.agentOnly(m.leaderOnly(m.handleRegister)))
	mux.HandleFunc("POST "+api.PathPing, m.agentOnly(m.leaderOnly(m.handlePing)))
	mux.HandleFunc("GET "+api.PathStream, m.agentOnly(m.leaderOnly(m.handleStream)))
	mux.HandleFunc("POST "+api.PathStatus, m.agentOnly(m.leaderOnly(m.handleStatus)))
	mux.HandleFunc("POST "+api.PathScheduler, m.leaderOnly(m.handleScheduler))
	return mux
}

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
	resp, err := m.register(r.Context(), req)
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
	w.WriteHeader(http.StatusNoContent)
}

func (m *Master) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, m.metrics.Snapshot())
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
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
