package runtime

// The Mesos fetcher: before a task's container starts, the URIs of its
// CommandInfo are downloaded into the sandbox, made executable or
// extracted, optionally through a shared cache. Semantics follow
// http://mesos.apache.org/documentation/latest/fetcher/ and Mesos'
// src/launcher/fetcher.cpp:
//
//   - http:// and https:// URIs are downloaded; file:// URIs and absolute
//     paths are copied from the agent's filesystem. Other schemes (hdfs,
//     ftp, s3, ...) and relative paths (Mesos resolves them under
//     --frameworks_home) are refused.
//   - A local path inside the agent's work dir is refused, whatever it
//     resolves through: it holds the node's secrets (admin.secret, keys,
//     checkpoints) and other tasks' sandboxes. Mesos copies any path the
//     agent can read; nodectl keeps that for paths outside the work dir
//     (and outside --fetcher-cache-dir: other tasks' downloads).
//   - The file lands in the sandbox as output_file (Marathon's destPath),
//     else the URI's basename; output_file is relative to the sandbox
//     (a leading "/" too, as Mesos joins it) and may not leave it ("..").
//   - executable: chmod 0755, never extracted. extract (the default):
//     .tar, .tgz/.tar.gz, .tbz2/.tar.bz2, .txz/.tar.xz and .zip are
//     extracted into the sandbox's top directory, a bare .gz is gunzipped
//     there; other names are left as fetched.
//   - cache: the download goes to --fetcher-cache-dir once and is copied or
//     extracted from there; tasks asking for the same URI at once share one
//     download. The cache is bounded by --fetcher-cache-size, least
//     recently used files go first, and it is emptied when the agent
//     starts (as Mesos does).
//   - Every download is bounded: it fails after --fetcher-stall-timeout
//     without a byte (Mesos' --fetcher_stall_timeout), and past
//     --fetcher-max-size bytes (nodectl's; Mesos has none).
//   - Archives are extracted beneath an os.Root on the sandbox: entries
//     with absolute paths or "..", links pointing out of the sandbox and
//     device files are refused; the extracted bytes are bounded by the
//     task's disk resource when it has one.
//   - The fetch log goes to the sandbox's stderr, as Mesos' fetcher
//     writes it there, before the task's own output.
//
// A failure ends the task TASK_FAILED, REASON_FETCHER_FAILED, with a
// message naming the URI.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"nodectl/cluster/api"
)

// Fetcher defaults.
const (
	// DefaultFetcherCacheSize is Mesos' --fetcher_cache_size default (2GB).
	DefaultFetcherCacheSize int64 = 2 << 30
	// DefaultFetcherStallTimeout is Mesos' --fetcher_stall_timeout default.
	DefaultFetcherStallTimeout = time.Minute
	// DefaultFetcherMaxSize bounds one download (nodectl's; Mesos has none).
	DefaultFetcherMaxSize int64 = 1 << 30
)

// FetcherConfig configures the fetcher. Zero values are the defaults.
type FetcherConfig struct {
	// CacheDir holds cached downloads; default <work-dir>/fetch.
	CacheDir string
	// CacheSize bounds the cache in bytes; default DefaultFetcherCacheSize.
	CacheSize int64
	// StallTimeout fails a download that receives nothing for this long;
	// default DefaultFetcherStallTimeout.
	StallTimeout time.Duration
	// MaxSize fails a download larger than this many bytes; default
	// DefaultFetcherMaxSize.
	MaxSize int64
}

// ParseBytes parses a Mesos Bytes flag value: a number with an optional
// unit B, KB, MB, GB or TB (powers of 1024, as Mesos' stout/bytes.hpp).
func ParseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}}
	mult := int64(1)
	num := s
	for _, u := range units {
		if n, ok := strings.CutSuffix(strings.ToUpper(s), u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a size such as 2GB, 512MB or 1048576", s)
	}
	return int64(v * float64(mult)), nil
}

// FetchError is a failed fetch of one URI.
type FetchError struct {
	URI string
	Err error
}

