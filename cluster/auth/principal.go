package auth

import (
	"context"
)

// Kind says how a principal proved who it is.
type Kind string

// The kinds of principal.
const (
	KindCertificate Kind = "certificate" // a client certificate of the cluster CA
	KindBasic       Kind = "basic"       // HTTP Basic: --credentials or a cluster user
	KindSession     Kind = "session"     // a web-UI session cookie
	KindAnonymous   Kind = "anonymous"   // no credentials, on a realm an operator opened
)

// Principal is who a request acts for.
type Principal struct {
	Name string `json:"principal"`
	Kind Kind   `json:"kind"`
	// Superuser may do everything (admin and master certificates, the
	// first-start admin user).
	Superuser bool `json:"superuser"`
	// Node is an agent certificate: it may only speak the agent protocol.
	Node bool `json:"node,omitempty"`
	// Apps, when set, are the app id prefixes (Marathon group paths) this
	// user may act on; nil means no app restriction.
	Apps []string `json:"apps,omitempty"`
	// session is the session's id (KindSession), for logout and CSRF.
	session string
	// agent: a superuser's certificate that also has role agent (a
	// --role=all node, whose agent speaks the agent protocol with it).
	agent bool
}

// Anonymous reports whether p has no identity.
func (p Principal) Anonymous() bool { return p.Kind == KindAnonymous || p.Name == "" }

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// From returns the principal of ctx (set by the Router).
func From(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}
