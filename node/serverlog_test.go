package node

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestServerErrorLog: net/http's failed TLS handshakes (every first visit
// of a browser that does not trust the cluster CA yet) are DEBUG; its
// other errors stay warnings.
func TestServerErrorLog(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	e := serverErrorLog{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	_, _ = e.Write([]byte("http: TLS handshake error from 127.0.0.1:5000: remote error: tls: unknown certificate\n"))
	_, _ = e.Write([]byte("http: superfluous response.WriteHeader call\n"))
	out := buf.String()
	if strings.Contains(out, "TLS handshake") {
		t.Errorf("a failed handshake logged above DEBUG: %s", out)
	}
	if !strings.Contains(out, `level=WARN msg="http: superfluous response.WriteHeader call"`) {
		t.Errorf("other server errors must stay warnings: %q", out)
	}
}
