package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"nodectl/cluster"
	"nodectl/cluster/api"
	"nodectl/cluster/apps"
	"nodectl/cluster/auth"
	"nodectl/cluster/client"
	"nodectl/cluster/pki"
	"nodectl/cluster/secrets"
	"nodectl/embed"
)

// masterRole is what a master runs: its etcd member, a client of it, the
// master, the built-in apps framework and the API server.
type masterRole struct {
	upgrader *nodeUpgrader // serves /node/upgrade (nil: it answers 503)
	pki      *pki.Setup
	etcd     *embed.Server
	cli      *clientv3.Client
	master   *cluster.Master
	apps     *apps.Apps
	secret   *secrets.API
	srv      *http.Server
	ln       net.Listener
	guard    *auth.Guard
	users    *auth.Users // run beside the master: mirrors the users in etcd
}

// close releases what startMaster opened (on a failed start, or after Run).
func (r *masterRole) close() {
	if r.ln != nil {
		_ = r.ln.Close()
	}
	if r.cli != nil {
		_ = r.cli.Close()
		r.cli = nil
	}
	if r.etcd != nil {
		r.etcd.Close()
		r.etcd = nil
	}
}

// joinTimeout bounds one call of the join flow. Adding a learner may wait
// for an earlier joiner's promotion: hence the long timeout.
const joinTimeout = 90 * time.Second

func (cfg Config) pkiPaths() pki.Paths { return pki.Paths{Dir: filepath.Join(cfg.WorkDir, "pki")} }

// joinURL is --join as https://HOST:PORT (masters speak TLS; an http://
// URL is taken to mean the same master).
func (cfg Config) joinURL() string {
	u := strings.TrimSuffix(cfg.Join, "/")
	if rest, ok := strings.CutPrefix(u, "http://"); ok {
		u = "https://" + rest
	}
	return u
}

// authorizeMaster admits membership changes and snapshots only from a
// master or admin certificate of the cluster: a new master gets one with
// its join token first (POST /master/join); the CLI uses the admin
// credential in a master's work dir (client.yaml).
func authorizeMaster(r *http.Request) error {
	if err := pki.Authorize(r, pki.RoleMaster, pki.RoleAdmin); err != nil {
		return fmt.Errorf("%w (masters join with --join URL --token TOKEN; the CLI uses a master's client.yaml)", err)
	}
	return nil
}

// authorizeAgent admits the agent protocol (register, ping, stream,
// status updates) only from an agent certificate of the cluster.
func authorizeAgent(r *http.Request) error {
	if err := pki.Authorize(r, pki.RoleAgent); err != nil {
		return fmt.Errorf("%w (agents join with --join URL --token TOKEN)", err)
	}
	return nil
}

// etcdName is this master's etcd member name: unique per address, so
// masters on one host (tests, loopback addresses) do not clash.
func (cfg Config) etcdName() string {
	return fmt.Sprintf("%s-%s-%d", cfg.Hostname, cfg.AdvertiseIP, cfg.Port)
}

