package node

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
)

// parse runs `nodectl up args...` with env and returns the Config the node
// would have run with, or the error Main would print.
func parse(t *testing.T, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "NODECTL_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	var got Config
	var out bytes.Buffer
	cliMu.Lock() // urfave/cli's shared flags: one in-process command line at a time
	defer cliMu.Unlock()
	app := newApp(&out, &out, func(_ context.Context, cfg Config, _ io.Writer) error { got = cfg; return nil })
	err := app.Run(append([]string{"nodectl", "up"}, args...))
	return got, err
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "nodectl.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, "port: 6001\nwork-dir: /from/file\nlogging_level: ERROR\nagent-ping-timeout: 3secs\nmaster: [10.0.0.1:5050, 10.0.0.2:5050]\n")
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantPort int
		wantDir  string
	}{
		{"defaults", nil, nil, 5050, "/var/lib/nodectl"},
		{"file over default", nil, []string{"--config", file}, 6001, "/from/file"},
		{"env over file", map[string]string{"NODECTL_PORT": "6002"}, []string{"--config", file}, 6002, "/from/file"},
		{"flag over env", map[string]string{"NODECTL_PORT": "6002"}, []string{"--config", file, "--port", "6003"}, 6003, "/from/file"},
		{"config file from env", map[string]string{"NODECTL_CONFIG": file, "NODECTL_WORK_DIR": "/from/env"}, nil, 6001, "/from/env"},
		{"mesos alias on the command line", nil, []string{"--work_dir", "/from/alias"}, 5050, "/from/alias"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parse(t, tt.env, tt.args...)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if cfg.Port != tt.wantPort || cfg.WorkDir != tt.wantDir {
				t.Errorf("port=%d work-dir=%q, want %d %q", cfg.Port, cfg.WorkDir, tt.wantPort, tt.wantDir)
			}
		})
	}
	cfg, err := parse(t, nil, "--config", file)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LoggingLevel != "ERROR" || cfg.AgentPingTimeout != 3*time.Second || strings.Join(cfg.Masters, ",") != "10.0.0.1:5050,10.0.0.2:5050" {
		t.Errorf("file values: level=%q ping=%s masters=%v", cfg.LoggingLevel, cfg.AgentPingTimeout, cfg.Masters)
	}
}

