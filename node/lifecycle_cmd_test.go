package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// install and upgrade refuse bad input with exit 2 and one line (on a
// machine that did not boot from an installed disk, like this one).
func TestLifecycleUsageErrorsExit2(t *testing.T) {
	used := filepath.Join(t.TempDir(), "used.img")
	if err := os.WriteFile(used, []byte("not empty"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"install"},
		{"install", "--disk", "/nonexistent/disk"},
		{"install", "--disk", t.TempDir()},
		{"install", "--disk", used},
		{"install", "--disk", used, "extra"},
		{"upgrade"},
		{"upgrade", "--image", "x.tar", "--rollback"},
		{"upgrade", "--rollback", "--tries", "4"},
		{"upgrade", "--image", "/nonexistent/bundle.tar"},
		{"upgrade", "--image", ""},
		{"upgrade", "--rollback"}, // not booted from an installed disk
		{"upgrade", "--status", "extra"},
	} {
		out, errOut, code := cliRun(t, args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "nodectl: ") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2, nothing, one line", args, code, out, errOut)
		}
	}
}