func (e *FetchError) Error() string { return fmt.Sprintf("Failed to fetch '%s': %v", e.URI, e.Err) }
func (e *FetchError) Unwrap() error { return e.Err }

// errStalled is the cause of a download cancelled by the stall timeout.
var errStalled = errors.New("stalled")

// fetcher downloads URIs into sandboxes, through its cache when asked.
type fetcher struct {
	cfg      FetcherConfig
	workDir  string // resolved; local URIs inside are refused
	cacheDir string // resolved; so are those in the cache (other tasks' downloads)
	// hidden reports a resolved host path that tasks never see (the
	// container's hidden paths); local URIs there are refused. nil: none.
	hidden func(string) bool
	client *http.Client
	log    *slog.Logger

	mu      sync.Mutex
	entries map[string]*cacheEntry // by URI
	used    int64                  // bytes of the entries in the map that are complete
	clock   uint64                 // use counter for LRU
	seq     uint64                 // cache file names
}

// cacheEntry is one URI in the cache.
type cacheEntry struct {
	key, file string
	done      chan struct{} // closed when the download ended; then err and size are set
	err       error
	size      int64
	cancel    context.CancelFunc // the download's
	// Guarded by fetcher.mu.
	waiters int    // fetches waiting for the download
	refs    int    // fetches copying or extracting from the file
	lastUse uint64 // fetcher.clock at the last use
	evicted bool   // out of the map: the file goes when no one uses it
}

// newFetcher makes a fetcher; it empties the cache directory of files a
// previous run left, as Mesos does at agent start.
func newFetcher(cfg FetcherConfig, workDir string, log *slog.Logger) (*fetcher, error) {
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(workDir, "fetch")
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultFetcherCacheSize
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = DefaultFetcherStallTimeout
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultFetcherMaxSize
	}
	wd, err := filepath.Abs(workDir)
	if err != nil {
		return nil, err
	}
	if r, err := filepath.EvalSymlinks(wd); err == nil {
		wd = r
	}
	if err := os.MkdirAll(cfg.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("fetcher cache dir: %w", err)
	}
	cd, err := filepath.Abs(cfg.CacheDir)
	if err != nil {
		return nil, err
	}
	if r, err := filepath.EvalSymlinks(cd); err == nil {
		cd = r
	}
	// Only our own files: the directory may be one the operator shares.
	old, _ := filepath.Glob(filepath.Join(cfg.CacheDir, cachePrefix+"*"))
	for _, f := range old {
		_ = os.Remove(f)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = cfg.StallTimeout
	return &fetcher{
		cfg: cfg, workDir: wd, cacheDir: cd, log: log, entries: map[string]*cacheEntry{},
		client: &http.Client{Transport: tr},
	}, nil
}

const cachePrefix = "uri-"

// fetchRequest is what one task fetches.
type fetchRequest struct {
	uris    []api.CommandURI
	sandbox string
	// maxExtract bounds the bytes extracted from archives (the task's disk
	// resource); 0: no bound.
	maxExtract int64
	// owner, when set, gets the fetched files (the task's user).
	owner *fileOwner
	// reader, when set, is who local files (file:// URIs and absolute
	// paths) are opened as: the user the task asked to run as. Mesos runs
	// its fetcher as the task's user, so a task can fetch only what that
	// user may read. nil: the agent's own user.
	reader *taskUser
}

// fileOwner is a uid and gid.
type fileOwner struct{ uid, gid int }

// fetch fetches every URI of req into its sandbox, in order. It stops at
// the first failure, a *FetchError. ctx is the task's kill context: when it
// ends, downloads stop (a shared cache download once no other task waits
// for it) and fetch returns ctx's error.
func (f *fetcher) fetch(ctx context.Context, req fetchRequest) error {
	if len(req.uris) == 0 {
		return nil
	}
	root, err := os.OpenRoot(req.sandbox)
	if err != nil {
		return fmt.Errorf("open sandbox: %w", err)
	}
	defer root.Close()
	logw := newFetchLog(root)
	defer logw.Close()
	for _, u := range req.uris {
		logw.printf("Fetching URI '%s'", u.Value)
		err := f.fetchOne(ctx, root, req, u, logw)
		if err != nil {
			if ctx.Err() != nil {
				logw.printf("Fetch of '%s' stopped: the task was killed", u.Value)
				return ctx.Err()
			}
			logw.printf("Failed to fetch '%s': %v", u.Value, err)
			return &FetchError{URI: u.Value, Err: err}
		}
	}
	if req.owner != nil {
		if err := chownTree(root, *req.owner); err != nil {
			return fmt.Errorf("give the fetched files to the task's user: %w", err)
		}
	}
	logw.printf("Fetched %d URI(s)", len(req.uris))
	return nil
}