// startMaster starts the etcd member (new cluster, join, restart, or
// reset; docs/ha.md) and builds the master on it. Nothing runs yet
// but etcd; the caller serves r.srv on r.ln and runs the master.
//
// onPKI, if not nil, is called once the node's PKI is ready, before etcd
// starts: work that needs only the PKI (the agent of a --role=all node)
// can go on while etcd elects itself.
func startMaster(ctx context.Context, cfg Config, logs *logging, masterLog string, onPKI func(*pki.Setup)) (r *masterRole, err error) {
	log := logs.logger("master")
	r = &masterRole{upgrader: cfg.upgrader}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	// The cluster CA and this master's certificate: created on the first
	// master, got with the token on a join, loaded on a restart.
	r.pki, err = pki.Prepare(ctx, pki.PrepareConfig{
		Paths: cfg.pkiPaths(), Role: cfg.Role, Hostname: cfg.Hostname,
		IPs: pki.NodeIPs(cfg.IP, cfg.AdvertiseIP), JoinURL: cfg.joinURL(), Token: cfg.Token,
	})
	if err != nil {
		return r, fmt.Errorf("cluster PKI: %w", err)
	}
	id := r.pki.Identity
	if onPKI != nil {
		onPKI(r.pki)
	}
	// A new cluster gets an admin principal: its secret's hash (argon2id,
	// ~50 ms of CPU) is made while etcd elects itself.
	var admin func() (adminCredential, error)
	if r.pki.Created {
		admin = aheadOf(newAdminCredential)
	}
	if r.etcd, err = startEtcd(ctx, cfg, id, log); err != nil {
		return r, err
	}
	r.cli, err = clientv3.New(clientv3.Config{Endpoints: r.etcd.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop(), TLS: pki.ClientTLS(id, pki.RoleMaster)})
	if err != nil {
		return r, fmt.Errorf("connect to etcd: %w", err)
	}
	ac, err := cfg.authConfig(r.cli, log)
	if err != nil {
		return r, err
	}
	logs.RedactValues(ac.Credentials.Secrets()...)
	r.users, r.guard = ac.Users, auth.New(ac)
	if err := reclaimOnStart(ctx, r.etcd.Space(), r.cli, cfg.MaxVersions, log); err != nil {
		return r, err
	}
	// Start-up writes retry etcd's "not now" (a leader election while a
	// master joins, a loaded machine): retryEtcd.
	if err := retryEtcd(ctx, log, "publish CA", func(ctx context.Context) error { return r.pki.Authority.Publish(ctx, r.cli) }); err != nil {
		return r, fmt.Errorf("publish the cluster CA: %w", err)
	}
	if cfg.Restore != "" {
		if err := retryEtcd(ctx, log, "restore keys", func(ctx context.Context) error { return restoreKeys(ctx, r.cli, cfg.Restore, log) }); err != nil {
			return r, err
		}
	}
	secretsAPI, resolveSecret, err := secretStore(r.cli, r.pki.Authority, r.guard, logs.RedactValues, log)
	if err != nil {
		return r, err
	}
	r.secret = secretsAPI
	r.master, err = cluster.New(cluster.Config{
		Etcd: r.cli, Secrets: resolveSecret, EtcdMember: cfg.etcdName(), Hostname: cfg.Hostname, IP: cfg.AdvertiseIP, Port: cfg.Port,
		AgentPingTimeout: cfg.AgentPingTimeout, MaxAgentPingTimeouts: cfg.MaxAgentPingTimeouts,
		AllocationInterval: cfg.AllocationInterval, OfferTimeout: cfg.OfferTimeout,
		AgentRemovalRateLimit: cfg.AgentRemovalRateLimit, AgentReregisterTimeout: cfg.AgentReregisterTimeout,
		RecoveryAgentRemovalLimit: cfg.RecoveryAgentRemovalLimit, LeaseTTL: cfg.LeaderLeaseTTL,
		Authorize: authorizeMaster, AuthorizeAgent: authorizeAgent, Guard: r.guard,
		AgentTransport: &http.Transport{TLSClientConfig: pki.ClientTLS(id, pki.RoleAgent), MaxIdleConnsPerHost: nodeIdleConns},
		Roles:          cfg.Roles.Master, Networks: cfg.ClusterNetworks, Flags: cfg.Flags, LogDir: cfg.LogDir, ExternalLogFile: cfg.ExternalLogFile, Logger: log,
	})
	if err != nil {
		return r, err
	}
	// The built-in Marathon-compatible apps framework (leader only).
	if r.apps, err = appsFramework(r.master, r.cli, log, cfg.AppsRole, cfg.TaskReservationTimeout, cfg.MaxVersions, r.guard, cfg.AppsUser, maintenanceMode(cfg)); err != nil {
		return r, err
	}
	advertised := "https://" + cfg.advertised(cfg.Port)
	tokens := pki.NewTokens(r.cli, r.pki.Authority.Hash()).NotifySecrets(logs.RedactValues)
	join, err := cluster.NewJoin(cluster.JoinConfig{
		Authority: r.pki.Authority, Tokens: tokens, URL: advertised, Masters: r.master.MasterAddrs, Logger: log,
	})
	if err != nil {
		return r, err
	}
	if _, err := pki.SetupAdmin(cfg.WorkDir, advertised, r.pki.Authority, cfg.pkiPaths()); err != nil {
		return r, fmt.Errorf("admin credential: %w", err)
	}
	if err := ensureAdmin(ctx, cfg, r.users, admin, logs.RedactValues, log); err != nil {
		return r, err
	}
	if r.pki.Created {
		// Retried whole: a failed try wrote nothing (the file is written
		// after both tokens exist).
		err := retryEtcd(ctx, log, "bootstrap tokens", func(ctx context.Context) error {
			return announceBootstrap(ctx, cfg, tokens, advertised, logs, log)
		})
		if err != nil {
			return r, err
		}
	}
	router := masterRouter(r.guard, r, join, masterLog, id, log)
	r.srv, r.ln, err = listen(cfg.bindAddr(cfg.Port), router, log, cfg.MaxConnections)
	if err != nil {
		return r, fmt.Errorf("master API: %w", err)
	}
	// TLS only: Go's server answers a plain request with 400 "Client sent
	// an HTTP request to an HTTPS server".
	// Agents speak HTTP/2 to it (one connection each), everyone else
	// HTTP/1.1: pki.NodeProto.
	// Handshakes run through a gate, a bounded number at once
	// (handshakegate.go): a new leader's agents all reconnect together.
	r.ln = newHandshakeGate(r.ln, pki.WithNodeHTTP2(pki.ServerTLS(id)), handshakeSlots, defaultServerLimits.ReadHeader)
	return r, nil
}

