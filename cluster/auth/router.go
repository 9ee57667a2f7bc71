package auth

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"sort"
	"strings"
)

// Route is one pattern of the master's API with its one permission.
type Route struct {
	Pattern string // http.ServeMux pattern: "METHOD /path"
	Perm    Perm
	Handler http.Handler
}

// Router is the master port's one router: every route is registered with
// its permission, and ServeHTTP authenticates and authorizes before any
// handler runs. A request that matches no route needs a principal too
// (an outsider learns nothing of what exists).
type Router struct {
	g      *Guard
	mux    *http.ServeMux
	perms  map[string]Perm // pattern → perm
	routes []Route
}

// NewRouter returns an empty router guarded by g.
func (g *Guard) NewRouter() *Router {
	return &Router{g: g, mux: http.NewServeMux(), perms: map[string]Perm{}}
}

// Handle registers h for pattern with perm. An unknown permission panics:
// a route without one cannot exist.
func (rt *Router) Handle(pattern string, perm Perm, h http.Handler) {
	if _, ok := perms[perm]; !ok {
		panic(fmt.Sprintf("auth: route %q has unknown permission %q", pattern, perm))
	}
	if _, dup := rt.perms[pattern]; dup {
		panic(fmt.Sprintf("auth: route %q registered twice", pattern))
	}
	rt.mux.Handle(pattern, h)
	rt.perms[pattern] = perm
	rt.routes = append(rt.routes, Route{Pattern: pattern, Perm: perm, Handler: h})
}

// HandleFunc is Handle for a function.
func (rt *Router) HandleFunc(pattern string, perm Perm, h http.HandlerFunc) {
	rt.Handle(pattern, perm, h)
}

// Add registers routes.
func (rt *Router) Add(routes ...Route) {
	for _, r := range routes {
		rt.Handle(r.Pattern, r.Perm, r.Handler)
	}
}

// Routes lists the registered routes sorted by pattern: the table
// docs/security.md shows, and the one the tests walk.
func (rt *Router) Routes() []Route {
	out := append([]Route(nil), rt.routes...)
	sort.Slice(out, func(i, j int) bool {
		pi, pj := routePath(out[i].Pattern), routePath(out[j].Pattern)
		if pi != pj {
			return pi < pj
		}
		return out[i].Pattern < out[j].Pattern
	})
	return out
}

func routePath(pattern string) string {
	if _, p, ok := strings.Cut(pattern, " "); ok {
		return p
	}
	return pattern
}

// Guard is the router's guard.
func (rt *Router) Guard() *Guard { return rt.g }

// ServeHTTP: firewall → authentication (once per request; an inner
// dispatch, like the UI's /ui/api/, keeps the principal) → rate limits →
// CSRF for cookie sessions → the route's permission → the handler.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := rt.g
	if g.cfg.Firewall[r.URL.Path] {
		writeMessage(w, http.StatusForbidden, fmt.Sprintf("Endpoint '%s' is disabled", r.URL.Path))
		return
	}
	_, pattern := rt.mux.Handler(r)
	perm, known := rt.perms[pattern]
	if !known {
		perm = Self // 404 and 405 answers are for principals only
	}
	p, authed := From(r.Context())
	if !authed && perm != Public {
		var err error
		ip := clientIP(r)
		if blocked, wait := g.failures.blocked(ip); blocked && carriesSecret(r) {
			retryAfter(w, wait)
			writeMessage(w, http.StatusTooManyRequests, "too many failed authentication attempts from "+ip+"; retry later")
			return
		}
		p, err = g.authenticate(r)
		switch {
		case err == errBadCredentials:
			g.failures.failed(ip)
			g.log.Debug("authentication failed", "remote", ip, "path", r.URL.Path)
			unauthorized(w, r, "invalid credentials")
			return
		case err != nil:
			info := perms[perm]
			if !g.cfg.Open[info.Realm] && !(info.Realm == RealmSelf && g.anyOpen()) {
				unauthorized(w, r, "authentication required: a client certificate of the cluster, HTTP Basic credentials, or a session (POST /auth/login)")
				return
			}
			p = Principal{Kind: KindAnonymous}
		}
		if ok, wait := g.cfg.RateLimits.allow(p.Name); !ok {
			retryAfter(w, wait)
			writeMessage(w, http.StatusTooManyRequests, fmt.Sprintf("rate limit of principal '%s' exceeded (--rate_limits)", p.Name))
			return
		}
		if p.Kind == KindSession && !safeMethod(r.Method) {
			if msg := csrfRefusal(r, p); msg != "" {
				writeMessage(w, http.StatusForbidden, msg)
				return
			}
		}
		r = r.WithContext(WithPrincipal(r.Context(), p))
	}
	if perm != Public && !g.Allowed(p, perm, "") {
		name := p.Name
		if name == "" {
			name = "anonymous"
		}
		writeMessage(w, http.StatusForbidden, fmt.Sprintf("principal '%s' lacks permission %s for %s %s", name, perm, r.Method, r.URL.Path))
		return
	}
	rt.mux.ServeHTTP(w, r)
}