// fetchOne fetches one URI into root.
func (f *fetcher) fetchOne(ctx context.Context, root *os.Root, req fetchRequest, u api.CommandURI, logw *fetchLog) error {
	src, err := parseSource(u.Value)
	if err != nil {
		return err
	}
	out := u.OutputFile
	if out == "" {
		out = src.base
	}
	// Mesos joins output_file to the sandbox (stout's path::join), so a
	// leading "/" stays inside it.
	out = filepath.Clean(strings.TrimLeft(out, "/"))
	if !filepath.IsLocal(out) {
		return fmt.Errorf("output file %q is not a relative path inside the sandbox", u.OutputFile)
	}
	if d := filepath.Dir(out); d != "." {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s in the sandbox: %w", d, err)
		}
	}
	extract := (u.Extract == nil || *u.Extract) && !u.Executable
	kind := archiveKind(out)

	// open opens the fetched file: the cache's, or the one in the sandbox
	// (through root).
	var open func() (*os.File, error)
	// Local files are not cached: the cache is shared by every user, and a
	// local copy is no cheaper from it.
	if u.Cache && src.local == "" {
		e, hit, err := f.acquire(ctx, src, logw)
		if err != nil {
			return err
		}
		defer f.release(e)
		if hit {
			logw.printf("Using the cached copy of '%s' (%d bytes)", u.Value, e.size)
		}
		open = func() (*os.File, error) { return os.Open(e.file) }
		if !extract || kind == archiveNone {
			if err := copyIntoRoot(ctx, root, out, e.file); err != nil {
				return err
			}
		}
	} else {
		w, err := root.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return fmt.Errorf("create %s in the sandbox: %w", out, err)
		}
		logw.printf("Downloading resource from '%s' to '%s'", u.Value, out)
		n, err := f.download(ctx, src, w, req.reader)
		if cerr := w.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			_ = root.Remove(out)
			return err
		}
		logw.printf("Downloaded %d bytes", n)
		open = func() (*os.File, error) { return root.Open(out) }
	}
	switch {
	case u.Executable:
		if err := root.Chmod(out, 0o755); err != nil {
			return fmt.Errorf("chmod %s: %w", out, err)
		}
		logw.printf("Made '%s' executable", out)
	case extract && kind != archiveNone:
		n, err := extractArchive(ctx, root, open, out, kind, req.maxExtract)
		if err != nil {
			return fmt.Errorf("extract %s: %w", out, err)
		}
		logw.printf("Extracted '%s' into the sandbox (%d bytes)", out, n)
	case extract:
		logw.printf("Copying instead of extracting resource from URI with 'extract' flag, because it does not seem to be an archive: %s", u.Value)
	}
	return nil
}

// source is a parsed URI.
type source struct {
	uri   string // as given, leading blanks trimmed
	local string // the path, for file:// and absolute paths
	base  string // the default output file name
}