// etcdDir is the member's data dir; it holds "member" once started.
func (cfg Config) etcdDir() string { return filepath.Join(cfg.WorkDir, "etcd") }

func hasEtcdData(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "member"))
	return err == nil
}

// ErrRemovedMaster: this master was removed from the quorum.
var ErrRemovedMaster = errors.New("this master was removed from the cluster: its etcd data is refused; restart with --wipe-removed --join URL --token T to wipe it and join again")

// startEtcd starts the member in the one way that fits the flags and the
// data dir:
//
//	--cluster-reset [--restore F]  one-member cluster from this data (or a fresh one to restore F into)
//	data dir present               restart as a member (a removed one is refused: --wipe-removed)
//	--join URL                     add as a learner through URL, start, get promoted
//	neither                        a new cluster of one
func startEtcd(ctx context.Context, cfg Config, id *pki.Identity, log *slog.Logger) (*embed.Server, error) {
	listenHost := cfg.IP
	if listenHost == "" {
		listenHost = "0.0.0.0"
	}
	et := id.EtcdTLS()
	ec := embed.Config{
		Name:              cfg.etcdName(),
		Dir:               cfg.etcdDir(),
		ClientURL:         "https://" + cfg.advertised(cfg.EtcdPort),
		PeerURL:           "https://" + cfg.advertised(cfg.EtcdPeerPort),
		ListenClientURL:   "https://" + net.JoinHostPort(listenHost, strconv.Itoa(cfg.EtcdPort)),
		ListenPeerURL:     "https://" + net.JoinHostPort(listenHost, strconv.Itoa(cfg.EtcdPeerPort)),
		TLS:               &embed.TLS{CertFile: et.CertFile, KeyFile: et.KeyFile, TrustedCAFile: et.TrustedCAFile, AllowedCNs: et.AllowedCNs},
		HeartbeatInterval: cfg.EtcdHeartbeatInterval,
		ElectionTimeout:   cfg.EtcdElectionTimeout,
		Logger:            log,
		QuotaBackendBytes: cfg.EtcdQuotaBackendBytes, CompactionRetention: cfg.EtcdCompactionRetention,
	}
	start := func(ec embed.Config) (*embed.Server, error) {
		s, err := embed.New(ec)
		if err != nil {
			return nil, err
		}
		if err := s.Start(ctx); err != nil {
			return nil, err
		}
		return s, nil
	}
	switch {
	case cfg.ClusterReset && cfg.Restore != "":
		info, err := embed.VerifySnapshot(cfg.Restore)
		if err != nil {
			return nil, fmt.Errorf("--restore: %w", err)
		}
		if err := moveAside(ec.Dir, "pre-restore", log); err != nil {
			return nil, err
		}
		log.Warn("restoring from a snapshot into a new one-member cluster", "snapshot", cfg.Restore, "keys", info.Keys, "revision", info.Revision)
		return start(ec)
	case cfg.ClusterReset:
		if !hasEtcdData(ec.Dir) {
			return nil, fmt.Errorf("--cluster-reset: no etcd data in %s (use --restore FILE)", ec.Dir)
		}
		ec.ForceNewCluster = true
		log.Warn("cluster reset: restarting this member's data as a one-member cluster; other masters must join again (--wipe-removed --join)")
		return start(ec)
	case hasEtcdData(ec.Dir):
		s, err := start(ec)
		if !errors.Is(err, embed.ErrStopped) {
			return s, err
		}
		if !cfg.WipeRemoved {
			return nil, fmt.Errorf("%w (%w)", ErrRemovedMaster, err)
		}
		log.Warn("this master was removed from the cluster; wiping its etcd data and joining again", "join", cfg.Join)
		if err := moveAside(ec.Dir, "removed", log); err != nil {
			return nil, err
		}
		return joinEtcd(ctx, cfg, id, ec, start, log)
	case cfg.Join != "":
		return joinEtcd(ctx, cfg, id, ec, start, log)
	default:
		return start(ec)
	}
}

