package embed

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapLogger returns a zap logger whose records go to l, so etcd logs through
// the node's handler, format and level. Unless verbose, etcd's
// informational chatter (dozens of lines per start) is logged at DEBUG,
// warnings known to be expected here are too, and once closing is set the
// errors etcd reports about its own listeners closing are as well: a clean
// stop logs no ERROR. While campaigning is set (nil: never), raft's warning
// that it declines to campaign before its configuration is applied is
// DEBUG too: a cluster's lone member is asked to campaign early, on
// purpose (campaignAlone).
func zapLogger(l *slog.Logger, verbose bool, closing, campaigning *atomic.Bool) *zap.Logger {
	return zap.New(&slogCore{l: l, verbose: verbose, closing: closing, campaigning: campaigning})
}

// slogCore is a zapcore.Core writing to a slog.Logger.
type slogCore struct {
	l           *slog.Logger
	attrs       []any
	verbose     bool
	closing     *atomic.Bool
	campaigning *atomic.Bool
}

// expectedWarnings are etcd warnings about choices nodectl makes on
// purpose: one port for etcd's HTTP and gRPC (only masters reach it, over
// mutual TLS) and the simple auth token (etcd's own auth is not used;
// clients authenticate with certificates).
var expectedWarnings = []string{
	"Running http and grpc server on single port",
	"simple token is not cryptographically signed",
}

// expectedErrors are etcd errors, by message and a substring of their
// attributes, that etcd logs on every first start of a new member and
// that resolve themselves (the storage version is set once the first
// term is written).
var expectedErrors = []struct{ msg, attr string }{
	{"Failed to detect schema version", "missing term information"},
	{"failed to update storage version", "missing term information"},
}

func expectedError(msg string, attrs []any) bool {
	for _, e := range expectedErrors {
		if msg != e.msg {
			continue
		}
		for _, a := range attrs {
			if s, ok := a.(string); ok && strings.Contains(s, e.attr) {
				return true
			}
		}
	}
	return false
}

// shutdownNoise reports whether an error etcd logs is its listener being
// closed under it, which is what stopping it does.
func shutdownNoise(msg string, attrs []any) bool {
	if strings.Contains(msg, "closed") {
		return true
	}
	for _, a := range attrs {
		if s, ok := a.(string); ok && (strings.Contains(s, "use of closed network connection") || strings.Contains(s, "Server closed")) {
			return true
		}
	}
	return false
}

// adjust is the level a record of etcd's is logged at.
func (c *slogCore) adjust(lvl slog.Level, msg string, attrs []any) slog.Level {
	if c.verbose {
		return lvl
	}
	switch {
	case lvl == slog.LevelInfo:
		return slog.LevelDebug
	case lvl == slog.LevelWarn && hasPrefixAny(msg, expectedWarnings):
		return slog.LevelDebug
	case lvl >= slog.LevelWarn && expectedError(msg, attrs):
		return slog.LevelDebug
	case lvl >= slog.LevelWarn && c.closing != nil && c.closing.Load() && shutdownNoise(msg, attrs):
		return slog.LevelDebug
	case lvl == slog.LevelWarn && c.campaigning != nil && c.campaigning.Load() && earlyCampaign(msg):
		return slog.LevelDebug
	}
	return lvl
}

// earlyCampaign is raft's warning that it declines a campaign while
// configuration changes are not applied yet (raft's hup).
func earlyCampaign(msg string) bool {
	return strings.Contains(msg, "cannot campaign at term") && strings.HasSuffix(msg, "pending configuration changes to apply")
}

func hasPrefixAny(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func level(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (c *slogCore) Enabled(l zapcore.Level) bool {
	lvl := level(l)
	if !c.verbose && lvl == slog.LevelInfo {
		lvl = slog.LevelDebug
	}
	return c.l.Enabled(context.Background(), lvl)
}

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{l: c.l, attrs: append(append([]any(nil), c.attrs...), fieldAttrs(fields)...), verbose: c.verbose, closing: c.closing}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	attrs := append(append([]any(nil), c.attrs...), fieldAttrs(fields)...)
	if e.LoggerName != "" {
		attrs = append(attrs, "logger", e.LoggerName)
	}
	c.l.Log(context.Background(), c.adjust(level(e.Level), e.Message, attrs), e.Message, attrs...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

func fieldAttrs(fields []zapcore.Field) []any {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	out := make([]any, 0, 2*len(enc.Fields))
	for k, v := range enc.Fields {
		out = append(out, k, v)
	}
	return out
}
