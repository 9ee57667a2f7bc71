package node

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
	"nodectl/node/appliance"
	"nodectl/node/internal/bundle"
)

// The node upgrade endpoint (docs/upgrade.md): POST /node/upgrade takes a
// signed update bundle. A plain or systemd install verifies a binary
// bundle with the keys of --update-key, checks that the new binary runs
// and reports the bundle's version, renames it over its own executable,
// stops as on SIGTERM (agent recovery keeps the tasks running) and
// re-executes itself with the same arguments and process id. The
// appliance installed on a disk does what `nodectl upgrade --image` does:
// the other slot, on trial, and a reboot.

// defaultUpdateKey is the trusted key of a plain install when
// --update-key is not given (the appliance's initramfs has it there too).
const defaultUpdateKey = "/etc/nodectl/update.pub"

// maxBundleBytes bounds a posted bundle (an appliance slot bundle is a
// kernel and an initramfs with images: large, but not unbounded).
const maxBundleBytes = 4 << 30

// newBinaryCheckTimeout bounds `NEW version`, the check that the new
// binary runs at all before it replaces the running one.
const newBinaryCheckTimeout = time.Minute

// updateKeyFlag is --update-key.
func updateKeyFlag() cli.Flag {
	return &cli.StringFlag{Name: "update-key", EnvVars: []string{envName("update-key")},
		Usage: "public key file (PEM, make binary-bundle's out/update.pub) that update bundles posted to POST /node/upgrade must be signed with (default: " + defaultUpdateKey + "; none: the node refuses upgrades)"}
}

// errUpgradeRestart is what Run returns when it stopped for an upgrade:
// the caller re-executes Exe.
type errUpgradeRestart struct{ Exe string }

func (e *errUpgradeRestart) Error() string { return "restarting into the upgraded binary " + e.Exe }

// reexecAfterUpgrade replaces the process with the upgraded binary, same
// arguments and environment; it returns only on failure.
func reexecAfterUpgrade(err error) error {
	var re *errUpgradeRestart
	if !errors.As(err, &re) {
		return err
	}
	if xerr := syscall.Exec(re.Exe, os.Args, os.Environ()); xerr != nil {
		return fmt.Errorf("re-execute %s after the upgrade: %w", re.Exe, xerr)
	}
	return nil
}

// nodeUpgrader serves /node/upgrade.
type nodeUpgrader struct {
	keyPath        string // --update-key
	status         api.NodeUpgrade
	restart        func(exe string) // ends Run with errUpgradeRestart
	log            *slog.Logger
	appliance      bool
	mu             sync.Mutex
	busy, finished bool
}

func newNodeUpgrader(cfg Config, restart func(string), log *slog.Logger) *nodeUpgrader {
	u := &nodeUpgrader{keyPath: cfg.UpdateKey, restart: restart, log: log, appliance: appliance.BootedSlot() != ""}
	if u.keyPath == "" {
		u.keyPath = defaultUpdateKey
	}
	u.status = api.NodeUpgrade{Version: api.Version, Role: cfg.Role, Mode: api.UpgradeBinary}
	if u.appliance {
		u.status.Mode = api.UpgradeAppliance
	}
	if cfg.runsMaster() {
		u.status.Master = cfg.advertised(cfg.Port)
	}
	if cfg.runsAgent() {
		u.status.Agent = cfg.advertised(cfg.AgentPort)
	}
	return u
}

// routes are the master port's; the agent port serves the same handler
// to the admin certificate only (Run).
func (u *nodeUpgrader) routes() []auth.Route {
	return []auth.Route{
		{Pattern: "GET " + api.PathNodeUpgrade, Perm: auth.UpgradeNodes, Handler: http.HandlerFunc(u.ServeHTTP)},
		{Pattern: "POST " + api.PathNodeUpgrade, Perm: auth.UpgradeNodes, Handler: http.HandlerFunc(u.ServeHTTP)},
	}
}

func (u *nodeUpgrader) trusted() bool {
	if u.appliance {
		_, err := os.Stat(defaultUpdateKey)
		return err == nil
	}
	b, err := os.ReadFile(u.keyPath)
	if err != nil {
		return false
	}
	keys, err := bundle.ParsePublicKeys(b)
	return err == nil && len(keys) > 0
}

func upgradeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func upgradeRefuse(w http.ResponseWriter, code int, msg string) {
	upgradeJSON(w, code, api.Error{Message: msg})
}