// moveAside renames an etcd data dir instead of deleting it: an operator
// may still want it.
func moveAside(dir, why string, log *slog.Logger) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	to := fmt.Sprintf("%s.%s-%s", dir, why, time.Now().UTC().Format("20060102T150405"))
	if err := os.Rename(dir, to); err != nil {
		return fmt.Errorf("move etcd data aside: %w", err)
	}
	log.Info("moved etcd data aside", "from", dir, "to", to)
	return nil
}

// joinEtcd asks the master at cfg.Join to add this member as a learner,
// starts it, and asks for its promotion to a voter.
func joinEtcd(ctx context.Context, cfg Config, id *pki.Identity, ec embed.Config, start func(embed.Config) (*embed.Server, error), log *slog.Logger) (*embed.Server, error) {
	base := cfg.joinURL()
	jc, err := client.New(client.Config{Server: base, TLS: pki.ClientTLS(id, pki.RoleMaster), Timeout: joinTimeout})
	if err != nil {
		return nil, fmt.Errorf("join through %s: %w", cfg.Join, err)
	}
	defer jc.CloseIdleConnections()
	var jr api.JoinResponse
	req := api.JoinRequest{Name: ec.Name, PeerURLs: []string{ec.PeerURL}, ClientURLs: []string{ec.ClientURL}}
	if err := jc.Post(ctx, api.PathMembers, req, &jr); err != nil {
		return nil, fmt.Errorf("join through %s: %w", cfg.Join, err)
	}
	log.Info("added as etcd learner; starting", "member_id", jr.MemberID, "initial_cluster", jr.InitialCluster)
	ec.Existing, ec.InitialCluster = true, jr.InitialCluster
	ec.ReadyTimeout = 2 * time.Minute
	s, err := start(ec)
	if err != nil {
		return nil, err
	}
	promote := func(ctx context.Context) error {
		return jc.Post(ctx, api.PathMembers+"/"+jr.MemberID+"/promote", nil, nil)
	}
	if err := retryEtcd(ctx, log, "promote", promote); err != nil {
		s.Close()
		return nil, fmt.Errorf("promote through %s: %w", cfg.Join, err)
	}
	// The promotion is committed; wait until this member has applied it,
	// or its client port still refuses requests as a learner's.
	deadline := time.Now().Add(30 * time.Second)
	for s.IsLearner() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.Close()
			return nil, errors.New("promoted, but this member did not apply its promotion within 30s")
		}
		time.Sleep(20 * time.Millisecond) // polling the member's own view
	}
	log.Info("promoted to voting member", "member_id", jr.MemberID)
	return s, nil
}

// restoreKeys loads a snapshot's keys into the fresh cluster cli talks
// to. Leased keys (election entries, presence) are dropped: their sessions
// are gone.
func restoreKeys(ctx context.Context, cli *clientv3.Client, path string, log *slog.Logger) error {
	kvs, err := embed.ReadSnapshot(path)
	if err != nil {
		return fmt.Errorf("--restore: %w", err)
	}
	var ops []clientv3.Op
	n := 0
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			return fmt.Errorf("restore keys: %w", err)
		}
		ops = ops[:0]
		return nil
	}
	for _, kv := range kvs {
		if kv.Leased {
			continue
		}
		ops = append(ops, clientv3.OpPut(string(kv.Key), string(kv.Value)))
		n++
		if len(ops) == 100 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	log.Warn("restored keys from snapshot", "snapshot", path, "keys", n)
	return nil
}
