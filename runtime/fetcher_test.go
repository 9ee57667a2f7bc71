package runtime

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ulikunitz/xz"

	"nodectl/cluster/api"
	"nodectl/runtime/internal/container/containertest"
)

// fileServer serves files from a map on 127.0.0.1 and counts requests per
// path. A path listed in hold blocks until its channel is closed (or the
// client goes away, which is recorded in gone).
type fileServer struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	hits  map[string]int
	hold  map[string]chan struct{}
	gone  chan string // paths whose client went away while held
}

func newFileServer(t testing.TB, files map[string][]byte) *fileServer {
	fs := &fileServer{files: files, hits: map[string]int{}, hold: map[string]chan struct{}{}, gone: make(chan string, 16)}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		fs.hits[r.URL.Path]++
		body, ok := fs.files[r.URL.Path]
		hold := fs.hold[r.URL.Path]
		fs.mu.Unlock()
		if hold != nil {
			w.WriteHeader(http.StatusOK) // headers out, body held
			w.(http.Flusher).Flush()
			select {
			case <-hold:
			case <-r.Context().Done():
				fs.gone <- r.URL.Path
				return
			}
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(fs.Close)
	return fs
}

func (fs *fileServer) count(p string) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.hits[p]
}

func testFetcher(t *testing.T, cfg FetcherConfig) (*fetcher, string) {
	t.Helper()
	wd := t.TempDir()
	f, err := newFetcher(cfg, wd, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	return f, wd
}

// sandbox makes a fresh sandbox directory under the work dir.
func newSandbox(t testing.TB, wd string) string {
	t.Helper()
	d, err := os.MkdirTemp(wd, "sandbox-")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func no() *bool { b := false; return &b }

// Plain, output_file and executable fetches; the fetch log is in the
// sandbox's stderr.
func TestFetchPlainAndExecutable(t *testing.T) {
	srv := newFileServer(t, map[string][]byte{"/d/hello.txt": []byte("hello\n"), "/tool.sh": []byte("#!/bin/sh\necho hi\n")})
	f, wd := testFetcher(t, FetcherConfig{})
	sb := newSandbox(t, wd)
	err := f.fetch(context.Background(), fetchRequest{sandbox: sb, uris: []api.CommandURI{
		{Value: srv.URL + "/d/hello.txt"},
		{Value: srv.URL + "/d/hello.txt", OutputFile: "sub/dir/renamed.txt"},
		{Value: srv.URL + "/tool.sh", Executable: true},
		{Value: srv.URL + "/d/hello.txt", OutputFile: "/abs/in/sandbox.txt"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(sb, "hello.txt")); got != "hello\n" {
		t.Errorf("hello.txt = %q", got)
	}
	if got := readFile(t, filepath.Join(sb, "sub/dir/renamed.txt")); got != "hello\n" {
		t.Errorf("output_file = %q", got)
	}
	if got := readFile(t, filepath.Join(sb, "abs/in/sandbox.txt")); got != "hello\n" {
		t.Errorf("absolute output_file = %q, want it inside the sandbox as Mesos has it", got)
	}
	if m := mode(t, filepath.Join(sb, "hello.txt")); m != 0o644 {
		t.Errorf("plain file mode %v, want 0644", m)
	}
	if m := mode(t, filepath.Join(sb, "tool.sh")); m != 0o755 {
		t.Errorf("executable mode %v, want 0755", m)
	}
	if log := readFile(t, filepath.Join(sb, "stderr")); !strings.Contains(log, "Fetching URI '"+srv.URL+"/tool.sh'") || !strings.Contains(log, "Made 'tool.sh' executable") {
		t.Errorf("fetch log in stderr:\n%s", log)
	}
}

// archive builds an archive of kind holding dir/a.txt ("A"), b.txt ("B")
// and a link l -> dir/a.txt (tar kinds).
func archive(t *testing.T, kind archiveType) []byte {
	t.Helper()
	if kind == archiveZip {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for name, body := range map[string]string{"dir/a.txt": "A", "b.txt": "B"} {
			w, err := zw.Create(name)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = w.Write([]byte(body))
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	if kind == archiveGz {
		return gz(t, []byte("single file\n"))
	}
	raw := tarOf(t, []tar.Header{
		{Name: "dir/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "dir/a.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1},
		{Name: "./b.txt", Typeflag: tar.TypeReg, Mode: 0o755, Size: 1},
		{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "dir/a.txt"},
	}, "A", "B")
	switch kind {
	case archiveTarGz:
		return gz(t, raw)
	case archiveTarBz2:
		if _, err := exec.LookPath("bzip2"); err != nil {
			t.Skip("no bzip2 program to build a .tbz2 with")
		}
		cmd := exec.Command("bzip2", "-c")
		cmd.Stdin = bytes.NewReader(raw)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		return out
	case archiveTarXz:
		var buf bytes.Buffer
		w, err := xz.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(raw)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	return raw
}

// tarOf writes headers in order, regular files taking the next body.
func tarOf(t *testing.T, hs []tar.Header, bodies ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(bodies[0]))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			_, _ = tw.Write([]byte(bodies[0]))
			bodies = bodies[1:]
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Each archive type is extracted into the sandbox's top directory (from
// the cache too); extract=false leaves it as fetched; a name that is no
// archive is fetched as is.
func TestFetchArchives(t *testing.T) {
	kinds := map[string]archiveType{
		"a.tar": archiveTar, "a.tgz": archiveTarGz, "a.tar.gz": archiveTarGz, "a.tbz2": archiveTarBz2,
		"a.tar.bz2": archiveTarBz2, "a.txz": archiveTarXz, "a.tar.xz": archiveTarXz, "a.zip": archiveZip, "notes.txt.gz": archiveGz,
	}
	files := map[string][]byte{}
	for name, k := range kinds {
		files["/"+name] = archive(t, k)
	}
	srv := newFileServer(t, files)
	f, wd := testFetcher(t, FetcherConfig{})
	for name, k := range kinds {
		for _, cache := range []bool{false, true} {
			sb := newSandbox(t, wd)
			if err := f.fetch(context.Background(), fetchRequest{sandbox: sb, uris: []api.CommandURI{{Value: srv.URL + "/" + name, Cache: cache}}}); err != nil {
				t.Fatalf("%s (cache %v): %v", name, cache, err)
			}
			if k == archiveGz {
				if got := readFile(t, filepath.Join(sb, "notes.txt")); got != "single file\n" {
					t.Errorf("%s: notes.txt = %q", name, got)
				}
				continue
			}
			if a, b := readFile(t, filepath.Join(sb, "dir/a.txt")), readFile(t, filepath.Join(sb, "b.txt")); a != "A" || b != "B" {
				t.Errorf("%s (cache %v): extracted %q %q", name, cache, a, b)
			}
			if k != archiveZip {
				if got := readFile(t, filepath.Join(sb, "l")); got != "A" {
					t.Errorf("%s: symlink reads %q", name, got)
				}
				if m := mode(t, filepath.Join(sb, "b.txt")); m != 0o755 {
					t.Errorf("%s: b.txt mode %v, want the archive's 0755", name, m)
				}
			}
		}
	}
	sb := newSandbox(t, wd)
	if err := f.fetch(context.Background(), fetchRequest{sandbox: sb, uris: []api.CommandURI{{Value: srv.URL + "/a.tgz", Extract: no()}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(sb, "b.txt")); err == nil {
		t.Error("extract=false extracted the archive")
	}
	if _, err := os.Stat(filepath.Join(sb, "a.tgz")); err != nil {
		t.Errorf("extract=false: archive not fetched: %v", err)
	}
}

// Two tasks fetching one cached URI at once share one download; a later
// task uses the cached file; least recently used files are evicted to keep
// the cache within its size.
func TestFetchCache(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 600)
	srv := newFileServer(t, map[string][]byte{"/shared.txt": []byte("shared"), "/one": big, "/two": big})
	release := make(chan struct{})
	srv.hold["/shared.txt"] = release
	f, wd := testFetcher(t, FetcherConfig{CacheSize: 1000})
	uri := srv.URL + "/shared.txt"
	var wg sync.WaitGroup
	sbs := []string{newSandbox(t, wd), newSandbox(t, wd)}
	errs := make([]error, 2)
	for i, sb := range sbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.fetch(context.Background(), fetchRequest{sandbox: sb, uris: []api.CommandURI{{Value: uri, Cache: true}}})
		}()
	}
	// Both tasks wait on the one download before it is let through.
	containertest.Eventually(t, time.Minute, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		e := f.entries[uri]
		return e != nil && e.waiters == 2
	}, "the two fetches did not both wait for the download")
	close(release)
	wg.Wait()
	for i, sb := range sbs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if got := readFile(t, filepath.Join(sb, "shared.txt")); got != "shared" {
			t.Errorf("task %d: %q", i, got)
		}
	}
	if n := srv.count("/shared.txt"); n != 1 {
		t.Fatalf("two tasks caused %d downloads, want 1", n)
	}
	sb := newSandbox(t, wd)
	if err := f.fetch(context.Background(), fetchRequest{sandbox: sb, uris: []api.CommandURI{{Value: uri, Cache: true}}}); err != nil {
		t.Fatal(err)
	}
	if n := srv.count("/shared.txt"); n != 1 {
		t.Errorf("a cache hit downloaded again (%d downloads)", n)
	}
	if !strings.Contains(readFile(t, filepath.Join(sb, "stderr")), "Using the cached copy") {
		t.Error("the fetch log does not say the cache was used")
	}

	// 600 + 600 bytes do not fit in 1000: the least recently used go
	// (shared.txt and /one when /two comes, then /two when /one comes back).
	for _, p := range []string{"/one", "/two", "/one"} {
		if err := f.fetch(context.Background(), fetchRequest{sandbox: newSandbox(t, wd), uris: []api.CommandURI{{Value: srv.URL + p, Cache: true}}}); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := srv.count("/one"), srv.count("/two"); a != 2 || b != 1 {
		t.Errorf("downloads /one %d /two %d, want 2 and 1 (LRU eviction)", a, b)
	}
	f.mu.Lock()
	used := f.used
	f.mu.Unlock()
	if used > 1000 {
		t.Errorf("cache holds %d bytes, more than its size 1000", used)
	}
	cached, _ := filepath.Glob(filepath.Join(f.cfg.CacheDir, cachePrefix+"*"))
	if len(cached) != 1 { // /one
		t.Errorf("cache files %v, want 1", cached)
	}
}

// A download larger than --fetcher-max-size fails, whether the server says
// its length or streams without end (as a 1 GB file would); the failure
// names the URI.
func TestFetchSizeBound(t *testing.T) {
	var streamed atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sized" {
			w.Header().Set("Content-Length", "1073741824") // 1 GiB announced
			w.WriteHeader(http.StatusOK)
			return
		}
		// Endless, no length: the bound stops it.
		chunk := bytes.Repeat([]byte("z"), 4096)
		for r.Context().Err() == nil {
			n, err := w.Write(chunk)
			streamed.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	f, wd := testFetcher(t, FetcherConfig{MaxSize: 64 << 10})
	for _, p := range []string{"/sized", "/endless.bin"} {
		for _, cache := range []bool{false, true} {
			sb := newSandbox(t, wd)
			err := f.fetch(context.Background(), fetchRequest{sandbox: sb, uris: []api.CommandURI{{Value: srv.URL + p, Cache: cache}}})
			var fe *FetchError
			if !errors.As(err, &fe) || fe.URI != srv.URL+p || !strings.Contains(err.Error(), srv.URL+p) || !strings.Contains(err.Error(), "--fetcher-max-size") {
				t.Fatalf("%s (cache %v): err %v, want a FetchError naming the URI and the bound", p, cache, err)
			}
			if _, err := os.Stat(filepath.Join(sb, filepath.Base(p))); err == nil {
				t.Errorf("%s: a partial file was left in the sandbox", p)
			}
		}
	}
	// An archive that extracts to more than the task's disk resource fails.
	bomb := newFileServer(t, map[string][]byte{"/bomb.tgz": gz(t, tarOf(t, []tar.Header{{Name: "zeros", Typeflag: tar.TypeReg, Mode: 0o644}}, strings.Repeat("\x00", 1<<20)))})
	err := f.fetch(context.Background(), fetchRequest{sandbox: newSandbox(t, wd), maxExtract: 64 << 10, uris: []api.CommandURI{{Value: bomb.URL + "/bomb.tgz"}}})
	if err == nil || !strings.Contains(err.Error(), "disk resource") {
		t.Errorf("archive extracting past the disk resource: err %v", err)
	}
	part, _ := filepath.Glob(filepath.Join(f.cfg.CacheDir, "*"))
	if len(part) != 0 {
		t.Errorf("partial downloads left in the cache: %v", part)
	}
}

// A failed download (404, unknown scheme, stall) fails naming the URI.
func TestFetchFailures(t *testing.T) {
	srv := newFileServer(t, map[string][]byte{})
	srv.hold["/stalls"] = make(chan struct{}) // never released
	f, wd := testFetcher(t, FetcherConfig{StallTimeout: 100 * time.Millisecond})
	for uri, want := range map[string]string{
		srv.URL + "/missing":  "received HTTP return code 404",
		srv.URL + "/stalls":   "stalled",
		"hdfs://nn/x.tgz":     "unsupported URI scheme",
		"relative/x":          "relative paths are not fetched",
		srv.URL + "/":         "names no file",
		"file://otherhost/xy": "only local files",
	} {
		err := f.fetch(context.Background(), fetchRequest{sandbox: newSandbox(t, wd), uris: []api.CommandURI{{Value: uri}}})
		if err == nil || !strings.Contains(err.Error(), "'"+uri+"'") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want one naming the URI and %q", uri, err, want)
		}
	}
}

// Local files: file:// and absolute paths are copied, unless they are (or
// lead) inside the agent's work dir.
func TestFetchLocalFiles(t *testing.T) {
	cacheDir := t.TempDir() // outside the work dir
	f, wd := testFetcher(t, FetcherConfig{CacheDir: cacheDir})
	outside := t.TempDir()
	src := filepath.Join(outside, "local.txt")
	if err := os.WriteFile(src, []byte("local"), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(wd, "admin.secret")
	if err := os.WriteFile(secret, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(outside, "innocent.txt")); err != nil {
		t.Fatal(err)
	}
	sb := newSandbox(t, wd)
	if err := f.fetch(context.Background(), fetchRequest{sandbox: sb, uris: []api.CommandURI{{Value: src}, {Value: "file://" + src, OutputFile: "again.txt"}}}); err != nil {
		t.Fatal(err)
	}
	if a, b := readFile(t, filepath.Join(sb, "local.txt")), readFile(t, filepath.Join(sb, "again.txt")); a != "local" || b != "local" {
		t.Errorf("local copies %q %q", a, b)
	}
	cached := filepath.Join(cacheDir, cachePrefix+"someone-else")
	if err := os.WriteFile(cached, []byte("private"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.fetch(context.Background(), fetchRequest{sandbox: newSandbox(t, wd), uris: []api.CommandURI{{Value: cached}}}); err == nil || !strings.Contains(err.Error(), "fetcher cache") {
		t.Errorf("a file of the cache: err %v, want a refusal naming the cache", err)
	}
	for _, uri := range []string{secret, "file://" + secret, filepath.Join(outside, "innocent.txt"), filepath.Join(outside, "..", filepath.Base(outside), "innocent.txt")} {
		sb := newSandbox(t, wd)
		err := f.fetch(context.Background(), fetchRequest{sandbox: sb, uris: []api.CommandURI{{Value: uri, OutputFile: "got"}}})
		if err == nil || !strings.Contains(err.Error(), "work dir") {
			t.Errorf("%s: err %v, want a refusal naming the work dir", uri, err)
		}
		if _, err := os.Stat(filepath.Join(sb, "got")); err == nil && readFile(t, filepath.Join(sb, "got")) != "" {
			t.Errorf("%s: the secret was copied", uri)
		}
	}
}

// Archives and output files that would write outside the sandbox are
// refused, and nothing lands outside it.
func TestFetchTraversal(t *testing.T) {
	reg := func(name string) tar.Header { return tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644} }
	sym := func(name, to string) tar.Header {
		return tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: to}
	}
	evil := map[string][]byte{
		"/dotdot.tar":      tarOf(t, []tar.Header{reg("../escaped")}, "x"),
		"/deep.tar":        tarOf(t, []tar.Header{reg("a/../../escaped")}, "x"),
		"/abs.tar":         tarOf(t, []tar.Header{reg("/tmp/escaped-abs")}, "x"),
		"/symabs.tar":      tarOf(t, []tar.Header{sym("l", "/etc")}),
		"/symup.tar":       tarOf(t, []tar.Header{sym("l", "../..")}),
		"/symchain.tar":    tarOf(t, []tar.Header{sym("l", "."), sym("m", "l/..")}),
		"/symwrite.tar":    tarOf(t, []tar.Header{sym("l", "."), reg("l/../escaped")}, "x"),
		"/hardlink.tar":    tarOf(t, []tar.Header{{Name: "h", Typeflag: tar.TypeLink, Linkname: "../escaped"}}),
		"/dev.tar":         tarOf(t, []tar.Header{{Name: "null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}}),
		"/zipslip.zip":     zipOf(t, "../escaped"),
		"/zipabs.zip":      zipOf(t, "/tmp/escaped-abs"),
		"/output-file.txt": []byte("x"),
	}
	srv := newFileServer(t, evil)
	f, wd := testFetcher(t, FetcherConfig{})
	for p := range evil {
		// Each sandbox is two levels down, so "../escaped" and
		// "../../escaped" land in directories this test checks.
		parent := newSandbox(t, wd)
		sb := filepath.Join(parent, "a", "sandbox")
		if err := os.MkdirAll(sb, 0o755); err != nil {
			t.Fatal(err)
		}
		u := api.CommandURI{Value: srv.URL + p}
		if p == "/output-file.txt" {
			u.OutputFile = "../escaped"
		}
		err := f.fetch(context.Background(), fetchRequest{sandbox: sb, uris: []api.CommandURI{u}})
		var fe *FetchError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), srv.URL+p) {
			t.Errorf("%s: err %v, want a refusal naming the URI", p, err)
		}
		for _, d := range []string{filepath.Join(parent, "a"), parent} {
			if _, err := os.Lstat(filepath.Join(d, "escaped")); err == nil {
				t.Errorf("%s: wrote %s outside the sandbox", p, filepath.Join(d, "escaped"))
			}
		}
	}
	if _, err := os.Lstat("/tmp/escaped-abs"); err == nil {
		t.Error("an absolute entry was written to /tmp")
	}
	// A symlink that stays inside (lib/x -> ../other/x) is fine.
	ok := tarOf(t, []tar.Header{{Name: "other/", Typeflag: tar.TypeDir, Mode: 0o755}, reg("other/x"), {Name: "lib/", Typeflag: tar.TypeDir, Mode: 0o755}, sym("lib/x", "../other/x")}, "inside")
	srv.mu.Lock()
	srv.files["/ok.tar"] = ok
	srv.mu.Unlock()
	sb := newSandbox(t, wd)
	if err := f.fetch(context.Background(), fetchRequest{sandbox: sb, uris: []api.CommandURI{{Value: srv.URL + "/ok.tar"}}}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(sb, "lib/x")); got != "inside" {
		t.Errorf("lib/x = %q", got)
	}
}

func zipOf(t *testing.T, name string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write([]byte("x"))
	_ = zw.Close()
	return buf.Bytes()
}

// Cancelling a fetch (the task's KILL) stops its download, cached or not,
// and nothing is left downloading: the server sees the client go away
// before fetch returns.
func TestFetchCancelStopsDownload(t *testing.T) {
	srv := newFileServer(t, map[string][]byte{"/slow": []byte("never")})
	srv.hold["/slow"] = make(chan struct{})
	f, wd := testFetcher(t, FetcherConfig{})
	for _, cache := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- f.fetch(ctx, fetchRequest{sandbox: newSandbox(t, wd), uris: []api.CommandURI{{Value: srv.URL + "/slow", Cache: cache}}})
		}()
		containertest.Eventually(t, time.Minute, func() bool { return srv.count("/slow") > 0 }, "the download did not start")
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("cache %v: err %v, want context.Canceled", cache, err)
		}
		select {
		case <-srv.gone:
		default:
			// The server's handler may see the client leave a moment after
			// fetch returned for the uncached case (the body's close); wait.
			<-srv.gone
		}
		srv.mu.Lock()
		srv.hits = map[string]int{}
		srv.mu.Unlock()
		f.mu.Lock()
		if n := len(f.entries); n != 0 {
			t.Errorf("cache %v: %d cache entries left after the cancel", cache, n)
		}
		f.mu.Unlock()
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"2GB": 2 << 30, "512MB": 512 << 20, "1048576": 1 << 20, "10KB": 10 << 10, "3B": 3, "1.5GB": 3 << 29} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "GB", "-1MB", "2XB"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) accepted", bad)
		}
	}
}
