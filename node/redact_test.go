package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretFlagsListed walks the `up` flag definitions: every flag whose
// name (or an alias) looks secret-bearing must be classified, as a secret
// (shown redacted) or as a path to a secret file (shown as given).
func TestSecretFlagsListed(t *testing.T) {
	t.Parallel()
	known := map[string]bool{}
	for _, f := range upFlags() {
		name := f.Names()[0]
		known[name] = true
		for _, n := range f.Names() {
			if secretFlagName(n) && !secretFlags[name] && !pathFlags[name] {
				t.Errorf("flag --%s looks secret-bearing but is in neither secretFlags nor pathFlags (node/redact.go)", n)
			}
		}
	}
	for name := range secretFlags {
		if !known[name] {
			t.Errorf("secretFlags lists --%s, which `up` does not have", name)
		}
	}
	for _, n := range []string{"token", "admin-secret", "db_password", "credentials", "jwt-key", "tls-private-key", "key-material"} {
		if !secretFlagName(n) {
			t.Errorf("secretFlagName(%q) = false", n)
		}
	}
}

const testToken = "NDCTL1-" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + "-00112233aabbccdd.ffeeddccbbaa99887766554433221100"

// TestFlagsRedactToken: the token never reaches cfg.Flags (/state,
// /flags), whether given as a flag, in the environment or in the config file.
func TestFlagsRedactToken(t *testing.T) {
	file := writeFile(t, "token: "+testToken+"\n")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"flag", nil, []string{"--token", testToken}},
		{"env", map[string]string{"NODECTL_TOKEN": testToken}, nil},
		{"config file", nil, []string{"--config", file}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parse(t, tc.env, append([]string{"--role=agent", "--join", "https://127.0.0.1:5050", "--work-dir", t.TempDir()}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Token != testToken {
				t.Errorf("cfg.Token = %q, want the token", cfg.Token)
			}
			if got := cfg.Flags["token"]; got != redacted {
				t.Errorf("flags token = %q, want %s", got, redacted)
			}
			for k, v := range cfg.Flags {
				if strings.Contains(v, "ffeeddcc") {
					t.Errorf("flag %s shows the token: %q", k, v)
				}
			}
		})
	}
	cfg, err := parse(t, nil, "--work-dir", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := cfg.Flags["token"]; !ok || v != "" {
		t.Errorf("unset token shown as %q (present %v), want empty", v, ok)
	}
}

func TestShownArgs(t *testing.T) {
	t.Parallel()
	got := strings.Join(shownArgs([]string{"up", "--role=agent", "--join=https://10.0.9.1:5050", "--token=" + testToken, "-token", testToken, "--work-dir", "/w", "--token"}), " ")
	want := "up --role=agent --join=https://10.0.9.1:5050 --token=<redacted> -token <redacted> --work-dir /w --token"
	if got != want {
		t.Errorf("shownArgs:\n got %s\nwant %s", got, want)
	}
}

type testStringer struct{ s string }

func (s testStringer) String() string { return s.s }

func TestRedactHandler(t *testing.T) {
	t.Parallel()
	const secret = "ffeeddccbbaa99887766554433221100"
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := newLogging(Config{LoggingLevel: "DEBUG", LogFormat: format}, &buf)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			log := l.logger("master")
			l.RedactValues(tokenSecret(testToken), "", "short") // the empty and short ones are ignored
			withAttr := log.With("cmd", "nodectl up --token "+testToken)
			log.Info("join with: nodectl up --token " + testToken)
			log.Info("attrs", "cmd", "--token "+testToken, "err", fmt.Errorf("wrapped: %w", errors.New("bad "+testToken)),
				"list", []string{"a", testToken}, "str", testStringer{testToken}, "n", 3)
			log.Info("group", slog.Group("g", "inner", testToken, "fine", "visible-value"))
			withAttr.Info("with")
			log.Info("keys", "token", "anything", "admin_secret", "x", "Authorization", "Bearer abc", "password", 42, "token_id", "00112233aabbccdd")
			log.WithGroup("grp").Info("in group", "v", testToken)
			log.Info("a short word")
			out := buf.String()
			if strings.Contains(out, secret) {
				t.Errorf("a secret reached the log:\n%s", out)
			}
			for _, want := range []string{"00112233aabbccdd", "visible-value", "wrapped: bad", "00112233aabbccdd." + redacted, "a short word"} {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %q:\n%s", want, out)
				}
			}
			for _, gone := range []string{"anything", "Bearer abc"} {
				if strings.Contains(out, gone) {
					t.Errorf("value of a secret-named key %q logged:\n%s", gone, out)
				}
			}
		})
	}
}

