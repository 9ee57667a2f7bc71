package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"

	"nodectl/cluster/pki"
)

// Config configures a Guard. Zero values are the secure defaults.
type Config struct {
	Credentials *Credentials // --credentials; nil: none
	Users       *Users       // users in etcd; nil: none
	Sessions    *Sessions    // web UI sessions; nil: no login
	ACLs        *ACLs        // --acls; nil: every authenticated principal may do everything
	Firewall    map[string]bool
	RateLimits  *RateLimits
	// Open lists the realms an operator opened to anonymous callers
	// (--authenticate_http_readonly=false opens RealmReadonly, and so on).
	Open map[Realm]bool
	// RootSubmissions (Mesos --root_submissions, default true) lets
	// principals run tasks as root.
	RootSubmissions bool
	Logger          *slog.Logger
}

// Guard authenticates requests and answers authorization questions.
type Guard struct {
	cfg      Config
	log      *slog.Logger
	failures failures
}

// New returns a Guard.
func New(cfg Config) *Guard {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Guard{cfg: cfg, log: cfg.Logger.With("component", "auth")}
}

// Why authentication failed.
var (
	errNoCredentials  = errors.New("authentication required")
	errBadCredentials = errors.New("invalid credentials")
)

// authenticate finds the request's principal: a verified client
// certificate, HTTP Basic, or a session cookie. No credentials at all is
// errNoCredentials; credentials that do not check out are
// errBadCredentials (the same for an unknown principal and a wrong
// secret).
func (g *Guard) authenticate(r *http.Request) (Principal, error) {
	if user, secret, ok := r.BasicAuth(); ok {
		return g.CheckSecret(r.Context(), user, secret, KindBasic)
	}
	if peer, ok := pki.PeerOf(r); ok {
		// A --role=all node's certificate is master and agent at once.
		p := Principal{Name: peer.Name, Kind: KindCertificate,
			Superuser: peer.Has(pki.RoleAdmin, pki.RoleMaster), Node: peer.Has(pki.RoleAgent)}
		if !p.Superuser && !p.Node {
			return Principal{}, errBadCredentials
		}
		return p, nil
	}
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		if g.cfg.Sessions == nil {
			return Principal{}, errBadCredentials
		}
		name, ok := g.cfg.Sessions.Lookup(r.Context(), c.Value)
		if !ok {
			return Principal{}, errBadCredentials
		}
		p, ok := g.userPrincipal(r.Context(), name, KindSession)
		if !ok {
			return Principal{}, errBadCredentials
		}
		p.session = c.Value
		return p, nil
	}
	if r.Header.Get("Authorization") != "" {
		return Principal{}, errBadCredentials // a scheme we do not take
	}
	return Principal{}, errNoCredentials
}

// userPrincipal is the principal of a --credentials entry or user.
func (g *Guard) userPrincipal(ctx context.Context, name string, kind Kind) (Principal, bool) {
	if g.cfg.Users != nil {
		if u, ok := g.cfg.Users.lookup(ctx, name); ok {
			return Principal{Name: name, Kind: kind, Superuser: u.Superuser, Apps: u.Apps}, true
		}
	}
	if g.cfg.Credentials != nil {
		if _, ok := g.cfg.Credentials.digests[name]; ok {
			return Principal{Name: name, Kind: kind}, true
		}
	}
	return Principal{}, false
}

// CheckSecret checks a principal and secret against --credentials and
// the users in etcd.
func (g *Guard) CheckSecret(ctx context.Context, name, secret string, kind Kind) (Principal, error) {
	if known, ok := g.cfg.Credentials.check(name, secret); known {
		if !ok {
			return Principal{}, errBadCredentials
		}
		return Principal{Name: name, Kind: kind}, nil
	}
	if g.cfg.Users == nil {
		checkHash(dummyHash, secret)
		return Principal{}, errBadCredentials
	}
	u, _, ok := g.cfg.Users.check(ctx, name, secret)
	if !ok {
		return Principal{}, errBadCredentials
	}
	return Principal{Name: name, Kind: kind, Superuser: u.Superuser, Apps: u.Apps}, nil
}

