package embed

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
)

// TestEtcdLogLevels: etcd's informational lines and its known noise are
// DEBUG unless verbose; real warnings and errors keep their level; once the
// server is closing, its listeners' closing errors are DEBUG too.
func TestEtcdLogLevels(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var closing atomic.Bool
	z := zapLogger(l, false, &closing, nil)
	z.Info("starting an etcd server")
	z.Warn("Running http and grpc server on single port. This is not recommended for production.")
	z.Error("failed to update storage version", zap.Error(errors.New("cannot detect storage schema version: missing term information")))
	z.Warn("slow fdatasync", zap.Duration("took", 1))
	z.Error("setting up serving from embedded etcd failed.", zap.Error(errors.New("accept tcp 127.0.0.1:1: use of closed network connection")))
	closing.Store(true)
	z.Error("setting up serving from embedded etcd failed.", zap.Error(errors.New("http: Server closed")))
	out := buf.String()
	for _, quiet := range []string{"starting an etcd server", "single port", "storage version", "http: Server closed"} {
		if strings.Contains(out, quiet) {
			t.Errorf("%q logged at INFO or above:\n%s", quiet, out)
		}
	}
	for _, loud := range []string{"level=WARN msg=\"slow fdatasync\"", "level=ERROR msg=\"setting up serving from embedded etcd failed.\" error=\"accept tcp"} {
		if !strings.Contains(out, loud) {
			t.Errorf("%q missing:\n%s", loud, out)
		}
	}

	buf.Reset()
	zapLogger(l, true, &closing, nil).Info("starting an etcd server")
	if !strings.Contains(buf.String(), "level=INFO") {
		t.Errorf("verbose: info line not at INFO: %q", buf.String())
	}
}

// TestEarlyCampaignWarning: raft's warning that it declines a campaign
// before its configuration is applied is DEBUG while campaignAlone asks it
// to campaign, and a warning otherwise.
func TestEarlyCampaignWarning(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var closing, campaigning atomic.Bool
	z := zapLogger(l, false, &closing, &campaigning).Sugar()
	const msg = "%x cannot campaign at term %d since there are still pending configuration changes to apply"
	campaigning.Store(true)
	z.Warnf(msg, 0x8d8d1a03, 1)
	if buf.Len() != 0 {
		t.Errorf("while campaigning: %q, want it at DEBUG", buf.String())
	}
	campaigning.Store(false)
	z.Warnf(msg, 0x8d8d1a03, 1)
	if !strings.Contains(buf.String(), "level=WARN msg=\"8d8d1a03 cannot campaign at term 1") {
		t.Errorf("after the campaign: %q, want a warning", buf.String())
	}
}
