package node

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster"
	"nodectl/cluster/auth"
	"nodectl/cluster/pki"
	"nodectl/ui"
)

// AdminSecretName is the file in a master's work dir holding the secret of
// the admin principal the first master creates (0600; docs/security.md).
const AdminSecretName = "admin.secret"

// AdminPrincipal is the superuser the first master creates.
const AdminPrincipal = "admin"

// authConfig parses the authentication and authorization flags: errors
// are configuration errors (exit 2), naming the flag.
func (cfg Config) authConfig(cli *clientv3.Client, log *slog.Logger) (auth.Config, error) {
	ac := auth.Config{RootSubmissions: !cfg.NoRootSubmissions, Logger: log, Open: map[auth.Realm]bool{}}
	var err error
	if ac.Credentials, err = auth.ParseCredentials(cfg.Credentials); err != nil {
		return ac, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if cfg.Credentials != "" {
		if p := credentialsPath(cfg.Credentials); p != "" {
			if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o077 != 0 {
				log.Warn("the --credentials file is readable by others; make it 0600", "path", p)
			}
		}
	}
	if ac.ACLs, err = auth.ParseACLs(cfg.ACLs); err != nil {
		return ac, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if ac.Firewall, err = auth.ParseFirewall(cfg.FirewallRules); err != nil {
		return ac, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if ac.RateLimits, err = auth.ParseRateLimits(cfg.RateLimits); err != nil {
		return ac, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	ac.Open[auth.RealmReadonly] = cfg.AnonymousReadonly
	ac.Open[auth.RealmReadwrite] = cfg.AnonymousReadwrite
	ac.Open[auth.RealmScheduler] = cfg.AnonymousFrameworks
	for realm, open := range ac.Open {
		if open {
			log.Warn("authentication is off for a realm: anyone who reaches the master port may use it", "realm", realm)
		}
	}
	ac.Users = auth.NewUsers(cli)
	ac.Sessions = auth.NewSessions(cli, 0)
	return ac, nil
}

// credentialsPath is the file a --credentials value names ("" for inline JSON).
func credentialsPath(flag string) string {
	if p, ok := cutFileURL(flag); ok {
		return p
	}
	return ""
}

func cutFileURL(flag string) (string, bool) {
	if len(flag) > 7 && flag[:7] == "file://" {
		return flag[7:], true
	}
	if len(flag) > 0 && flag[0] == '/' {
		return flag, true
	}
	return "", false
}

// ensureAdmin creates the admin superuser on a new cluster and writes its
// secret, once, into the work dir (0600). A master joining an existing
// cluster finds the user there and writes nothing.
func ensureAdmin(ctx context.Context, cfg Config, users *auth.Users, ahead func() (adminCredential, error), redact func(...string), log *slog.Logger) error {
	exists, err := users.Exists(ctx, AdminPrincipal)
	if err != nil {
		return fmt.Errorf("admin user: %w", err)
	}
	if exists {
		return nil
	}
	if ahead == nil {
		ahead = newAdminCredential
	}
	cred, err := ahead()
	if err != nil {
		return fmt.Errorf("admin user: %w", err)
	}
	secret := cred.secret
	redact(secret)
	path := filepath.Join(cfg.WorkDir, AdminSecretName)
	if err := users.AddHashed(ctx, auth.User{Principal: AdminPrincipal, Superuser: true, Hash: cred.hash}); err != nil {
		if errors.Is(err, auth.ErrUserExists) {
			return nil // another master won the race
		}
		return fmt.Errorf("admin user: %w", err)
	}
	if err := writeSecretFile(path, []byte(secret+"\n")); err != nil {
		return fmt.Errorf("admin secret: %w", err)
	}
	log.Info("created the admin principal; its secret is in "+path+" (shown once: keep it, then delete the file)", "principal", AdminPrincipal)
	return nil
}

// adminCredential is the admin principal's secret and its hash.
type adminCredential struct{ secret, hash string }

func newAdminCredential() (adminCredential, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return adminCredential{}, err
	}
	secret := base64.RawURLEncoding.EncodeToString(b)
	hash, err := auth.HashSecret(secret)
	if err != nil {
		return adminCredential{}, err
	}
	return adminCredential{secret: secret, hash: hash}, nil
}

// aheadOf starts f now and returns the wait for its result.
func aheadOf[T any](f func() (T, error)) func() (T, error) {
	var v T
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		v, err = f()
	}()
	return func() (T, error) {
		<-done
		return v, err
	}
}

// masterRouter is the master port's one router: every route of the
// master, the apps API, the join protocol, the files API, the auth API and
// the UI, each with its permission (docs/security.md).
func masterRouter(g *auth.Guard, r *masterRole, join *cluster.Join, masterLog string, id *pki.Identity, log *slog.Logger) *auth.Router {
	rt := g.NewRouter()
	rt.Add(join.Routes()...)
	rt.Add(r.apps.Routes()...)
	rt.Add(r.secret.Routes()...)
	rt.Add(g.Routes()...)
	// The UI's page and assets are public (they hold no data); everything
	// they show comes from the API, which needs a principal.
	uiHandler := ui.Handler()
	rt.Handle("GET /{$}", auth.Public, uiHandler)
	rt.Handle("GET /ui/", auth.Public, uiHandler)
	// UI API calls under /ui/api/ are served by the router again as the
	// inner path (its permission checked there); a standby forwards
	// leader-only ones to the leader over HTTPS with the browser's own
	// credentials only (ui/proxy.go).
	api := ui.APIHandler(rt, ui.APIConfig{Logger: log, RootCAs: id.Pool()})
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		rt.Handle(m+" "+ui.APIPrefix+"/", auth.Self, api)
	}
	rt.Add(r.master.FilesRoutes(masterLog)...)
	rt.Add(r.master.ExecRoutes()...)
	rt.Add(r.master.Routes()...)
	rt.Add(r.upgrader.routes()...) // node_upgrade.go
	rt.HandleTable()
	return rt
}

var _ http.Handler = (*auth.Router)(nil)