func parseSource(raw string) (source, error) {
	s := source{uri: strings.TrimLeft(raw, " \t\n")}
	if strings.HasPrefix(s.uri, "/") {
		s.local = filepath.Clean(s.uri)
	} else {
		pu, err := url.Parse(s.uri)
		if err != nil {
			return s, fmt.Errorf("not a URI: %w", err)
		}
		switch strings.ToLower(pu.Scheme) {
		case "http", "https":
			s.base = path.Base(pu.Path)
		case "file":
			if pu.Host != "" && pu.Host != "localhost" {
				return s, fmt.Errorf("file URI with host %q: only local files can be fetched", pu.Host)
			}
			if !strings.HasPrefix(pu.Path, "/") {
				return s, errors.New("file URI without an absolute path")
			}
			s.local = filepath.Clean(pu.Path)
		case "":
			return s, errors.New("relative paths are not fetched (Mesos resolves them under --frameworks_home, which nodectl has not); give an absolute path, file:// or http(s):// URI")
		default:
			return s, fmt.Errorf("unsupported URI scheme %q: http, https, file:// and absolute paths are fetched", pu.Scheme)
		}
	}
	if s.local != "" {
		s.base = filepath.Base(s.local)
	}
	if s.base == "" || s.base == "/" || s.base == "." || s.base == ".." {
		return s, errors.New("the URI names no file: give an output file")
	}
	return s, nil
}

// download writes src to w, bounded by the stall timeout and the size
// bound; it returns the bytes written. A local file is opened as reader.
func (f *fetcher) download(ctx context.Context, src source, w io.Writer, reader *taskUser) (int64, error) {
	if src.local != "" {
		return f.copyLocal(ctx, src.local, w, reader)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(f.cfg.StallTimeout, func() { cancel(errStalled) })
	defer stall.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.uri, nil)
	if err != nil {
		return 0, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, f.downloadErr(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("error downloading resource, received HTTP return code %d", resp.StatusCode)
	}
	if resp.ContentLength > f.cfg.MaxSize {
		return 0, f.tooBig(resp.ContentLength)
	}
	body := &stallReader{r: resp.Body, t: stall, d: f.cfg.StallTimeout}
	n, err := io.Copy(w, io.LimitReader(body, f.cfg.MaxSize+1))
	if err != nil {
		return n, f.downloadErr(ctx, err)
	}
	if n > f.cfg.MaxSize {
		return n, f.tooBig(n)
	}
	return n, nil
}

func (f *fetcher) tooBig(n int64) error {
	return fmt.Errorf("the resource is larger (%d bytes so far) than the agent's --fetcher-max-size of %d bytes", n, f.cfg.MaxSize)
}

func (f *fetcher) downloadErr(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), errStalled) {
		return fmt.Errorf("download stalled: nothing received for %s (--fetcher-stall-timeout)", f.cfg.StallTimeout)
	}
	return fmt.Errorf("download: %w", err)
}

// stallReader re-arms the stall timer whenever bytes arrive.
type stallReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.t.Reset(s.d)
	}
	return n, err
}

// copyLocal copies a local file, opened as reader (see openAs), refusing
// one inside the work dir, the fetcher cache or a path hidden from tasks.
// The check is on the file actually opened (through /proc/self/fd), so a
// symlink swapped in between cannot get around it.
func (f *fetcher) copyLocal(ctx context.Context, p string, w io.Writer, reader *taskUser) (int64, error) {
	in, err := openAs(p, reader)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(in.Fd())))
	if err != nil {
		return 0, fmt.Errorf("resolve %s: %w", p, err)
	}
	for _, d := range []struct{ dir, what string }{{f.workDir, "the agent's work dir"}, {f.cacheDir, "the fetcher cache"}} {
		if real == d.dir || strings.HasPrefix(real, d.dir+"/") {
			return 0, fmt.Errorf("%s is inside %s %s, which tasks never fetch from", p, d.what, d.dir)
		}
	}
	if f.hidden != nil && f.hidden(real) {
		return 0, fmt.Errorf("%s is a host path hidden from tasks (--task-hidden-paths and the host's secrets), which tasks never fetch from", p)
	}
	st, err := in.Stat()
	if err != nil {
		return 0, err
	}
	if !st.Mode().IsRegular() {
		return 0, fmt.Errorf("%s is not a regular file", p)
	}
	if st.Size() > f.cfg.MaxSize {
		return 0, f.tooBig(st.Size())
	}
	n, err := io.Copy(w, io.LimitReader(ctxReader{ctx, in}, f.cfg.MaxSize+1))
	if err == nil && n > f.cfg.MaxSize {
		err = f.tooBig(n)
	}
	return n, err
}