// carriesSecret: the request tries a secret (not a certificate).
func carriesSecret(r *http.Request) bool {
	_, _, basic := r.BasicAuth()
	return basic || r.Method == http.MethodPost && r.URL.Path == PathLogin
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// csrfRefusal checks a state-changing request authenticated by a session
// cookie: a body must be JSON (an HTML form cannot send that cross-site
// without a CORS preflight, which nodectl never grants), and the request
// must come from this origin (Origin) or carry the session's CSRF token.
func csrfRefusal(r *http.Request, p Principal) string {
	if r.ContentLength != 0 {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			return "cross-site request refused: a session's state-changing request needs Content-Type application/json"
		}
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		if origin != "https://"+r.Host {
			return fmt.Sprintf("cross-site request refused: Origin %q is not this site", origin)
		}
		return ""
	}
	if t := r.Header.Get(CSRFHeader); t != "" && t == csrfToken(p.session) {
		return ""
	}
	return "cross-site request refused: no Origin header and no " + CSRFHeader + " header"
}

// CSRFHeader carries a session's CSRF token (from /auth/login or
// /auth/whoami) when a client sends no Origin.
const CSRFHeader = "X-CSRF-Token"

// unauthorized answers 401 with a Basic challenge, except to a page's
// script (the UI's calls send X-Requested-With; browsers mark fetch and
// EventSource requests Sec-Fetch-Mode cors or same-origin): a browser
// answers a Basic challenge to those with its own password dialog, over
// the UI's login form. They get a scheme browsers do not prompt for.
// Typing an API URL into the address bar (navigate) still gets Basic.
func unauthorized(w http.ResponseWriter, r *http.Request, msg string) {
	if mode := r.Header.Get("Sec-Fetch-Mode"); r.Header.Get("X-Requested-With") != "" || mode == "cors" || mode == "same-origin" {
		w.Header().Set("WWW-Authenticate", `Session realm="nodectl"`)
	} else {
		w.Header().Set("WWW-Authenticate", `Basic realm="nodectl"`)
	}
	writeMessage(w, http.StatusUnauthorized, msg)
}

func writeMessage(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"message": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Mux serves routes on a plain ServeMux, with no authentication: for
// tests of one component. Nodes serve routes through a Router.
func Mux(routes []Route) *http.ServeMux {
	mux := http.NewServeMux()
	for _, r := range routes {
		mux.Handle(r.Pattern, r.Handler)
	}
	return mux
}

// Checked runs h directly when a Router already authorized the request
// (a principal is in its context), else behind fallback: components keep
// their own certificate checks when served without a Router (tests).
func Checked(fallback func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		guarded := fallback(h)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, ok := From(r.Context()); ok {
				h.ServeHTTP(w, r)
				return
			}
			guarded.ServeHTTP(w, r)
		})
	}
}

// PathRoutes lists the router's routes and their permissions.
const PathRoutes = "/auth/routes"

// RouteInfo is one row of GET /auth/routes.
type RouteInfo struct {
	Pattern    string `json:"pattern"`
	Permission Perm   `json:"permission"`
	Realm      Realm  `json:"realm"`
}

// Table is the route table: every route with its permission and realm.
func (rt *Router) Table() []RouteInfo {
	var out []RouteInfo
	for _, r := range rt.Routes() {
		out = append(out, RouteInfo{Pattern: r.Pattern, Permission: r.Perm, Realm: perms[r.Perm].Realm})
	}
	return out
}

// HandleTable registers GET /auth/routes, which answers Table.
func (rt *Router) HandleTable() {
	rt.Handle("GET "+PathRoutes, GetEndpoints, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"routes": rt.Table()})
	}))
}
