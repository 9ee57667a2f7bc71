package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// `nodectl install --systemd`: the non-appliance install (issue 21 point
// 5, docs/install.md). The binary goes to --bin-dir, a systemd unit that
// runs `nodectl up` to --unit-dir, secret up flags (the join token) to a
// 0600 environment file the unit reads, never into the unit itself.

// systemdRunDir exists when PID 1 is systemd (sd_booted(3) checks it);
// tests point it elsewhere.
var systemdRunDir = "/run/systemd/system"

// systemdFlags are install's flags for --systemd.
func systemdFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "systemd", Usage: "install on this Linux host as a systemd service instead (up flags after --; docs/install.md)"},
		&cli.StringFlag{Name: "role", Value: "all", Usage: "--systemd: the node's role: master, agent or all"},
		&cli.StringFlag{Name: "work-dir", Value: "/var/lib/nodectl", Usage: "--systemd: the node's work dir"},
		&cli.StringFlag{Name: "bin-dir", Value: "/usr/local/bin", Usage: "--systemd: where this binary is copied (as nodectl)"},
		&cli.StringFlag{Name: "unit-dir", Value: "/etc/systemd/system", Usage: "--systemd: where nodectl.service is written"},
		&cli.StringFlag{Name: "env-file", Value: "/etc/nodectl/nodectl.env", Usage: "--systemd: environment file (mode 0600) for secret up flags such as --token"},
		&cli.BoolFlag{Name: "no-start", Usage: "--systemd: write the files only; no systemctl daemon-reload, enable, restart"},
	}
}

// unitSpec is what the unit file is rendered from.
type unitSpec struct {
	Bin     string   // absolute path of the installed binary
	Role    string   // master, agent or all
	WorkDir string   // absolute
	Args    []string // further up flags, secrets removed
	EnvFile string   // absolute; referenced optionally (EnvironmentFile=-)
}