// ctxReader stops reading once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// copyIntoRoot copies the host file from to name beneath root.
func copyIntoRoot(ctx context.Context, root *os.Root, name, from string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create %s in the sandbox: %w", name, err)
	}
	_, err = io.Copy(out, ctxReader{ctx, in})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// acquire returns the cache entry of src, downloading it unless it is
// there or being downloaded (then it waits for that download). hit says
// it was already complete. release must follow.
func (f *fetcher) acquire(ctx context.Context, src source, logw *fetchLog) (e *cacheEntry, hit bool, err error) {
	f.mu.Lock()
	e = f.entries[src.uri]
	if e == nil {
		// One file per entry: an entry dropped while its download stops
		// never touches the file of the one that replaces it.
		sum := sha256.Sum256([]byte(src.uri))
		f.seq++
		name := fmt.Sprintf("%s%s-%d", cachePrefix, hex.EncodeToString(sum[:12]), f.seq)
		e = &cacheEntry{key: src.uri, file: filepath.Join(f.cfg.CacheDir, name), done: make(chan struct{})}
		var dctx context.Context
		// The download outlives any one task: it stops when no task
		// waits for it any more.
		dctx, e.cancel = context.WithCancel(context.Background())
		f.entries[src.uri] = e
		logw.printf("Downloading resource from '%s' into the fetcher cache", src.uri)
		go f.fill(dctx, e, src)
	} else {
		select {
		case <-e.done:
			hit = true
		default:
			logw.printf("Waiting for the download of '%s' another task started", src.uri)
		}
	}
	e.waiters++
	f.mu.Unlock()

	select {
	case <-e.done:
	case <-ctx.Done():
	}
	f.mu.Lock()
	e.waiters--
	if ctx.Err() != nil {
		last := e.waiters == 0 && !isDone(e.done)
		if last {
			// No one else waits: stop the download, and wait for it to stop
			// so nothing is left running.
			if f.entries[e.key] == e {
				delete(f.entries, e.key)
			}
			e.cancel()
		}
		f.dropLocked(e)
		f.mu.Unlock()
		if last {
			<-e.done
		}
		return nil, false, ctx.Err()
	}
	if e.err != nil {
		f.mu.Unlock()
		return nil, false, e.err
	}
	e.refs++
	f.clock++
	e.lastUse = f.clock
	f.mu.Unlock()
	return e, hit, nil
}

func isDone(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// fill downloads e's URI into its cache file, then accounts for it and
// evicts what no longer fits.
func (f *fetcher) fill(ctx context.Context, e *cacheEntry, src source) {
	defer e.cancel()
	tmp := e.file + ".part"
	n, err := func() (int64, error) {
		w, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return 0, err
		}
		n, err := f.download(ctx, src, w, nil) // never local: local files are not cached
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp, e.file)
		}
		return n, err
	}()
	if err != nil {
		_ = os.Remove(tmp)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	e.err, e.size = err, n
	switch {
	case err != nil || f.entries[e.key] != e:
		if f.entries[e.key] == e {
			delete(f.entries, e.key)
		}
		e.evicted = true
		if err == nil {
			f.dropLocked(e)
		}
	default:
		f.used += n
		f.evictLocked()
		if f.used > f.cfg.CacheSize {
			// Larger than what can be freed: used once, not kept.
			delete(f.entries, e.key)
			f.used -= n
			e.evicted = true
			f.log.Info("fetched file not kept in the fetcher cache: it does not fit", "uri", e.key, "bytes", n, "cache_size", f.cfg.CacheSize)
		}
	}
	close(e.done)
}

// evictLocked removes least recently used entries no one is using until
// the cache fits its size (or only entries in use are left).
func (f *fetcher) evictLocked() {
	for f.used > f.cfg.CacheSize {
		var lru *cacheEntry
		for _, c := range f.entries {
			if !isDone(c.done) || c.refs > 0 || c.waiters > 0 {
				continue
			}
			if lru == nil || c.lastUse < lru.lastUse {
				lru = c
			}
		}
		if lru == nil {
			return
		}
		delete(f.entries, lru.key)
		f.used -= lru.size
		lru.evicted = true
		f.dropLocked(lru)
		f.log.Info("evicted from the fetcher cache", "uri", lru.key, "bytes", lru.size)
	}
}

