package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"nodectl/cluster/client"
)

// Paths of the join protocol on the master port.
const (
	// PathCACerts serves the CA certificate without authentication; a
	// joiner checks it against the hash in its token.
	PathCACerts = "/cacerts"
	// PathJoin takes a token and a CSR and returns a certificate.
	PathJoin = "/master/join"
	// PathRenew renews the certificate presented as client certificate.
	PathRenew = "/master/renew"
	// PathTokens lists (GET) and creates (POST) tokens; DELETE
	// PathTokens/{id} revokes one. Admin or master certificates only.
	PathTokens = "/master/tokens"
)

// JoinRequest is the body of POST PathJoin.
type JoinRequest struct {
	Token    string   `json:"token"`
	CSR      string   `json:"csr"`  // PEM
	Role     string   `json:"role"` // master, agent or all (both; needs a master token)
	Hostname string   `json:"hostname"`
	IPs      []string `json:"ips"`
}

// JoinResponse answers a join.
type JoinResponse struct {
	Certificate string   `json:"certificate"` // PEM
	CA          string   `json:"ca"`          // PEM
	Masters     []string `json:"masters"`     // host:port of the master API of every master
	// Master carries the sealed CA key to a joining master.
	Master *MasterBundle `json:"master,omitempty"`
	// Member is what the master-join hook returned (etcd membership).
	Member json.RawMessage `json:"member,omitempty"`
}

// RenewRequest is the body of POST PathRenew; RenewResponse its answer.
type RenewRequest struct {
	CSR string `json:"csr"`
}
type RenewResponse struct {
	Certificate string `json:"certificate"`
}

// ErrorBody is the JSON of a refusal: a message, and for token refusals a
// reason (see Reason) the client maps back to the error.
type ErrorBody struct {
	Message string `json:"message"`
	Reason  string `json:"reason,omitempty"`
}

var reasons = map[string]error{
	"malformed": ErrTokenMalformed, "unknown": ErrTokenUnknown, "secret": ErrTokenSecret,
	"expired": ErrTokenExpired, "used_up": ErrTokenUsedUp, "revoked": ErrTokenRevoked,
	"role": ErrTokenRole, "wrong_ca": ErrWrongCA,
}

// Reason is the wire name of a token refusal ("" for other errors).
func Reason(err error) string {
	for r, e := range reasons {
		if errors.Is(err, e) {
			return r
		}
	}
	return ""
}

// RolesFor are the certificate roles of a node running role (all = both).
func RolesFor(role string) ([]string, error) {
	switch role {
	case RoleMaster, RoleAgent:
		return []string{role}, nil
	case "all":
		return []string{RoleMaster, RoleAgent}, nil
	}
	return nil, fmt.Errorf("role %q: want master, agent or all", role)
}

// TokenRole is the token role a node of role needs.
func TokenRole(role string) string {
	if role == "all" {
		return RoleMaster
	}
	return role
}

// JoinConfig says how a node joins.
type JoinConfig struct {
	URL      string // https://host:port of any master
	Token    string
	Paths    Paths  // where the node's key, certificate and CA go
	Role     string // master, agent or all
	Hostname string
	IPs      []net.IP
	// Timeout bounds each HTTP call; default 30s (a master join waits for
	// the etcd member add).
	Timeout time.Duration
}

// JoinResult is a joined node's identity and what the master told it.
type JoinResult struct {
	Identity  *Identity
	Authority *Authority // masters only
	Masters   []string
	Member    json.RawMessage
}

// Join joins a cluster with a token: it fetches the CA without trusting
// the connection, checks the CA's SHA-256 against the token before the
// secret leaves the node, then sends a CSR for a fresh key (created in
// cfg.Paths, 0600) over TLS verified against that CA, and stores the
// certificate it gets.
func Join(ctx context.Context, cfg JoinConfig) (*JoinResult, error) {
	tok, err := ParseToken(cfg.Token)
	if err != nil {
		return nil, err
	}
	if _, err := RolesFor(cfg.Role); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	base := strings.TrimSuffix(cfg.URL, "/")
	if !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("join URL %q: want https://HOST:PORT", cfg.URL)
	}
	ca, err := FetchCA(ctx, base, tok.CAHash, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Paths.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create pki dir: %w", err)
	}
	key, err := loadOrCreateKey(cfg.Paths.NodeKey())
	if err != nil {
		return nil, err
	}
	csr, err := NewCSR(key, cfg.Hostname)
	if err != nil {
		return nil, err
	}
	req := JoinRequest{Token: cfg.Token, CSR: string(csr), Role: cfg.Role, Hostname: cfg.Hostname}
	for _, ip := range cfg.IPs {
		req.IPs = append(req.IPs, ip.String())
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	c, err := client.New(client.Config{Server: base, TLS: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, Timeout: cfg.Timeout})
	if err != nil {
		return nil, err
	}
	defer c.CloseIdleConnections()
	var resp JoinResponse
	if err := post(ctx, c, PathJoin, req, &resp); err != nil {
		return nil, fmt.Errorf("join %s: %w", base, err)
	}
	caPEM := pemEncode(pemCert, ca.Raw)
	if err := writeFile(cfg.Paths.CACert(), caPEM, fileMode); err != nil {
		return nil, err
	}
	id := newIdentity(cfg.Paths, ca, key)
	if err := id.Install([]byte(resp.Certificate)); err != nil {
		return nil, fmt.Errorf("join %s: %w", base, err)
	}
	res := &JoinResult{Identity: id, Masters: resp.Masters, Member: resp.Member}
	if resp.Master != nil {
		if res.Authority, err = ImportAuthority(cfg.Paths, caPEM, *resp.Master); err != nil {
			return nil, fmt.Errorf("join %s: import CA: %w", base, err)
		}
	}
	return res, nil
}

