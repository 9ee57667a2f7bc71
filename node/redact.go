package node

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"nodectl/cluster/pki"
)

// redacted replaces a secret wherever the node would show it.
const redacted = "<redacted>"

// secretFlags are the `up` flags whose values are secrets: /state and
// /flags show them as <redacted> (empty when unset). Every flag whose
// name looks secret-bearing (secretFlagName) is either here or in
// pathFlags; a test walks upFlags to keep it so.
var secretFlags = map[string]bool{
	"token": true, // join token: NDCTL1-<ca-hash>-<id>.<secret>
}

// pathFlags are flags whose names look secret-bearing but whose values
// are paths, shown as given: the file's contents are the secret, and
// whoever loads them registers those with logging.RedactValues.
var pathFlags = map[string]bool{
	"credentials": true, // Mesos --credentials: a JSON file of principals and secrets
}

// secretFlagName reports whether a flag name looks like it carries a
// secret (token, secret, password, credential, key material).
func secretFlagName(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"token", "secret", "password", "passwd", "credential", "private-key", "private_key", "key-material", "jwt"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// shownFlag is how /state and /flags show a flag's value.
func shownFlag(name, value string) string {
	if secretFlags[name] && value != "" {
		return redacted
	}
	return value
}

// shownArgs is a command line with the values of secret flags (any
// spelling, --flag=value or --flag value) replaced, for logging it.
func shownArgs(args []string) []string {
	secret := map[string]bool{}
	for _, f := range upFlags() {
		if secretFlags[f.Names()[0]] {
			for _, n := range f.Names() {
				secret[n] = true
			}
		}
	}
	out := slices.Clone(args)
	for i := 0; i < len(out); i++ {
		name, ok := strings.CutPrefix(out[i], "-")
		if !ok {
			continue
		}
		name = strings.TrimPrefix(name, "-")
		name, _, hasValue := strings.Cut(name, "=")
		if !secret[name] {
			continue
		}
		if hasValue {
			out[i] = out[i][:strings.IndexByte(out[i], '=')+1] + redacted
		} else if i+1 < len(out) {
			i++
			out[i] = redacted
		}
	}
	return out
}

// tokenSecret is the part of a join token that must not be shown: its
// secret (the CA hash and id are public), or the whole value when it does
// not parse as a token.
func tokenSecret(s string) string {
	if t, err := pki.ParseToken(s); err == nil {
		return t.Secret
	}
	return strings.TrimSpace(s)
}

// minSecretLen is the shortest value a redactor accepts: replacing
// shorter strings would mangle ordinary log text.
const minSecretLen = 8

// maxSecrets bounds a redactor's values (tokens are registered as they
// are created and used); the oldest are dropped beyond it. Each value
// costs a strings.Contains per string in a record: BenchmarkRedactHandler
// measured, on a log call of about 1µs to a text handler, +0.15µs with no
// values, +0.25µs with 2 and +1.4µs with 100.
const maxSecrets = 1024

// redactor holds the secret values a node knows at runtime (join tokens
// created or used, credentials loaded from files). Reads are lock-free.
type redactor struct {
	mu   sync.Mutex // serializes add
	vals atomic.Pointer[[]string]
}

// add registers values to redact; empty, short and known ones are skipped.
func (r *redactor) add(vals ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var cur []string
	if p := r.vals.Load(); p != nil {
		cur = *p
	}
	next := cur
	for _, v := range vals {
		if len(v) < minSecretLen || containsString(next, v) {
			continue
		}
		if len(next) == len(cur) { // copy on first write: readers keep the old slice
			next = append(make([]string, 0, len(cur)+len(vals)), cur...)
		}
		next = append(next, v)
	}
	if len(next) == len(cur) {
		return
	}
	if len(next) > maxSecrets {
		next = next[len(next)-maxSecrets:]
	}
	r.vals.Store(&next)
}

func containsString(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

func (r *redactor) values() []string {
	if p := r.vals.Load(); p != nil {
		return *p
	}
	return nil
}

// redactString replaces every secret in s; ok is false when there was none.
func redactString(s string, secrets []string) (string, bool) {
	hit := false
	for _, v := range secrets {
		if strings.Contains(s, v) {
			s, hit = strings.ReplaceAll(s, v, redacted), true
		}
	}
	return s, hit
}

// secretKey reports whether an attribute key names a secret: token,
// secret, password, authorization, credentials, alone or as the last
// word of the key (join_token, admin-secret). token_id is not one.
func secretKey(k string) bool {
	for i := len(k) - 1; i >= 0; i-- {
		if c := k[i]; c == '_' || c == '-' || c == '.' {
			k = k[i+1:]
			break
		}
	}
	var words []string
	switch len(k) { // most keys fail here, without a comparison
	case 5:
		words = []string{"token"}
	case 6:
		words = []string{"secret", "passwd"}
	case 8:
		words = []string{"password"}
	case 10, 11:
		words = []string{"credential", "credentials"}
	case 13:
		words = []string{"authorization"}
	}
	for _, w := range words {
		if strings.EqualFold(k, w) {
			return true
		}
	}
	return false
}

// redactHandler is a slog.Handler that replaces known secret values (in
// the message and in attribute values) and the values of secret-named
// attributes with <redacted> before the next handler sees them: defence
// in depth behind not logging secrets at all.
type redactHandler struct {
	next slog.Handler
	r    *redactor
}

func (h *redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	secrets := h.r.values()
	msg, dirty := redactString(rec.Message, secrets)
	if !dirty {
		rec.Attrs(func(a slog.Attr) bool {
			_, changed := redactAttr(a, secrets)
			dirty = changed
			return !changed
		})
	}
	if !dirty {
		return h.next.Handle(ctx, rec)
	}
	out := slog.NewRecord(rec.Time, rec.Level, msg, rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		a, _ = redactAttr(a, secrets)
		out.AddAttrs(a)
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs redacts the attributes once, with the secrets known now.
func (h *redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	secrets := h.r.values()
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i], _ = redactAttr(a, secrets)
	}
	return &redactHandler{next: h.next.WithAttrs(out), r: h.r}
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{next: h.next.WithGroup(name), r: h.r}
}

// redactAttr returns a with secrets replaced, and whether it changed.
func redactAttr(a slog.Attr, secrets []string) (slog.Attr, bool) {
	v := a.Value.Resolve()
	if secretKey(a.Key) && v.Kind() != slog.KindGroup {
		if v.Kind() == slog.KindString && (v.String() == "" || v.String() == redacted) {
			return a, false
		}
		return slog.String(a.Key, redacted), true
	}
	switch v.Kind() {
	case slog.KindString:
		if s, ok := redactString(v.String(), secrets); ok {
			return slog.String(a.Key, s), true
		}
	case slog.KindGroup:
		g := v.Group()
		var out []slog.Attr
		for i, ga := range g {
			ra, changed := redactAttr(ga, secrets)
			if changed && out == nil {
				out = append(make([]slog.Attr, 0, len(g)), g[:i]...)
			}
			if out != nil {
				out = append(out, ra)
			}
		}
		if out != nil {
			return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}, true
		}
	case slog.KindAny:
		if len(secrets) == 0 {
			return a, false
		}
		var s string
		switch x := v.Any().(type) {
		case error:
			s = x.Error()
		case fmt.Stringer:
			s = x.String()
		case []string:
			s = strings.Join(x, ",")
		default:
			s = fmt.Sprint(x)
		}
		if s, ok := redactString(s, secrets); ok {
			return slog.String(a.Key, s), true
		}
	}
	return a, false
}