// dropLocked removes an evicted entry's file once no one uses it.
func (f *fetcher) dropLocked(e *cacheEntry) {
	if e.evicted && e.refs == 0 && e.waiters == 0 {
		_ = os.Remove(e.file)
	}
}

// release ends a use of an entry acquire returned.
func (f *fetcher) release(e *cacheEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e.refs--
	f.dropLocked(e)
}

// fetchLog appends the fetch log to the sandbox's stderr, where Mesos'
// fetcher writes it (the task's output is appended after it).
type fetchLog struct {
	w io.WriteCloser
}

func newFetchLog(root *os.Root) *fetchLog {
	w, err := root.OpenFile("stderr", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return &fetchLog{}
	}
	return &fetchLog{w: w}
}

func (l *fetchLog) printf(format string, args ...any) {
	if l.w == nil {
		return
	}
	fmt.Fprintf(l.w, "%s fetcher: %s\n", time.Now().UTC().Format("2006-01-02 15:04:05.000"), fmt.Sprintf(format, args...))
}

func (l *fetchLog) Close() {
	if l.w != nil {
		_ = l.w.Close()
	}
}

// fetchForLaunch fetches the task's CommandInfo.uris into its sandbox,
// before the launch takes a start slot (a long download must not hold
// other tasks' starts), under the task's kill context. It reports whether
// the launch goes on; if not, it has ended the task: TASK_KILLED for a
// KILL during the fetch, TASK_FAILED/REASON_FETCHER_FAILED for a failed
// fetch (nothing for an agent detaching: recovery settles the task).
func (a *Agent) fetchForLaunch(ctx context.Context, t *task) bool {
	if t.info.Command == nil || len(t.info.Command.URIs) == 0 {
		return true
	}
	sandbox, err := a.makeTaskSandbox(t) // a task of a group: its sandbox in the group's
	if err == nil {
		t.sandbox = sandbox
		err = a.fetchURIs(t.launchCtx, t)
	}
	switch {
	case err == nil:
		return true
	case ctx.Err() != nil:
		return false
	case t.launchCtx.Err() != nil:
		a.launchKilled(t, "fetching its URIs")
		return false
	}
	reason := api.ReasonContainerLaunchFailed
	if fe := (*FetchError)(nil); errors.As(err, &fe) {
		reason = api.ReasonFetcherFailed
	}
	a.endLaunch(t)
	a.setState(t, api.TaskFailed, reason, err.Error(), nil)
	return false
}

// fetchURIs fetches the task's URIs into t.sandbox under ctx.
func (a *Agent) fetchURIs(ctx context.Context, t *task) error {
	if a.fetcher == nil {
		return &FetchError{URI: t.info.Command.URIs[0].Value, Err: errors.New("the agent has no fetcher")}
	}
	req := fetchRequest{
		uris: t.info.Command.URIs, sandbox: t.sandbox,
		maxExtract: int64(t.info.Resources.Scalar("disk") * (1 << 20)),
		// The task's user is known only once its image is pulled: taskUser
		// gives it the sandbox's files then.
		owner: nil,
	}
	if hasLocalURI(t.info.Command.URIs) {
		// Local files are read as the user the task asked for (its
		// command's, else its framework's), looked up on the host: an
		// image's USER is not known yet, and is no authority over the
		// agent's files anyway.
		u, err := resolveTaskUser(t.info, t.framework, !a.cfg.NoSwitchUser, "", "")
		if err != nil {
			return &FetchError{URI: t.info.Command.URIs[0].Value, Err: fmt.Errorf("local files are read as the task's user: %w", err)}
		}
		req.reader = &u
	}
	return a.fetcher.fetch(ctx, req)
}

// hasLocalURI reports whether any of uris is a local file.
func hasLocalURI(uris []api.CommandURI) bool {
	for _, u := range uris {
		if s, err := parseSource(u.Value); err == nil && s.local != "" {
			return true
		}
	}
	return false
}