// FetchCA gets the CA certificate from base+PathCACerts without verifying
// the server (there is nothing to verify it with yet) and returns the one
// whose SHA-256 is wantHash; ErrWrongCA when none is.
func FetchCA(ctx context.Context, base, wantHash string, timeout time.Duration) (*x509.Certificate, error) {
	// Trust comes from the hash in the token, checked below.
	insecure, err := client.New(client.Config{Server: base, Timeout: timeout,
		TLS: &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}})
	if err != nil {
		return nil, err
	}
	defer insecure.CloseIdleConnections()
	_, body, err := insecure.Raw(ctx, client.Request{Method: http.MethodGet, Path: PathCACerts})
	if err != nil {
		return nil, fmt.Errorf("fetch CA from %s: %w", base, err)
	}
	var got []string
	for rest := body; ; {
		der, r, ok := nextCert(rest)
		if !ok {
			break
		}
		rest = r
		c, err := x509.ParseCertificate(der)
		if err != nil {
			continue
		}
		h := CAHash(c)
		if h == wantHash {
			return c, nil
		}
		got = append(got, h[:16]+"…")
	}
	return nil, fmt.Errorf("%w: %s serves CA %s but the token pins %s…; the token's secret was not sent",
		ErrWrongCA, base, strings.Join(got, ","), wantHash[:16])
}

func nextCert(b []byte) (der, rest []byte, ok bool) {
	for {
		blk, r := pemDecodeBlock(b)
		if blk == nil {
			return nil, nil, false
		}
		b = r
		if blk.Type == pemCert {
			return blk.Bytes, b, true
		}
	}
}

// HTTPRenew renews over HTTPS at the first master of masters() that
// answers, authenticated by the current certificate (agents).
func HTTPRenew(id *Identity, masters func() []string) RenewFunc {
	return func(ctx context.Context, csr []byte) ([]byte, error) {
		var errs []error
		for _, m := range masters() {
			var resp RenewResponse
			c, err := client.New(client.Config{Server: "https://" + m, TLS: ClientTLS(id, RoleMaster), Timeout: 30 * time.Second})
			if err == nil {
				err = post(ctx, c, PathRenew, RenewRequest{CSR: string(csr)}, &resp)
				c.CloseIdleConnections()
			}
			if err == nil {
				return []byte(resp.Certificate), nil
			}
			errs = append(errs, fmt.Errorf("%s: %w", m, err))
		}
		if len(errs) == 0 {
			return nil, errors.New("renew: no master known")
		}
		return nil, fmt.Errorf("renew: %w", errors.Join(errs...))
	}
}

// post posts in and decodes the answer into out; a refusal becomes an
// error carrying the master's message and its token sentinel, by reason.
func post(ctx context.Context, c *client.Client, path string, in, out any) error {
	err := c.Post(ctx, path, in, out)
	var e *client.Error
	if errors.As(err, &e) {
		return RefusalError(e.Status, e.Body)
	}
	return err
}

// RefusalError turns a non-2xx answer into an error: the master's message,
// wrapping the token sentinel its reason names.
func RefusalError(status string, body []byte) error {
	var e ErrorBody
	if json.Unmarshal(body, &e) != nil || e.Message == "" {
		msg := strings.TrimSpace(string(body))
		if msg == "" {
			return errors.New(status)
		}
		return fmt.Errorf("%s: %s", status, msg)
	}
	if s, ok := reasons[e.Reason]; ok {
		return &refusal{msg: e.Message, reason: s}
	}
	return errors.New(e.Message)
}

type refusal struct {
	msg    string
	reason error
}

func (r *refusal) Error() string { return r.msg }
func (r *refusal) Unwrap() error { return r.reason }