func TestConfigValues(t *testing.T) {
	cfg, err := parse(t, nil, "--role=agent", "--master", "127.0.0.1:5050", "--resources", "cpus:3;mem:512;ports:[31000-31010]",
		"--attributes", "rack:a;zone:1", "--agent_ping_timeout=2mins", "--max_slave_ping_timeouts", "7", "--logging_level", "warning")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Role != "agent" || cfg.Resources.Scalar("cpus") != 3 || cfg.Resources.Scalar("mem") != 512 {
		t.Errorf("role/resources: %q %s", cfg.Role, cfg.Resources)
	}
	if cfg.Attributes["rack"] != "a" || cfg.Attributes["zone"] != 1.0 {
		t.Errorf("attributes: %v", cfg.Attributes)
	}
	if cfg.AgentPingTimeout != 2*time.Minute || cfg.MaxAgentPingTimeouts != 7 || cfg.LoggingLevel != "WARNING" {
		t.Errorf("ping %s x%d level %s", cfg.AgentPingTimeout, cfg.MaxAgentPingTimeouts, cfg.LoggingLevel)
	}
	if cfg.Flags["agent-ping-timeout"] != "2m0s" {
		t.Errorf("flags map: %v", cfg.Flags["agent-ping-timeout"])
	}
	// Detected resources when none are given.
	cfg, err = parse(t, nil, "--work-dir", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Resources.Scalar("cpus") <= 0 || cfg.Resources.Scalar("mem") <= 0 || len(cfg.Resources.RangesOf("ports")) == 0 {
		t.Errorf("detected resources: %s", cfg.Resources)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string // substring of the one-line message
	}{
		{"unknown flag", nil, []string{"--no-such-flag"}, "unknown flag --no-such-flag"},
		{"malformed int", nil, []string{"--port", "abc"}, `--port: invalid value "abc"`},
		{"malformed duration", nil, []string{"--agent-ping-timeout", "soon"}, "--agent-ping-timeout: invalid value"},
		{"bad env value", map[string]string{"NODECTL_PORT": "x"}, nil, "port"},
		{"bad role", nil, []string{"--role", "boss"}, `--role: "boss" is not one of master, agent, all`},
		{"port range", nil, []string{"--port", "70000"}, "--port: 70000 is not a port"},
		{"agent without master", nil, []string{"--role", "agent"}, "--join: required with --role=agent"},
		{"bad resources", nil, []string{"--resources", "cpus:lots"}, "--resources:"},
		{"bad attributes", nil, []string{"--attributes", "rack"}, "--attributes:"},
		{"bad level", nil, []string{"--logging-level", "LOUD"}, "--logging-level"},
		{"bad ip", nil, []string{"--ip", "nowhere"}, `--ip: "nowhere" is not an IP address`},
		{"unknown file key", nil, []string{"--config", writeFile(t, "prot: 1\n")}, `unknown key "prot"`},
		{"malformed file value", nil, []string{"--config", writeFile(t, "port: many\n")}, "port"},
		{"missing file", nil, []string{"--config", "/nonexistent/nodectl.yaml"}, "--config"},
		{"not yaml", nil, []string{"--config", writeFile(t, "port: [1\n")}, "not YAML"},
		{"bad host path mode", nil, []string{"--allowed-host-paths", "/data:rwx"}, "--allowed-host-paths:"},
		{"relative host path", nil, []string{"--allowed-host-paths", "data"}, "not an absolute path"},
		{"host path in work dir", nil, []string{"--work-dir", "/var/lib/x", "--allowed-host-paths", "/srv,/var/lib/x/volumes:rw"}, "inside the work dir"},
		{"relative hidden path", nil, []string{"--task-hidden-paths", "/srv,secrets"}, "--task-hidden-paths: secrets is not an absolute path"},
		{"bad hidden glob", nil, []string{"--task_hidden_paths", "/srv/[x"}, "--task-hidden-paths:"},
		{"seccomp profile without dir", nil, []string{"--seccomp_profile_name", "p.json"}, "needs --seccomp-config-dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.env, tt.args...)
			if err == nil {
				t.Fatalf("accepted %v", tt.args)
			}
			msg := oneLine(err.Error())
			if !strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not contain %q", msg, tt.want)
			}
			var ee *exitError
			if !errors.As(err, &ee) && !errors.Is(err, ErrConfig) {
				t.Errorf("error %v is neither a usage nor a config error", err)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"15s": 15 * time.Second, "15secs": 15 * time.Second, "1mins": time.Minute, "100ms": 100 * time.Millisecond,
		"2hrs": 2 * time.Hour, "1days": 24 * time.Hour, "1weeks": 7 * 24 * time.Hour, "1.5secs": 1500 * time.Millisecond,
	} {
		got, err := api.ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("api.ParseDuration(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "soon", "-1secs", "5 parsecs"} {
		if _, err := api.ParseDuration(bad); err == nil {
			t.Errorf("api.ParseDuration(%q) accepted", bad)
		}
	}
}

func TestConfigEtcdSpace(t *testing.T) {
	cfg, err := parse(t, nil, "--zk_max_versions", "7", "--etcd-quota-backend-bytes", "16777216", "--etcd-auto-compaction-retention", "1mins")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxVersions != 7 || cfg.EtcdQuotaBackendBytes != 16<<20 || cfg.EtcdCompactionRetention != time.Minute {
		t.Errorf("max versions %d, quota %d, retention %s", cfg.MaxVersions, cfg.EtcdQuotaBackendBytes, cfg.EtcdCompactionRetention)
	}
	if cfg, err = parse(t, nil); err != nil || cfg.MaxVersions != 50 || cfg.EtcdQuotaBackendBytes != 0 || cfg.EtcdCompactionRetention != 5*time.Minute {
		t.Errorf("defaults: %v %d %d %s", err, cfg.MaxVersions, cfg.EtcdQuotaBackendBytes, cfg.EtcdCompactionRetention)
	}
	if _, err := parse(t, nil, "--max-versions", "-1"); err == nil || !strings.Contains(err.Error(), "--max-versions") {
		t.Errorf("negative max versions: %v", err)
	}
}

func TestConfigMaxConnections(t *testing.T) {
	if cfg, err := parse(t, nil); err != nil || cfg.MaxConnections != 4096 {
		t.Errorf("default: %v %d", err, cfg.MaxConnections)
	}
	if cfg, err := parse(t, nil, "--max_connections", "25000"); err != nil || cfg.MaxConnections != 25000 {
		t.Errorf("--max_connections 25000: %v %d", err, cfg.MaxConnections)
	}
	for _, bad := range []string{"10", "-1"} {
		if _, err := parse(t, nil, "--max-connections", bad); err == nil || !strings.Contains(err.Error(), "--max-connections") {
			t.Errorf("--max-connections %s: %v", bad, err)
		}
	}
}

func TestConfigRecoveryTimeout(t *testing.T) {
	if cfg, err := parse(t, nil); err != nil || cfg.RecoveryTimeout != 15*time.Minute {
		t.Errorf("default: %v %s", err, cfg.RecoveryTimeout)
	}
	if cfg, err := parse(t, nil, "--recovery_timeout", "2mins"); err != nil || cfg.RecoveryTimeout != 2*time.Minute {
		t.Errorf("--recovery_timeout 2mins: %v %s", err, cfg.RecoveryTimeout)
	}
	if _, err := parse(t, nil, "--recovery-timeout", "-1s"); err == nil || !strings.Contains(err.Error(), "--recovery-timeout") {
		t.Errorf("negative recovery timeout: %v", err)
	}
}
