package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nodectl/cluster/api"
	"nodectl/runtime/internal/container"
)

// Local files are opened as the task's user: a file or directory that user
// may not read is not fetched, one it may read is; and a path hidden from
// tasks (the host's secrets, --task-hidden-paths) is refused even for the
// agent's own user.
func TestFetchLocalAsTaskUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to open files as another user")
	}
	f, wd := testFetcher(t, FetcherConfig{CacheDir: t.TempDir()})
	outside := t.TempDir()
	// t.TempDir makes 0700 directories: let others through.
	for d := outside; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(outside, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(name), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	public := write("public.txt", 0o644)
	private := write("private.txt", 0o600)
	inClosed := write("closed/inner.txt", 0o644)
	if err := os.Chmod(filepath.Dir(inClosed), 0o700); err != nil {
		t.Fatal(err)
	}
	nobody := &taskUser{Name: "nobody", UID: 65534, GID: 65534}

	fetch := func(uri string, reader *taskUser) (string, error) {
		sb := newSandbox(t, wd)
		err := f.fetch(context.Background(), fetchRequest{sandbox: sb, reader: reader, uris: []api.CommandURI{{Value: uri, OutputFile: "got", Cache: true}}})
		b, _ := os.ReadFile(filepath.Join(sb, "got"))
		return string(b), err
	}
	if got, err := fetch(public, nobody); err != nil || got != "public.txt" {
		t.Errorf("a world-readable file as nobody: %q, %v", got, err)
	}
	for _, p := range []string{private, "file://" + private, inClosed} {
		got, err := fetch(p, nobody)
		if err == nil || !strings.Contains(err.Error(), "permission denied") || !strings.Contains(err.Error(), "nobody") {
			t.Errorf("%s as nobody: err %v, want permission denied naming the user", p, err)
		}
		if got != "" {
			t.Errorf("%s as nobody: %q was fetched", p, got)
		}
	}
	if got, err := fetch(private, nil); err != nil || got != "private.txt" {
		t.Errorf("a private file as the agent: %q, %v", got, err)
	}
	// The agent itself keeps its credentials: the switch is per thread.
	if _, err := os.ReadFile(private); err != nil {
		t.Errorf("the agent lost its own access: %v", err)
	}

	f.hidden = func(p string) bool { return container.HiddenFromTasks(p, []string{filepath.Dir(inClosed)}) }
	for _, p := range []string{inClosed, "/etc/shadow"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		got, err := fetch(p, nil)
		if err == nil || !strings.Contains(err.Error(), "hidden") {
			t.Errorf("%s: err %v, want a refusal naming the hidden paths", p, err)
		}
		if got != "" {
			t.Errorf("%s: %q was fetched", p, got)
		}
	}
}
