package auth

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"nodectl/cluster/api"
)

// Paths of the auth API.
const (
	PathLogin  = "/auth/login"
	PathLogout = "/auth/logout"
	PathWhoami = "/auth/whoami"
	PathUsers  = "/auth/users"
)

// maxAuthBody bounds login and user bodies.
const maxAuthBody = 64 << 10

// LoginRequest is POST /auth/login's body.
type LoginRequest struct {
	Principal string `json:"principal"`
	Secret    string `json:"secret"`
}

// WhoamiResponse is GET /auth/whoami's answer (and POST /auth/login's).
type WhoamiResponse struct {
	Principal
	// Permissions the principal has on some object (route-level).
	Permissions []Perm `json:"permissions"`
	// CSRFToken, for a session, is what a client without an Origin header
	// sends in X-CSRF-Token.
	CSRFToken string    `json:"csrf_token,omitempty"`
	Expires   time.Time `json:"expires,omitzero"`
}

// UserRequest is POST /auth/users's and PUT /auth/users/{principal}'s body.
type UserRequest struct {
	Principal string    `json:"principal,omitempty"`
	Secret    string    `json:"secret,omitempty"`
	Apps      *[]string `json:"apps,omitempty"`
	Superuser bool      `json:"superuser,omitempty"`
}

// Routes are the auth API's routes.
func (g *Guard) Routes() []Route {
	return []Route{
		{"POST " + PathLogin, Public, http.HandlerFunc(g.handleLogin)},
		{"POST " + PathLogout, Self, http.HandlerFunc(g.handleLogout)},
		{"GET " + PathWhoami, Self, http.HandlerFunc(g.handleWhoami)},
		{"GET " + PathUsers, ManageCluster, http.HandlerFunc(g.handleUserList)},
		{"POST " + PathUsers, ManageCluster, http.HandlerFunc(g.handleUserAdd)},
		{"PUT " + PathUsers + "/{principal}", ManageCluster, http.HandlerFunc(g.handleUserUpdate)},
		{"DELETE " + PathUsers + "/{principal}", ManageCluster, http.HandlerFunc(g.handleUserRemove)},
	}
}

func (g *Guard) whoami(p Principal) WhoamiResponse {
	out := WhoamiResponse{Principal: p, Permissions: []Perm{}}
	for _, i := range Perms() {
		if i.Perm != Public && g.Allowed(p, i.Perm, "") {
			out.Permissions = append(out.Permissions, i.Perm)
		}
	}
	if p.session != "" {
		out.CSRFToken = csrfToken(p.session)
	}
	return out
}

func (g *Guard) handleLogin(w http.ResponseWriter, r *http.Request) {
	ip := clientIP(r)
	if blocked, wait := g.failures.blocked(ip); blocked {
		retryAfter(w, wait)
		writeMessage(w, http.StatusTooManyRequests, "too many failed authentication attempts from "+ip+"; retry later")
		return
	}
	var req LoginRequest
	if !readBody(w, r, &req) {
		return
	}
	if g.cfg.Sessions == nil {
		writeMessage(w, http.StatusServiceUnavailable, "sessions are not available on this master")
		return
	}
	p, err := g.CheckSecret(r.Context(), req.Principal, req.Secret, KindSession)
	if err != nil {
		g.failures.failed(ip)
		g.log.Info("login refused", "remote", ip)
		unauthorized(w, r, "invalid principal or secret")
		return
	}
	token, expires, err := g.cfg.Sessions.Create(r.Context(), p.Name)
	if err != nil {
		writeMessage(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	p.session = token
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: token, Path: "/", Expires: expires,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode,
	})
	g.log.Info("login", "principal", p.Name, "remote", ip)
	out := g.whoami(p)
	out.Expires = expires
	writeJSON(w, http.StatusOK, out)
}

