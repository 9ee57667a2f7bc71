package api

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

const secretText = "CLUSTER-SECRET-do-not-serve"

// filesFixture is a sandbox (served as /sb) beside a directory outside it
// that holds a secret file, as a host's pki/ is beside an agent's sandboxes.
func filesFixture(t *testing.T) (sandbox, outside string, h http.Handler) {
	t.Helper()
	base := t.TempDir()
	sandbox, outside = filepath.Join(base, "sandbox"), filepath.Join(base, "pki")
	for _, d := range []string{sandbox, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte(secretText), 0o600); err != nil {
		t.Fatal(err)
	}
	h = FilesHandler(func(virtual string) (FileTarget, error) {
		if virtual == "/sb" || strings.HasPrefix(virtual, "/sb/") {
			return FileTarget{Root: sandbox, Rel: strings.TrimPrefix(strings.TrimPrefix(virtual, "/sb"), "/")}, nil
		}
		return FileTarget{}, ErrFileNotFound
	})
	return sandbox, outside, h
}

func filesGet(h http.Handler, op, path string, extra ...string) *httptest.ResponseRecorder {
	q := url.Values{"path": {path}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/files/"+op+"?"+q.Encode(), nil))
	return rec
}

// TestFilesSymlinkComponentRefused: a path component that is a symlink
// leading out of the sandbox is refused (403) for browse, read and
// download; a symlink that stays inside is followed.
func TestFilesSymlinkComponentRefused(t *testing.T) {
	sandbox, outside, h := filesFixture(t)
	if err := os.Symlink(outside, filepath.Join(sandbox, "dir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../pki/secret", filepath.Join(sandbox, "rel")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(sandbox, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sandbox, "in", "ok"), []byte("fine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("in", filepath.Join(sandbox, "alias")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(sandbox, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		op, path string
		code     int
	}{
		{"browse", "/sb/dir", 403},
		{"browse", "/sb/dir/secret", 403},
		{"read", "/sb/dir/secret", 403},
		{"download", "/sb/dir/secret", 403},
		{"read", "/sb/rel", 403},
		{"download", "/sb/rel", 403},
		{"read", "/sb/alias/ok", 200},
		{"browse", "/sb/alias", 200},
		{"read", "/sb/fifo", 400}, // not a regular file; the open does not block
	} {
		rec := filesGet(h, tc.op, tc.path, "offset", "0")
		if rec.Code != tc.code || strings.Contains(rec.Body.String(), secretText) {
			t.Errorf("%s %s: %d %s; want %d without the secret", tc.op, tc.path, rec.Code, rec.Body, tc.code)
		}
	}
}

// TestFilesSwapRace: a task swaps a directory of its sandbox with a
// symlink to a directory outside (holding a secret file) as fast as it
// can, while the files API reads through that path: no read, download or
// browse ever returns the secret. (Before every open went beneath the
// sandbox in one step, a check-then-open leaked it in about 5% of reads.)
func TestFilesSwapRace(t *testing.T) {
	sandbox, outside, h := filesFixture(t)
	d, l := filepath.Join(sandbox, "d"), filepath.Join(sandbox, "l")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "secret"), []byte("harmless"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, l); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var swaps atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			// d and l trade places atomically: d is a directory one moment
			// and a symlink to outside the next.
			if err := unix.Renameat2(unix.AT_FDCWD, d, unix.AT_FDCWD, l, unix.RENAME_EXCHANGE); err != nil {
				t.Errorf("swap: %v", err)
				return
			}
			swaps.Add(1)
		}
	}()
	const reads = 10000
	leaked, served, refused := 0, 0, 0
	for i := range reads {
		op := []string{"read", "download", "browse"}[i%3]
		rec := filesGet(h, op, "/sb/d/secret", "offset", "0")
		switch {
		case strings.Contains(rec.Body.String(), secretText):
			leaked++
		case rec.Code == 200:
			served++
		default:
			refused++
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d requests, %d swaps: %d served the harmless file, %d refused, %d leaked", reads, swaps.Load(), served, refused, leaked)
	if leaked != 0 {
		t.Fatalf("%d of %d requests returned the secret", leaked, reads)
	}
}