// TestRedactHandlerFiles: the log file (served by the files API) is
// redacted like stderr.
func TestRedactHandlerFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := newLogging(Config{LoggingLevel: "INFO", LogFormat: "text", LogDir: dir, Quiet: true}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	l.RedactValues(tokenSecret(testToken))
	l.logger("master").Info("token " + testToken)
	l.Close()
	b, err := os.ReadFile(filepath.Join(dir, "nodectl-master.log"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "ffeeddcc") || !strings.Contains(string(b), "00112233aabbccdd."+redacted) {
		t.Errorf("log file: %s", b)
	}
}

func TestRedactorBounded(t *testing.T) {
	t.Parallel()
	var r redactor
	for i := range maxSecrets + 10 {
		r.add(fmt.Sprintf("secret-%08d", i))
	}
	r.add("secret-00000020") // known: no growth
	if n := len(r.values()); n != maxSecrets {
		t.Errorf("%d values, want %d", n, maxSecrets)
	}
}

// BenchmarkRedactHandler measures what the redacting layer adds to a log
// call that reaches a text handler (io.Discard): the common case (nothing
// to redact) with a few and with many registered secrets, and a hit.
func BenchmarkRedactHandler(b *testing.B) {
	run := func(b *testing.B, h slog.Handler, msg string) {
		log := slog.New(h).With("component", "master")
		b.ReportAllocs()
		for b.Loop() {
			log.Info(msg, "agent_id", "a1b2c3d4-S0", "task_id", "web.1234", "err", io.EOF, "n", 7)
		}
	}
	base := func() slog.Handler { return slog.NewTextHandler(io.Discard, nil) }
	wrapped := func(n int) slog.Handler { // a *redactHandler
		r := &redactor{}
		for i := range n {
			r.add(fmt.Sprintf("%032x", i+1))
		}
		return &redactHandler{next: base(), r: r}
	}
	b.Run("plain", func(b *testing.B) { run(b, base(), "task launched") })
	b.Run("redact-0-secrets", func(b *testing.B) { run(b, wrapped(0), "task launched") })
	b.Run("redact-2-secrets", func(b *testing.B) { run(b, wrapped(2), "task launched") })
	b.Run("redact-100-secrets", func(b *testing.B) { run(b, wrapped(100), "task launched") })
	b.Run("redact-hit", func(b *testing.B) { run(b, wrapped(2), fmt.Sprintf("token %032x", 1)) })
	// The layer alone, in front of a handler that does nothing.
	for _, n := range []int{0, 2, 100} {
		b.Run(fmt.Sprintf("layer-only-%d-secrets", n), func(b *testing.B) {
			h := wrapped(n).(*redactHandler)
			h.next = nopHandler{}
			run(b, h, "task launched")
		})
	}
	b.Run("layer-only-none", func(b *testing.B) { run(b, nopHandler{}, "task launched") })
}

// nopHandler accepts every record and does nothing with it.
type nopHandler struct{}

func (nopHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (nopHandler) Handle(context.Context, slog.Record) error { return nil }
func (h nopHandler) WithAttrs([]slog.Attr) slog.Handler      { return h }
func (h nopHandler) WithGroup(string) slog.Handler           { return h }
