package pki

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"
)

// PrepareConfig is what `nodectl up` knows when it sets up a node's PKI.
type PrepareConfig struct {
	Paths    Paths
	Role     string // master, agent or all
	Hostname string
	IPs      []net.IP // NodeIPs(bind, advertise)
	// JoinURL and Token join an existing cluster; both empty on the first
	// master. They are ignored once the node has a valid certificate.
	JoinURL, Token string
}

// Setup is a node's PKI, ready for TLS configs.
type Setup struct {
	Identity  *Identity
	Authority *Authority // masters (role master or all)
	// Created is true when this call created the cluster CA (first master,
	// first start): print join commands.
	Created bool
	// Joined is true when this call joined with the token; Masters and
	// Member are what the master answered.
	Joined  bool
	Masters []string
	Member  json.RawMessage
}

// ErrNeedToken is returned when a node without a (valid) certificate has
// no token to join with.
var ErrNeedToken = errors.New("this node has no certificate of the cluster: start it with --join URL --token TOKEN")

// Prepare sets up a node's PKI for the three ways `nodectl up` starts:
//
//   - a node that has joined before (certificate in Paths): load it; a
//     master re-issues its own certificate if its addresses changed;
//   - a first master (no --join): create the CA and the master certificate
//     (InitMaster), or load them on restart;
//   - a new node with --join and --token: Join.
//
// An agent whose certificate expired while it was down needs a token again.
func Prepare(ctx context.Context, cfg PrepareConfig) (*Setup, error) {
	roles, err := RolesFor(cfg.Role)
	if err != nil {
		return nil, err
	}
	req := SignRequest{Name: cfg.Hostname, Roles: roles, IPs: cfg.IPs, DNS: []string{"localhost"}}
	isMaster := roles[0] == RoleMaster
	if HasIdentity(cfg.Paths) {
		id, err := LoadIdentity(cfg.Paths)
		if err != nil {
			return nil, err
		}
		if !slices.Equal(id.Roles(), roles) {
			return nil, fmt.Errorf("this node joined with roles %v, not %v: wipe %s to join anew", id.Roles(), roles, cfg.Paths.Dir)
		}
		if !isMaster {
			if time.Now().Before(id.Cert().NotAfter) {
				return &Setup{Identity: id}, nil
			}
			if cfg.Token == "" {
				return nil, fmt.Errorf("certificate expired at %s: %w", id.Cert().NotAfter.UTC().Format(time.RFC3339), ErrNeedToken)
			}
			return prepareJoin(ctx, cfg)
		}
		a, id, _, err := InitMaster(cfg.Paths, req) // loads; re-issues if addresses changed or expired
		if err != nil {
			return nil, err
		}
		return &Setup{Identity: id, Authority: a}, nil
	}
	if cfg.JoinURL != "" || cfg.Token != "" {
		if cfg.JoinURL == "" || cfg.Token == "" {
			return nil, errors.New("--join and --token go together")
		}
		return prepareJoin(ctx, cfg)
	}
	if !isMaster {
		return nil, ErrNeedToken
	}
	a, id, created, err := InitMaster(cfg.Paths, req)
	if err != nil {
		return nil, err
	}
	return &Setup{Identity: id, Authority: a, Created: created}, nil
}

func prepareJoin(ctx context.Context, cfg PrepareConfig) (*Setup, error) {
	res, err := Join(ctx, JoinConfig{URL: cfg.JoinURL, Token: cfg.Token, Paths: cfg.Paths, Role: cfg.Role, Hostname: cfg.Hostname, IPs: cfg.IPs})
	if err != nil {
		return nil, err
	}
	return &Setup{Identity: res.Identity, Authority: res.Authority, Joined: true, Masters: res.Masters, Member: res.Member}, nil
}