// renderUnit is the systemd unit of a node. The choices (docs/install.md):
// KillMode=process so that stopping or restarting the service ends only
// nodectl, never the tasks' containers and their monitors, which agent
// recovery reattaches; Delegate=yes since nodectl manages cgroups; no
// ProtectSystem/PrivateTmp/NoNewPrivileges-style sandboxing, which
// containers (runc mounts, setuid binaries in tasks, host paths) would
// inherit or trip over.
func renderUnit(s unitSpec) string {
	exec := []string{s.Bin, "up", "--role=" + s.Role, "--work-dir=" + s.WorkDir}
	exec = append(exec, s.Args...)
	q := make([]string, len(exec))
	for i, a := range exec {
		q[i] = systemdQuote(a)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# Written by nodectl install --systemd (docs/install.md); run it again to change
# the node's flags. Secret flags live in %s, not here.
[Unit]
Description=nodectl node (role %s)
Documentation=man:nodectl(1) https://mesos.apache.org/documentation/latest/agent-recovery/
Wants=network-online.target
After=network-online.target
StartLimitIntervalSec=0

[Service]
Type=simple
EnvironmentFile=-%s
ExecStart=%s
Restart=always
RestartSec=5s
# Only nodectl is stopped: tasks keep running and are reattached by the
# next start (agent recovery), e.g. after an upgrade of the binary.
KillMode=process
KillSignal=SIGTERM
TimeoutStopSec=90s
Delegate=yes
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
OOMScoreAdjust=-500

[Install]
WantedBy=multi-user.target
`, s.EnvFile, s.Role, systemdQuote(s.EnvFile), strings.Join(q, " "))
	return b.String()
}

// systemdQuote is one word of an ExecStart= line: as is when plain, else
// double-quoted with C escapes; % and $ doubled so systemd neither
// expands specifiers nor environment variables in it (systemd.service(5),
// "Command lines").
func systemdQuote(s string) string {
	plain := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@+", r)) {
			plain = false
			break
		}
	}
	if !plain {
		s = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	return strings.NewReplacer("%", "%%", "$", "$$").Replace(s)
}

// splitSecretArgs takes the values of secret up flags (secretFlags: the
// join token) out of args, any spelling (--token X, --token=X, -token X,
// Mesos aliases), as environment variables for the env file.
func splitSecretArgs(args []string) (plain []string, env map[string]string) {
	secret := map[string]string{} // flag name or alias → env var
	for _, f := range upFlags() {
		if secretFlags[f.Names()[0]] {
			for _, n := range f.Names() {
				secret[n] = envName(f.Names()[0])
			}
		}
	}
	env = map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if name == a || a == "--" {
			plain = append(plain, a)
			continue
		}
		n, v, hasValue := strings.Cut(name, "=")
		ev, ok := secret[n]
		switch {
		case !ok:
			plain = append(plain, a)
		case hasValue:
			env[ev] = v
		case i+1 < len(args):
			env[ev] = args[i+1]
			i++
		default:
			plain = append(plain, a) // no value: up's own check refuses it
		}
	}
	return plain, env
}

// checkUpArgs runs `up`'s flag parsing and configuration checks on the
// unit's command line without starting anything.
func checkUpArgs(args []string) error {
	var errOut bytes.Buffer
	app := newApp(io.Discard, &errOut, func(context.Context, Config, io.Writer) error { return nil })
	err := app.Run(append([]string{"nodectl", "up"}, args...))
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return errors.New(ee.Msg)
	}
	return errors.New(oneLine(err.Error()))
}

// systemdInstall is `nodectl install --systemd`.
func systemdInstall(c *cli.Context) error {
	for _, f := range []string{"disk", "image", "keep-args"} {
		if c.IsSet(f) {
			return exitErr(2, "install: --systemd cannot be combined with --"+f+" (that installs the appliance to a disk)")
		}
	}
	role := c.String("role")
	if role != "master" && role != "agent" && role != "all" {
		return exitErr(2, fmt.Sprintf("install: --role %q: want master, agent or all", role))
	}
	abs := func(flag string) (string, error) {
		v := c.String(flag)
		if v == "" {
			return "", exitErr(2, "install: --"+flag+" is empty")
		}
		p, err := filepath.Abs(v)
		if err != nil {
			return "", exitErr(2, "install: --"+flag+": "+err.Error())
		}
		return p, nil
	}
	var dirs [4]string
	for i, f := range []string{"work-dir", "bin-dir", "unit-dir", "env-file"} {
		p, err := abs(f)
		if err != nil {
			return err
		}
		dirs[i] = p
	}
	workDir, binDir, unitDir, envFile := dirs[0], dirs[1], dirs[2], dirs[3]
	rest := c.Args().Slice()
	if len(rest) > 0 && rest[0] == "--" {
		rest = rest[1:]
	}
	for _, a := range rest {
		n, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && (n == "role" || n == "work-dir" || n == "work_dir") {
			return exitErr(2, "install: give --"+n+" to install itself, before --")
		}
		if strings.ContainsAny(a, "\n\r\x00") {
			return exitErr(2, fmt.Sprintf("install: up argument %q has a line break or NUL", a))
		}
	}
	plain, env := splitSecretArgs(rest)
	for k, v := range env {
		if v == "" || strings.ContainsAny(v, "\n\r\x00\"\\$`") {
			return exitErr(2, "install: the value of "+k+" is empty or has characters an environment file cannot hold")
		}
	}
	upArgs := append([]string{"--role=" + role, "--work-dir=" + workDir}, rest...)
	if err := checkUpArgs(upArgs); err != nil {
		return exitErr(2, "install: up flags: "+err.Error())
	}
	start := !c.Bool("no-start")
	if start {
		if st, err := os.Stat(systemdRunDir); err != nil || !st.IsDir() {
			return exitErr(2, "install: this system was not booted with systemd (no "+systemdRunDir+"); --no-start writes the files only")
		}
		if _, err := exec.LookPath("systemctl"); err != nil {
			return exitErr(2, "install: systemctl not found; --no-start writes the files only")
		}
	}

	bin := filepath.Join(binDir, "nodectl")
	if err := copySelf(bin); err != nil {
		return exitErr(1, "install: "+err.Error())
	}
	if len(env) > 0 {
		if err := writeEnvFile(envFile, env); err != nil {
			return exitErr(1, "install: "+err.Error())
		}
	}
	unit := filepath.Join(unitDir, "nodectl.service")
	if err := writeFileAtomic(unit, []byte(renderUnit(unitSpec{Bin: bin, Role: role, WorkDir: workDir, Args: plain, EnvFile: envFile})), 0o644); err != nil {
		return exitErr(1, "install: "+err.Error())
	}
	fmt.Fprintf(c.App.Writer, "installed %s and %s\n", bin, unit)
	if !start {
		return nil
	}
	for _, args := range [][]string{{"daemon-reload"}, {"enable", "nodectl.service"}, {"restart", "nodectl.service"}} {
		out, err := exec.Command("systemctl", args...).CombinedOutput()
		if err != nil {
			return exitErr(1, fmt.Sprintf("install: systemctl %s: %v: %s", strings.Join(args, " "), err, oneLine(string(out))))
		}
	}
	fmt.Fprintln(c.App.Writer, "nodectl.service enabled and started (journalctl -u nodectl -f)")
	return nil
}

// copySelf copies the running binary to dst (a temporary name, synced,
// renamed: a running nodectl at dst keeps its old file), unless it is dst.
func copySelf(dst string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("locate this binary: %w", err)
	}
	if a, err := os.Stat(self); err == nil {
		if b, err := os.Stat(dst); err == nil && os.SameFile(a, b) {
			return nil
		}
	}
	src, err := os.Open(self)
	if err != nil {
		return fmt.Errorf("open this binary: %w", err)
	}
	defer src.Close()
	b, err := io.ReadAll(src)
	if err != nil {
		return fmt.Errorf("read this binary: %w", err)
	}
	return writeFileAtomic(dst, b, 0o755)
}

// writeEnvFile writes env (NAME="value" lines) to path with mode 0600,
// replacing it; other lines an operator added are kept.
func writeEnvFile(path string, env map[string]string) error {
	var lines []string
	if old, err := os.ReadFile(path); err == nil {
		for _, l := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
			k, _, _ := strings.Cut(l, "=")
			if _, replaced := env[strings.TrimSpace(k)]; l != "" && !replaced {
				lines = append(lines, l)
			}
		}
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		lines = append(lines, k+`="`+env[k]+`"`)
	}
	return writeFileAtomic(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}

// writeFileAtomic writes path through a temporary file in its directory
// (created 0755 if missing), synced and renamed over it, with mode perm.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