// Allowed says whether p may do perm on object ("" asks whether p may do
// perm on some object: the route-level check, refined by handlers).
func (g *Guard) Allowed(p Principal, perm Perm, object string) bool {
	info, known := perms[perm]
	if !known {
		return false
	}
	switch {
	case perm == Public:
		return true
	case perm == Self:
		// An anonymous caller may ask who it is (and log out) where an
		// operator opened a realm: the UI then shows what it may use.
		return !p.Anonymous() || g.anyOpen()
	case info.Realm == RealmNode:
		if perm == RenewCertificate {
			return p.Kind == KindCertificate
		}
		return p.Node
	case p.Node && !p.Superuser:
		return false // an agent's certificate speaks the agent protocol only
	}
	if perm == RunTasks && object == "root" && !g.cfg.RootSubmissions {
		return false
	}
	if p.Superuser {
		return true
	}
	if p.Anonymous() && !g.cfg.Open[info.Realm] {
		return false
	}
	switch g.cfg.ACLs.decide(perm, p.Name, object) {
	case allow:
		return true
	case deny:
		return false
	}
	if perm == ManageCluster {
		return false // superusers only, unless an ACL says otherwise
	}
	if p.Apps != nil {
		// An app-scoped user: its app prefixes, reading, and nothing else.
		switch {
		case appPerm(perm):
			if object == "" {
				return len(p.Apps) > 0
			}
			for _, pre := range p.Apps {
				if underPrefix(object, pre) {
					return true
				}
			}
			return false
		case perm == GetEndpoints, perm == ViewFrameworks, perm == ViewTasks, perm == AccessSandboxes:
			return true // filtered to its apps by the handlers (AppScoped)
		case perm == RunTasks:
			return true // its apps' users are checked at submission
		case perm == LaunchNestedContainerSessions:
			return object == "" // the route; its apps' tasks are checked by the handler (AppScoped)
		}
		return false
	}
	if g.cfg.ACLs != nil {
		return g.cfg.ACLs.Permissive
	}
	return true
}

// AllowedCtx is Allowed for the principal of ctx (none: not allowed).
func (g *Guard) AllowedCtx(ctx context.Context, perm Perm, object string) bool {
	p, ok := From(ctx)
	if !ok {
		return false
	}
	return g.Allowed(p, perm, object)
}

// AppVisible says whether the principal of ctx may see app id.
func (g *Guard) AppVisible(ctx context.Context, id string) bool {
	return g.AllowedCtx(ctx, ViewApps, id)
}

// AppScoped reports whether the principal of ctx is limited to app
// prefixes (its views of cluster state are filtered to its apps).
func AppScoped(ctx context.Context) ([]string, bool) {
	p, ok := From(ctx)
	if !ok || p.Superuser || p.Apps == nil {
		return nil, false
	}
	return p.Apps, true
}

// InPrefixes reports whether app id is under one of prefixes.
func InPrefixes(id string, prefixes []string) bool {
	for _, p := range prefixes {
		if underPrefix(id, p) {
			return true
		}
	}
	return false
}

// csrfToken is the CSRF token of a session: derived from the session's
// token, which scripts cannot read (HttpOnly), so only pages that asked
// /auth/whoami or /auth/login on this origin know it.
func csrfToken(session string) string {
	h := sha256.Sum256([]byte("nodectl-csrf:" + session))
	return hex.EncodeToString(h[:16])
}

// clientIP is the remote address's host.
func clientIP(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}

// anyOpen reports whether an operator opened any realm to anonymous callers.
func (g *Guard) anyOpen() bool {
	for _, open := range g.cfg.Open {
		if open {
			return true
		}
	}
	return false
}
