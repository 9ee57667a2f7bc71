package secrets

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
)

// PathSecrets is the API's root: GET lists, PUT/DELETE PathSecrets+path.
const PathSecrets = "/v1/secrets"

// PutRequest is PUT /v1/secrets/{path}'s body.
type PutRequest struct {
	Value string `json:"value"`
}

// PutResponse is PUT /v1/secrets/{path}'s answer (201 created, 200 replaced).
type PutResponse struct {
	Path    string `json:"path"`
	Created bool   `json:"created"`
}

// ListResponse is GET /v1/secrets's answer: paths, never values.
type ListResponse struct {
	Secrets []Entry `json:"secrets"`
}

// API serves the store over HTTP.
type API struct {
	store  *Store
	guard  *auth.Guard // nil: no authorization (tests of the store alone)
	log    *slog.Logger
	redact func(...string)
}

// NewAPI returns the HTTP API of store; guard authorizes by path. redact
// (may be nil) registers every value written with the node's redacting
// log handler, in case one ever reaches a log line.
func NewAPI(store *Store, guard *auth.Guard, log *slog.Logger, redact func(...string)) *API {
	if log == nil {
		log = slog.Default()
	}
	if redact == nil {
		redact = func(...string) {}
	}
	return &API{store: store, guard: guard, log: log.With("component", "secrets"), redact: redact}
}

// Routes are the API's routes, each with its one permission; handlers
// check it again on the secret's path.
func (a *API) Routes() []auth.Route {
	return []auth.Route{
		{Pattern: "GET " + PathSecrets, Perm: auth.ViewSecrets, Handler: http.HandlerFunc(a.handleList)},
		{Pattern: "PUT " + PathSecrets + "/{path...}", Perm: auth.ManageSecrets, Handler: http.HandlerFunc(a.handlePut)},
		{Pattern: "DELETE " + PathSecrets + "/{path...}", Perm: auth.ManageSecrets, Handler: http.HandlerFunc(a.handleDelete)},
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeMessage(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"message": msg})
}

// permit checks perm on path for the request's principal; false after a 403.
func (a *API) permit(w http.ResponseWriter, r *http.Request, perm auth.Perm, path string) bool {
	if a.guard == nil || a.guard.AllowedCtx(r.Context(), perm, path) {
		return true
	}
	writeMessage(w, http.StatusForbidden, fmt.Sprintf("Not Authorized to perform this action! (%s on %s)", perm, path))
	return false
}

// principal names the caller for the audit log line.
func principal(r *http.Request) string {
	if p, ok := auth.From(r.Context()); ok && p.Name != "" {
		return p.Name
	}
	return "anonymous"
}

func (a *API) storeError(w http.ResponseWriter, path string, err error) {
	switch code := api.HTTPStatusOr(err, http.StatusServiceUnavailable); code {
	case http.StatusNotFound:
		writeMessage(w, code, fmt.Sprintf("secret '%s' does not exist", path))
	case http.StatusServiceUnavailable:
		a.log.Warn("secret store", "path", path, "err", err)
		writeMessage(w, code, "the secret store is unavailable: "+err.Error())
	default:
		writeMessage(w, code, err.Error())
	}
}

func (a *API) handleList(w http.ResponseWriter, r *http.Request) {
	all, err := a.store.List(r.Context())
	if err != nil {
		a.storeError(w, "", err)
		return
	}
	out := ListResponse{Secrets: []Entry{}}
	for _, e := range all {
		if a.guard == nil || a.guard.AllowedCtx(r.Context(), auth.ViewSecrets, e.Path) {
			out.Secrets = append(out.Secrets, e)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) handlePut(w http.ResponseWriter, r *http.Request) {
	path, err := CleanPath(r.PathValue("path"))
	if err != nil {
		writeMessage(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	if !a.permit(w, r, auth.ManageSecrets, path) {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 2*MaxValue+1024))
	if err != nil {
		writeMessage(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	var req PutRequest
	if err := dec.Decode(&req); err != nil {
		// The decoder's message may quote the body: say what is wrong
		// without it, so a value never echoes back into answers or logs.
		writeMessage(w, http.StatusBadRequest, `body must be JSON {"value": "..."} (and nothing else)`)
		return
	}
	a.redact(req.Value)
	created, err := a.store.Put(r.Context(), path, []byte(req.Value))
	if err != nil {
		a.storeError(w, path, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	a.log.Info("secret written", "path", path, "principal", principal(r), "created", created)
	writeJSON(w, code, PutResponse{Path: path, Created: created})
}

func (a *API) handleDelete(w http.ResponseWriter, r *http.Request) {
	path, err := CleanPath(r.PathValue("path"))
	if err != nil {
		writeMessage(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	if !a.permit(w, r, auth.ManageSecrets, path) {
		return
	}
	if err := a.store.Delete(r.Context(), path); err != nil {
		a.storeError(w, path, err)
		return
	}
	a.log.Info("secret deleted", "path", path, "principal", principal(r))
	w.WriteHeader(http.StatusNoContent)
}
