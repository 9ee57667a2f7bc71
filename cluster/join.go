package cluster

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"nodectl/cluster/auth"
	"nodectl/cluster/pki"
)

// JoinConfig configures a master's join, renewal and token endpoints.
type JoinConfig struct {
	// Authority signs node certificates; required.
	Authority *pki.Authority
	// Tokens is the cluster's token store; required.
	Tokens *pki.Tokens
	// URL is this master's advertised https://host:port, put in the join
	// commands token creation prints; required.
	URL string
	// Masters returns the master API addresses (host:port) a joined node
	// should know; default: the host:port of URL alone.
	Masters func(ctx context.Context) []string
	// AddMaster is called on a master join, after the token has been
	// accepted and the certificate signed, to make the node a member (etcd
	// learner add). What it returns goes to the joiner as "member". An
	// error refunds the token's use and refuses the join with 503. Nil:
	// master joins get a certificate and the CA key only.
	AddMaster func(ctx context.Context, req pki.JoinRequest, cert *x509.Certificate) (json.RawMessage, error)
	// NodeTTL is the lifetime of issued node certificates; default pki.NodeTTL.
	NodeTTL time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Join serves the join protocol and token administration of a master:
//
//	GET    /cacerts             the CA certificate (no authentication)
//	POST   /master/join         token + CSR → certificate (a token is the credential)
//	POST   /master/renew        CSR → renewed certificate (node client certificate)
//	GET    /master/tokens       list tokens           (admin or master certificate)
//	POST   /master/tokens       create a token        (admin or master certificate)
//	DELETE /master/tokens/{id}  revoke a token        (admin or master certificate)
//
// Every master serves it, leader or not: token uses are counted in etcd.
type Join struct {
	cfg JoinConfig
	log *slog.Logger
}

// NewJoin validates cfg; it starts nothing.
func NewJoin(cfg JoinConfig) (*Join, error) {
	if cfg.Authority == nil || cfg.Tokens == nil {
		return nil, errors.New("join config: Authority and Tokens are required")
	}
	if !strings.HasPrefix(cfg.URL, "https://") {
		return nil, fmt.Errorf("join config: URL %q: want https://host:port", cfg.URL)
	}
	if cfg.Masters == nil {
		self := strings.TrimPrefix(strings.TrimSuffix(cfg.URL, "/"), "https://")
		cfg.Masters = func(context.Context) []string { return []string{self} }
	}
	if cfg.NodeTTL <= 0 {
		cfg.NodeTTL = pki.NodeTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Join{cfg: cfg, log: cfg.Logger.With("component", "join")}, nil
}

// Handler serves the endpoints listed on Join. Mount it on the master
// port (ServerTLS) before the master's own handler.
func (j *Join) Handler() http.Handler { return auth.Mux(j.Routes()) }

// Routes are Handler's routes with their permissions: the CA and the
// join itself are public (the join token is the credential), renewal
// needs a node certificate, tokens are cluster administration.
func (j *Join) Routes() []auth.Route {
	admin := auth.Checked(pki.RequireNode(pki.RoleAdmin, pki.RoleMaster))
	return []auth.Route{
		{Pattern: "GET " + pki.PathCACerts, Perm: auth.Public, Handler: http.HandlerFunc(j.handleCACerts)},
		{Pattern: "POST " + pki.PathJoin, Perm: auth.Public, Handler: http.HandlerFunc(j.handleJoin)},
		{Pattern: "POST " + pki.PathRenew, Perm: auth.RenewCertificate, Handler: pki.RequireNode(pki.RoleMaster, pki.RoleAgent, pki.RoleAdmin)(http.HandlerFunc(j.handleRenew))},
		{Pattern: "GET " + pki.PathTokens, Perm: auth.ManageCluster, Handler: admin(http.HandlerFunc(j.handleTokenList))},
		{Pattern: "POST " + pki.PathTokens, Perm: auth.ManageCluster, Handler: admin(http.HandlerFunc(j.handleTokenCreate))},
		{Pattern: "DELETE " + pki.PathTokens + "/{id}", Perm: auth.ManageCluster, Handler: admin(http.HandlerFunc(j.handleTokenRevoke))},
	}
}

func (j *Join) handleCACerts(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(j.cfg.Authority.CertPEM())
}

func (j *Join) handleJoin(w http.ResponseWriter, r *http.Request) {
	var req pki.JoinRequest
	if !readJSON(w, r, &req) {
		return
	}
	roles, err := pki.RolesFor(req.Role)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Hostname == "" {
		writeError(w, http.StatusBadRequest, "hostname is required")
		return
	}
	ips := make([]net.IP, 0, len(req.IPs))
	for _, s := range req.IPs {
		ip := net.ParseIP(s)
		if ip == nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("ips: %q is not an IP address", s))
			return
		}
		ips = append(ips, ip)
	}
	if _, err := pki.ParseCSR([]byte(req.CSR)); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	ti, err := j.cfg.Tokens.Use(ctx, req.Token, pki.TokenRole(req.Role))
	if err != nil {
		j.refuse(w, r, req, err)
		return
	}
	certPEM, err := j.cfg.Authority.Sign([]byte(req.CSR), pki.SignRequest{Name: req.Hostname, Roles: roles, IPs: ips, DNS: []string{"localhost"}, TTL: j.cfg.NodeTTL})
	if err != nil {
		j.refund(ti.ID)
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	resp := pki.JoinResponse{Certificate: string(certPEM), CA: string(j.cfg.Authority.CertPEM())}
	if roles[0] == pki.RoleMaster {
		if j.cfg.AddMaster != nil {
			cert, _ := pki.ParseCert(certPEM)
			if resp.Member, err = j.cfg.AddMaster(ctx, req, cert); err != nil {
				j.refund(ti.ID)
				j.log.Warn("master join failed", "hostname", req.Hostname, "token_id", ti.ID, "err", err)
				writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("add master: %v", err))
				return
			}
		}
		b := j.cfg.Authority.Bundle()
		resp.Master = &b
	}
	resp.Masters = j.cfg.Masters(ctx)
	j.log.Info("node joined", "hostname", req.Hostname, "role", req.Role, "token_id", ti.ID, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, resp)
}

