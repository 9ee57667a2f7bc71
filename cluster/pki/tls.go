package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
)

// ServerTLS is the master port's TLS: the node certificate (signed by the
// cluster CA, so browsers and curl reach the API and UI after trusting the
// CA) and client certificates optional. A client certificate that is given
// must chain to the cluster CA, else the handshake fails; RequireNode then
// guards node-only endpoints. It sets no NextProtos: http.Server.ServeTLS
// adds h2 itself, Serve on a tls.NewListener speaks HTTP/1.1.
func ServerTLS(id *Identity) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: id.GetCertificate,
		ClientAuth:     tls.VerifyClientCertIfGiven,
		ClientCAs:      id.Pool(),
	}
}

// NodeProto is an ALPN protocol id a node's client offers to the master
// port after h2 and http/1.1 (NodeClientTLS); the master port then prefers
// HTTP/2 for it (WithNodeHTTP2). An agent's message stream, pings and
// status updates so share one connection, where HTTP/1.1 needs one per
// request in flight: one TLS handshake and one set of buffers per agent
// (a leader of 10,000 agents held ~20,000 connections, ~0.5 GB of its
// heap; the handshakes were a quarter of a new leader's CPU while 3,000
// agents re-registered).
// The id is never selected. Other clients (browsers, curl, frameworks,
// the UI's WebSockets, which upgrade HTTP/1.1) are served as before,
// without ALPN, in HTTP/1.1; a master without WithNodeHTTP2 serves a
// node in HTTP/1.1 too.
const NodeProto = "nodectl-node"

// WithNodeHTTP2 is c (complete: cloned as it is) for a port that serves
// HTTP/2 to nodes that offer NodeProto and HTTP/1.1 to everyone else.
func WithNodeHTTP2(c *tls.Config) *tls.Config {
	nodes := c.Clone()
	nodes.NextProtos = []string{"h2", "http/1.1"}
	out := c.Clone()
	out.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		if slices.Contains(h.SupportedProtos, NodeProto) {
			return nodes, nil
		}
		return nil, nil
	}
	return out
}

// NodeClientTLS is c offering h2, http/1.1 and NodeProto, for a node's
// client of the master port (with http.Transport.ForceAttemptHTTP2).
func NodeClientTLS(c *tls.Config) *tls.Config {
	c = c.Clone()
	c.NextProtos = []string{"h2", "http/1.1", NodeProto}
	return c
}

// NodeServerTLS is the TLS of a port only nodes talk to (the agent's):
// mutual TLS, a client certificate from the cluster CA required, and with
// clientRoles one of those roles (the agent port: RoleMaster, RoleAdmin,
// so one agent cannot drive another).
func NodeServerTLS(id *Identity, clientRoles ...string) *tls.Config {
	c := ServerTLS(id)
	c.ClientAuth = tls.RequireAndVerifyClientCert
	if len(clientRoles) > 0 {
		c.VerifyConnection = peerRoles("client", clientRoles)
	}
	return c
}

// peerRoles checks the roles of the other side's certificate.
func peerRoles(side string, roles []string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("%s sent no certificate", side)
		}
		p := Peer{Roles: CertRoles(cs.PeerCertificates[0])}
		if !p.Has(roles...) {
			return fmt.Errorf("%s certificate has roles %s, want %s", side, join(p.Roles), join(roles))
		}
		return nil
	}
}

// ClientTLS is the TLS of a node talking to another node (agent → master,
// master → agent, master → master, master → etcd): it trusts only the
// cluster CA and presents the node certificate. With serverRoles, the
// server's certificate must also carry one of them: an agent talking to a
// master wants RoleMaster, so another agent's certificate (same CA, and
// naming whatever IPs its token holder asked for) cannot pass for a master.
func ClientTLS(id *Identity, serverRoles ...string) *tls.Config {
	c := &tls.Config{
		MinVersion:           tls.VersionTLS12,
		RootCAs:              id.Pool(),
		GetClientCertificate: id.GetClientCertificate,
	}
	if len(serverRoles) > 0 {
		c.VerifyConnection = peerRoles("server", serverRoles)
	}
	return c
}

// Peer is the node (or admin) on the other end of a request, from its
// verified client certificate.
type Peer struct {
	Name  string
	Roles []string
	Cert  *x509.Certificate
}

// Has says whether the peer has one of roles.
func (p Peer) Has(roles ...string) bool {
	return slices.ContainsFunc(p.Roles, func(r string) bool { return slices.Contains(roles, r) })
}

// PeerOf returns the verified client certificate's identity of r; false
// for plain HTTP or no (verified) client certificate. User authentication
// (a later issue) will add other kinds of principals next to it.
func PeerOf(r *http.Request) (Peer, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return Peer{}, false
	}
	c := r.TLS.VerifiedChains[0][0]
	return Peer{Name: CertName(c), Roles: CertRoles(c), Cert: c}, true
}

// Why Authorize refuses a request.
var (
	ErrNoClientCert = errors.New("a client certificate of the cluster is required")
	ErrWrongRole    = errors.New("certificate role not allowed here")
)

// Authorize says whether r comes with a verified client certificate
// carrying one of roles: nil, or an error wrapping ErrNoClientCert or
// ErrWrongRole. For handlers that check inside (cluster.Config.AuthorizeJoin).
func Authorize(r *http.Request, roles ...string) error {
	p, ok := PeerOf(r)
	if !ok {
		return ErrNoClientCert
	}
	if !p.Has(roles...) {
		return fmt.Errorf("%w: certificate of %s has roles %s, need %s", ErrWrongRole, p.Name, join(p.Roles), join(roles))
	}
	return nil
}

// RequireNode lets a request through only when it comes with a verified
// client certificate carrying one of roles: 401 without one, 403 with
// another role. Both answer JSON {"message": ...}.
func RequireNode(roles ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := Authorize(r, roles...); err != nil {
				code := http.StatusForbidden
				if errors.Is(err, ErrNoClientCert) {
					code = http.StatusUnauthorized
				}
				writeMessage(w, code, err.Error())
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func join(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	out := s[0]
	for _, x := range s[1:] {
		out += "|" + x
	}
	return out
}

func writeMessage(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(struct {
		Message string `json:"message"`
	}{msg})
}

// EtcdTLS are the files and names embedded etcd needs for mutual TLS on its
// client and peer ports. etcd reads the certificate files on every
// handshake, so a renewed certificate (written atomically) is picked up
// without a restart.
type EtcdTLS struct {
	CertFile, KeyFile, TrustedCAFile string
	// AllowedCNs restricts clients and peers to master certificates;
	// agents' certificates come from the same CA but must not reach etcd.
	AllowedCNs []string
}

// EtcdTLS describes the node's files for etcd.
func (id *Identity) EtcdTLS() EtcdTLS {
	return EtcdTLS{
		CertFile: id.paths.NodeCert(), KeyFile: id.paths.NodeKey(), TrustedCAFile: id.paths.CACert(),
		AllowedCNs: []string{MasterCN},
	}
}
