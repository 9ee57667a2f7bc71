package node

import (
	"bytes"
	"strings"
	"testing"
)

// Bad arguments are UNKNOWN (3) with a status line, as the plugin
// guidelines ask.
func TestCheckUsageIsUnknown(t *testing.T) {
	// Not t.Parallel: it parses command lines in-process (see cliMu).
	for _, args := range [][]string{{"--bogus"}, {"--warning", "x"}, {"--min-agents", "2", "--critical", "3:"}, {"extra"}} {
		var out, errOut bytes.Buffer
		code := runCLI(append([]string{"nodectl", "check", "--master", "127.0.0.1:1"}, args...), &out, &errOut)
		if code != 3 || !strings.HasPrefix(out.String(), "NODECTL UNKNOWN - ") {
			t.Errorf("check %v: exit %d, stdout %q, want 3 and an UNKNOWN line", args, code, out.String())
		}
	}
}