func (g *Guard) handleLogout(w http.ResponseWriter, r *http.Request) {
	p, _ := From(r.Context())
	if p.session != "" && g.cfg.Sessions != nil {
		if err := g.cfg.Sessions.End(r.Context(), p.session); err != nil {
			writeMessage(w, http.StatusServiceUnavailable, err.Error())
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

func (g *Guard) handleWhoami(w http.ResponseWriter, r *http.Request) {
	p, _ := From(r.Context())
	writeJSON(w, http.StatusOK, g.whoami(p))
}

func (g *Guard) handleUserList(w http.ResponseWriter, r *http.Request) {
	if !g.usersAvailable(w) {
		return
	}
	us, err := g.cfg.Users.List(r.Context())
	if err != nil {
		writeMessage(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	out := struct {
		Users []UserView `json:"users"`
	}{Users: []UserView{}}
	for _, u := range us {
		out.Users = append(out.Users, u.View())
	}
	writeJSON(w, http.StatusOK, out)
}

func (g *Guard) handleUserAdd(w http.ResponseWriter, r *http.Request) {
	if !g.usersAvailable(w) {
		return
	}
	var req UserRequest
	if !readBody(w, r, &req) {
		return
	}
	if g.cfg.Credentials != nil {
		if _, clash := g.cfg.Credentials.digests[req.Principal]; clash {
			writeMessage(w, http.StatusConflict, fmt.Sprintf("principal '%s' is already given by --credentials", req.Principal))
			return
		}
	}
	u := User{Principal: req.Principal, Superuser: req.Superuser}
	if req.Apps != nil {
		u.Apps = *req.Apps
		if u.Apps == nil {
			u.Apps = []string{}
		}
	}
	if err := g.cfg.Users.Add(r.Context(), u, req.Secret); err != nil {
		writeUserErr(w, err)
		return
	}
	g.log.Info("user added", "principal", req.Principal, "by", principalName(r))
	writeJSON(w, http.StatusCreated, map[string]string{"principal": req.Principal})
}

func (g *Guard) handleUserUpdate(w http.ResponseWriter, r *http.Request) {
	if !g.usersAvailable(w) {
		return
	}
	var req UserRequest
	if !readBody(w, r, &req) {
		return
	}
	name := r.PathValue("principal")
	if req.Principal != "" && req.Principal != name {
		writeMessage(w, http.StatusUnprocessableEntity, "a user cannot be renamed: principal in the body differs from the path")
		return
	}
	if req.Secret == "" && req.Apps == nil {
		writeMessage(w, http.StatusUnprocessableEntity, "nothing to change: give secret and/or apps")
		return
	}
	if err := g.cfg.Users.Update(r.Context(), name, req.Secret, req.Apps); err != nil {
		writeUserErr(w, err)
		return
	}
	g.log.Info("user changed", "principal", name, "by", principalName(r))
	writeJSON(w, http.StatusOK, map[string]string{"principal": name})
}

func (g *Guard) handleUserRemove(w http.ResponseWriter, r *http.Request) {
	if !g.usersAvailable(w) {
		return
	}
	name := r.PathValue("principal")
	if p, _ := From(r.Context()); p.Name == name && p.Kind != KindCertificate {
		writeMessage(w, http.StatusUnprocessableEntity, "a user cannot remove itself")
		return
	}
	if err := g.cfg.Users.Remove(r.Context(), name); err != nil {
		writeUserErr(w, err)
		return
	}
	g.log.Info("user removed", "principal", name, "by", principalName(r))
	w.WriteHeader(http.StatusNoContent)
}

func (g *Guard) usersAvailable(w http.ResponseWriter) bool {
	if g.cfg.Users == nil || g.cfg.Users.cli == nil {
		writeMessage(w, http.StatusServiceUnavailable, "no user store on this master")
		return false
	}
	return true
}

func principalName(r *http.Request) string {
	p, _ := From(r.Context())
	return p.Name
}

func writeUserErr(w http.ResponseWriter, err error) {
	writeMessage(w, api.HTTPStatusOr(err, http.StatusServiceUnavailable), err.Error())
}

// readBody reads a bounded JSON body; unknown fields are refused by name.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAuthBody))
	if err != nil {
		writeMessage(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", maxAuthBody))
		return false
	}
	if err := strictJSON(b, v); err != nil {
		writeMessage(w, http.StatusBadRequest, fmt.Sprintf("malformed JSON: %v", err))
		return false
	}
	return true
}