// refuse answers a token that was not accepted: 403 with a message that
// says why and its reason code; 503 when etcd could not be asked.
func (j *Join) refuse(w http.ResponseWriter, r *http.Request, req pki.JoinRequest, err error) {
	reason := pki.Reason(err)
	if reason == "" {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	j.log.Warn("join refused", "hostname", req.Hostname, "role", req.Role, "reason", reason, "remote", r.RemoteAddr)
	code := http.StatusForbidden
	if reason == "malformed" {
		code = http.StatusBadRequest
	}
	writeJSON(w, code, pki.ErrorBody{Message: err.Error(), Reason: reason})
}

func (j *Join) refund(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := j.cfg.Tokens.Refund(ctx, id); err != nil {
		j.log.Warn("token use not refunded", "token_id", id, "err", err)
	}
}

func (j *Join) handleRenew(w http.ResponseWriter, r *http.Request) {
	peer, _ := pki.PeerOf(r) // RequireNode passed
	var req pki.RenewRequest
	if !readJSON(w, r, &req) {
		return
	}
	sr := pki.SignRequestFor(peer.Cert)
	if sr.TTL > j.cfg.NodeTTL && !peer.Has(pki.RoleAdmin) {
		sr.TTL = j.cfg.NodeTTL
	}
	certPEM, err := j.cfg.Authority.Sign([]byte(req.CSR), sr)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	j.log.Info("certificate renewed", "hostname", peer.Name, "roles", peer.Roles)
	writeJSON(w, http.StatusOK, pki.RenewResponse{Certificate: string(certPEM)})
}

// TokenCreateRequest is the body of POST /master/tokens.
type TokenCreateRequest struct {
	Role        string `json:"role"`
	TTL         string `json:"ttl"` // Go duration; "" or "0": never expires
	Uses        int    `json:"uses"`
	Description string `json:"description,omitempty"`
}

// TokenCreateResponse answers a token creation.
type TokenCreateResponse struct {
	Token       string        `json:"token"`
	Info        pki.TokenInfo `json:"info"`
	URL         string        `json:"url"`
	JoinCommand string        `json:"join_command"`
}

// JoinCommand is the ready-to-paste command that joins a node of role.
func JoinCommand(role, url, token string) string {
	return fmt.Sprintf("nodectl up --role=%s --join %s --token %s", role, url, token)
}

func (j *Join) handleTokenCreate(w http.ResponseWriter, r *http.Request) {
	var req TokenCreateRequest
	if !readJSON(w, r, &req) {
		return
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("ttl %q: want a duration such as 24h (0: never expires)", req.TTL))
			return
		}
		ttl = d
	}
	if req.Uses < 0 {
		writeError(w, http.StatusBadRequest, "uses must not be negative (0: unlimited)")
		return
	}
	if req.Role != pki.RoleAgent && req.Role != pki.RoleMaster {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("role %q: want agent or master", req.Role))
		return
	}
	by := requester(r)
	desc := req.Description
	if desc == "" {
		desc = "created by " + by
	}
	tok, info, err := j.cfg.Tokens.Create(r.Context(), pki.TokenSpec{Role: req.Role, TTL: ttl, Uses: req.Uses, Description: desc})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	j.log.Info("join token created", "token_id", info.ID, "role", info.Role, "by", by)
	writeJSON(w, http.StatusOK, TokenCreateResponse{Token: tok.String(), Info: info, URL: j.cfg.URL, JoinCommand: JoinCommand(req.Role, j.cfg.URL, tok.String())})
}

func (j *Join) handleTokenList(w http.ResponseWriter, r *http.Request) {
	list, err := j.cfg.Tokens.List(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Tokens []pki.TokenInfo `json:"tokens"`
	}{list})
}

func (j *Join) handleTokenRevoke(w http.ResponseWriter, r *http.Request) {
	info, err := j.cfg.Tokens.Revoke(r.Context(), r.PathValue("id"))
	if errors.Is(err, pki.ErrTokenUnknown) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	j.log.Info("join token revoked", "token_id", info.ID, "by", requester(r))
	writeJSON(w, http.StatusOK, info)
}

// requester names who asked: the router's principal (a certificate, HTTP
// Basic or a UI session), else the client certificate.
func requester(r *http.Request) string {
	if p, ok := auth.From(r.Context()); ok && p.Name != "" {
		return p.Name
	}
	peer, _ := pki.PeerOf(r)
	return peer.Name
}

// CreateJoinCommands makes one agent token and one master token (unlimited
// uses, valid for ttl) and returns the commands that join with them, for
// the first master to print at bootstrap.
func CreateJoinCommands(ctx context.Context, t *pki.Tokens, url string, ttl time.Duration) (agent, master string, err error) {
	for _, role := range []string{pki.RoleAgent, pki.RoleMaster} {
		tok, _, err := t.Create(ctx, pki.TokenSpec{Role: role, TTL: ttl, Description: "printed at bootstrap"})
		if err != nil {
			return "", "", err
		}
		if role == pki.RoleAgent {
			agent = JoinCommand(role, url, tok.String())
		} else {
			master = JoinCommand(role, url, tok.String())
		}
	}
	return agent, master, nil
}