func (u *nodeUpgrader) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if u == nil {
		upgradeRefuse(w, http.StatusServiceUnavailable, "this node does not serve upgrades")
		return
	}
	st := u.status
	st.Trusted = u.trusted()
	if r.Method == http.MethodGet {
		upgradeJSON(w, http.StatusOK, st)
		return
	}
	u.mu.Lock()
	if u.busy || u.finished {
		u.mu.Unlock()
		upgradeRefuse(w, http.StatusConflict, "an upgrade of this node is already under way")
		return
	}
	u.busy = true
	u.mu.Unlock()
	restart := ""
	defer func() {
		u.mu.Lock()
		u.busy, u.finished = false, restart != ""
		u.mu.Unlock()
		if restart != "" {
			u.restart(restart)
		}
	}()
	if !st.Trusted {
		upgradeRefuse(w, http.StatusConflict, "no trusted update key on this node ("+u.keyPath+"; start it with --update-key): it refuses every bundle")
		return
	}
	body := http.MaxBytesReader(w, r.Body, maxBundleBytes)
	var (
		target string
		code   int
		err    error
	)
	if u.appliance {
		target, code, err = u.upgradeAppliance(r.Context(), body)
	} else {
		target, restart, code, err = u.upgradeBinary(r.Context(), body)
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			code = http.StatusRequestEntityTooLarge
		}
		u.log.Warn("node upgrade refused", "err", err)
		upgradeRefuse(w, code, "upgrade: "+err.Error())
		return
	}
	st.Target = target
	st.Restarting = target != api.Version
	if !st.Restarting {
		upgradeJSON(w, http.StatusOK, st)
		return
	}
	u.log.Info("node upgrade: restarting into the new version", "from", api.Version, "to", target, "mode", st.Mode)
	upgradeJSON(w, http.StatusAccepted, st)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	if u.appliance {
		go func() {
			if err := appliance.PowerOff(true); err != nil {
				u.log.Error("node upgrade: reboot", "err", err)
			}
		}()
	}
}

// upgradeBinary verifies a binary bundle into a directory beside the
// running executable (so the rename stays on one filesystem), checks the
// new binary and renames it over the old one. exe is the path to
// re-execute; "" when the bundle's version is the running one.
func (u *nodeUpgrader) upgradeBinary(ctx context.Context, body io.Reader) (target, exe string, code int, err error) {
	keys, err := readUpdateKeys(u.keyPath)
	if err != nil {
		return "", "", http.StatusConflict, err
	}
	self, err := os.Executable()
	if err != nil {
		return "", "", http.StatusInternalServerError, err
	}
	self = strings.TrimSuffix(self, " (deleted)")
	dir, err := os.MkdirTemp(filepath.Dir(self), ".nodectl-upgrade-")
	if err != nil {
		return "", "", http.StatusInternalServerError, err
	}
	defer os.RemoveAll(dir)
	m, err := bundle.ReadWith(body, keys, dir, bundle.Binary)
	if err != nil {
		return "", "", http.StatusBadRequest, err
	}
	if m.Version == api.Version {
		return m.Version, "", 0, nil
	}
	nb := filepath.Join(dir, bundle.Binary)
	if err := os.Chmod(nb, 0o755); err != nil {
		return "", "", http.StatusInternalServerError, err
	}
	cctx, cancel := context.WithTimeout(ctx, newBinaryCheckTimeout)
	defer cancel()
	out, err := exec.CommandContext(cctx, nb, "version").Output()
	if err != nil {
		return "", "", http.StatusBadRequest, fmt.Errorf("the new binary does not run here (%s version): %w", m.Version, err)
	}
	if !strings.HasPrefix(string(out), "nodectl "+m.Version+" ") {
		return "", "", http.StatusBadRequest, fmt.Errorf("the new binary reports %q, its bundle says version %s", strings.TrimSpace(string(out)), m.Version)
	}
	if err := os.Rename(nb, self); err != nil {
		return "", "", http.StatusInternalServerError, fmt.Errorf("replace %s: %w", self, err)
	}
	if d, err := os.Open(filepath.Dir(self)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return m.Version, self, 0, nil
}

// upgradeAppliance stores the bundle and hands it to appliance.Upgrade
// (which verifies it with the initramfs' key and writes the other slot);
// the caller reboots.
func (u *nodeUpgrader) upgradeAppliance(ctx context.Context, body io.Reader) (string, int, error) {
	f, err := os.CreateTemp("", "nodectl-upgrade-*.tar")
	if err != nil {
		return "", http.StatusInternalServerError, err
	}
	defer os.Remove(f.Name())
	_, err = io.Copy(f, body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", http.StatusBadRequest, err
	}
	pf, err := os.Open(f.Name())
	if err != nil {
		return "", http.StatusInternalServerError, err
	}
	m, err := bundle.Peek(pf)
	pf.Close()
	if err != nil {
		return "", http.StatusBadRequest, err
	}
	if m.Version == api.Version {
		return m.Version, 0, nil
	}
	_, version, err := appliance.Upgrade(ctx, f.Name(), 1)
	if err != nil {
		return "", http.StatusBadRequest, err
	}
	return version, 0, nil
}

func readUpdateKeys(path string) ([]ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("no trusted update key: %w", err)
	}
	return bundle.ParsePublicKeys(b)
}
