package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestReadmeFirstHour runs the sh blocks of README.md's "Your first hour"
// section, unchanged but for the node's port, in a directory laid out as
// the README assumes (bin/nodectl, .run as the work dir of a node started
// the way `make run` starts one), and checks what a newcomer would see.
func TestReadmeFirstHour(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := regexp.MustCompile(`(?s)<!-- first-hour:begin.*?-->(.*)<!-- first-hour:end -->`).FindSubmatch(raw)
	if section == nil {
		t.Fatal("README.md has no first-hour section")
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllSubmatch(section[1], -1) {
		blocks = append(blocks, string(m[1]))
	}
	if len(blocks) < 4 {
		t.Fatalf("%d sh blocks in the first-hour section, want at least 4", len(blocks))
	}

	n := newNode(t)
	start(t, n.args("all")...)
	waitFor(t, 30*time.Second, "node healthy with its agent", func() bool {
		s := slaves(t, n.url())
		return len(s) == 1 && s[0].Active
	})
	dir := t.TempDir()
	if err := os.Symlink(n.dir, filepath.Join(dir, ".run")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(dir, "bin", "nodectl")); err != nil {
		t.Fatal(err)
	}
	script := "set -euo pipefail\n" + strings.ReplaceAll(strings.Join(blocks, "\n"), "127.0.0.1:5050", "127.0.0.1:"+strconv.Itoa(n.port))
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = dir
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "NODECTL_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	out, err := cmd.CombinedOutput()
	t.Logf("README's commands:\n%s", out)
	if err != nil {
		t.Fatalf("README's first-hour commands failed: %v", err)
	}
	for _, want := range []string{"imok", "hello from ", "nobody", "hello from an image"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the README's commands did not show %q", want)
		}
	}
}
