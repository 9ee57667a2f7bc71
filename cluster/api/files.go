package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// The Mesos files API (/files/browse, /files/read, /files/download), shared
// by the master (its log) and the agent (sandboxes, its log). Each side
// supplies a FileResolver that maps its virtual paths to real ones.

// FileInfo is one entry of /files/browse (Mesos FileInfo model).
type FileInfo struct {
	Path  string `json:"path"`
	Nlink uint64 `json:"nlink"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime"`
	Mode  string `json:"mode"`
	UID   string `json:"uid"`
	GID   string `json:"gid"`
}

// FileChunk is the body of /files/read.
type FileChunk struct {
	Data   string `json:"data"`
	Offset int64  `json:"offset"`
}

// Errors a FileResolver returns.
var (
	// ErrFileNotFound: the virtual path names nothing this node serves.
	ErrFileNotFound = Kind(ErrNotFound, "file not found")
	// ErrFileOutside: the path resolves (through a symlink) outside the
	// directory it belongs to.
	ErrFileOutside = Kind(ErrForbidden, "path leads outside the sandbox")
)

// FileTarget is where a virtual path lives: Rel beneath the directory
// Root. Root is trusted (the node made it); everything in Rel may be
// controlled by a task. Every open goes through an os.Root at Root: each
// component is opened relative to the directory already open, and
// symlinks are resolved inside Root or refused (RESOLVE_BENEATH's
// guarantee), so no component of Rel can leave Root, even when a task
// swaps a directory for a symlink during the request.
type FileTarget struct {
	Root string
	Rel  string // slash-separated, relative; "" or "." is Root itself
}

// FileAt is the target for one file the node itself names (its log): the
// file beneath its directory, symlinks in the trusted path resolved first.
func FileAt(file string) FileTarget {
	if p, err := filepath.EvalSymlinks(file); err == nil {
		file = p
	}
	return FileTarget{Root: filepath.Dir(file), Rel: filepath.Base(file)}
}

// FileResolver maps a clean absolute virtual path (no "..") to the
// directory and the path beneath it to serve.
type FileResolver func(virtual string) (FileTarget, error)

// openTarget opens t beneath its root. It does not block on a FIFO a task
// left in its sandbox (O_NONBLOCK; only regular files are read).
func openTarget(virtual string, t FileTarget) (*os.File, error) {
	root, err := os.OpenRoot(t.Root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", virtual, ErrFileNotFound)
	}
	defer root.Close()
	rel := t.Rel
	if rel == "" {
		rel = "."
	}
	f, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	switch {
	case err == nil:
		return f, nil
	case escapes(err):
		return nil, fmt.Errorf("%s: %w", virtual, ErrFileOutside)
	default:
		return nil, fmt.Errorf("%s: %w", virtual, ErrFileNotFound)
	}
}

// escapes reports whether err is os.Root refusing a path that leaves the
// root (its error is unexported: "path escapes from parent").
func escapes(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Err != nil && strings.Contains(pe.Err.Error(), "escapes")
}

// filesReadPages caps one /files/read at 16 pages, as Mesos does.
const filesReadPages = 16

// FilesReadCap is the most bytes one /files/read returns.
var FilesReadCap = int64(filesReadPages * os.Getpagesize())

// FilesHandler serves GET /files/browse, /files/read and /files/download
// (and the same under prefix, e.g. "/slave(1)") with resolve.
func FilesHandler(resolve FileResolver, prefixes ...string) http.Handler {
	mux := http.NewServeMux()
	for _, p := range append([]string{""}, prefixes...) {
		mux.HandleFunc("GET "+p+"/files/browse", func(w http.ResponseWriter, r *http.Request) { browse(w, r, resolve) })
		mux.HandleFunc("GET "+p+"/files/browse.json", func(w http.ResponseWriter, r *http.Request) { browse(w, r, resolve) })
		mux.HandleFunc("GET "+p+"/files/read", func(w http.ResponseWriter, r *http.Request) { read(w, r, resolve) })
		mux.HandleFunc("GET "+p+"/files/read.json", func(w http.ResponseWriter, r *http.Request) { read(w, r, resolve) })
		mux.HandleFunc("GET "+p+"/files/download", func(w http.ResponseWriter, r *http.Request) { download(w, r, resolve) })
		mux.HandleFunc("GET "+p+"/files/download.json", func(w http.ResponseWriter, r *http.Request) { download(w, r, resolve) })
	}
	return mux
}

// virtualPath validates the path query parameter; ok=false: a 400 was written.
func virtualPath(w http.ResponseWriter, r *http.Request) (string, bool) {
	p := r.URL.Query().Get("path")
	if p == "" {
		filesError(w, http.StatusBadRequest, "Expecting 'path=value' in query.")
		return "", false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			filesError(w, http.StatusBadRequest, "Path must not contain '..': "+p)
			return "", false
		}
	}
	return path.Clean("/" + p), true
}

// open resolves a virtual path and opens it beneath its root, writing the
// error response; the caller closes f.
func open(w http.ResponseWriter, r *http.Request, resolve FileResolver) (virtual string, f *os.File, fi os.FileInfo, ok bool) {
	virtual, ok = virtualPath(w, r)
	if !ok {
		return "", nil, nil, false
	}
	t, err := resolve(virtual)
	if err == nil {
		f, err = openTarget(virtual, t)
	}
	if err == nil {
		if fi, err = f.Stat(); err != nil {
			_ = f.Close()
			err = fmt.Errorf("%s: %w", virtual, ErrFileNotFound)
		}
	}
	switch {
	case err == nil:
		return virtual, f, fi, true
	case errors.Is(err, ErrFileOutside):
		filesError(w, http.StatusForbidden, "Path '"+virtual+"' leads outside the sandbox")
	default:
		filesError(w, http.StatusNotFound, "No file or directory found at path '"+virtual+"'")
	}
	return "", nil, nil, false
}

func browse(w http.ResponseWriter, r *http.Request, resolve FileResolver) {
	virtual, f, fi, ok := open(w, r, resolve)
	if !ok {
		return
	}
	defer f.Close()
	if !fi.IsDir() {
		filesJSON(w, http.StatusOK, []FileInfo{NewFileInfo(virtual, fi)})
		return
	}
	// Listed through the open directory: entries are lstat'ed relative to
	// it (fstatat), never by name from the host's root.
	entries, err := f.ReadDir(-1)
	if err != nil {
		filesError(w, http.StatusInternalServerError, "Cannot list '"+virtual+"': "+err.Error())
		return
	}
	out := make([]FileInfo, 0, len(entries))
	names := newIDNames()
	for _, e := range entries {
		info, err := e.Info() // lstat: a symlink is listed, not followed
		if err != nil {
			continue // removed while listing
		}
		out = append(out, names.fileInfo(path.Join(virtual, e.Name()), info))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	filesJSON(w, http.StatusOK, out)
}

// intParam parses an optional integer query parameter (missing: -1).
func intParam(r *http.Request, k string) (int64, error) {
	s := r.URL.Query().Get(k)
	if s == "" {
		return -1, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

func read(w http.ResponseWriter, r *http.Request, resolve FileResolver) {
	offset, err := intParam(r, "offset")
	if err != nil {
		filesError(w, http.StatusBadRequest, "Failed to parse offset: "+err.Error())
		return
	}
	length, err := intParam(r, "length")
	if err != nil {
		filesError(w, http.StatusBadRequest, "Failed to parse length: "+err.Error())
		return
	}
	if offset < -1 {
		filesError(w, http.StatusBadRequest, "Negative offset provided: "+strconv.FormatInt(offset, 10))
		return
	}
	if length < -1 {
		filesError(w, http.StatusBadRequest, "Negative length provided: "+strconv.FormatInt(length, 10))
		return
	}
	_, f, fi, ok := openFile(w, r, resolve, "read")
	if !ok {
		return
	}
	defer f.Close()
	size := fi.Size()
	if st, err := f.Stat(); err == nil {
		size = st.Size() // the file may have grown since the stat
	}
	if offset == -1 {
		filesJSON(w, http.StatusOK, FileChunk{Offset: size})
		return
	}
	if length == -1 || length > FilesReadCap {
		length = FilesReadCap
	}
	buf := make([]byte, 0, min(length, max(size-offset, 0)))
	if offset < size {
		n, err := f.ReadAt(buf[:cap(buf)], offset)
		if err != nil && !errors.Is(err, io.EOF) {
			filesError(w, http.StatusInternalServerError, "Cannot read file: "+err.Error())
			return
		}
		buf = buf[:n]
	}
	filesJSON(w, http.StatusOK, FileChunk{Data: string(buf), Offset: offset})
}

// openFile opens the request's path, a regular file beneath its root, for
// verb ("read", "download"); on failure it has answered the request.
func openFile(w http.ResponseWriter, r *http.Request, resolve FileResolver, verb string) (string, *os.File, fs.FileInfo, bool) {
	virtual, f, fi, ok := open(w, r, resolve)
	if !ok {
		return "", nil, nil, false
	}
	switch {
	case fi.IsDir():
		_ = f.Close()
		filesError(w, http.StatusBadRequest, "Cannot "+verb+" a directory.")
		return "", nil, nil, false
	case !fi.Mode().IsRegular():
		_ = f.Close()
		filesError(w, http.StatusBadRequest, "Cannot "+verb+" '"+virtual+"': not a regular file.")
		return "", nil, nil, false
	}
	return virtual, f, fi, true
}

func download(w http.ResponseWriter, r *http.Request, resolve FileResolver) {
	virtual, f, fi, ok := openFile(w, r, resolve, "download")
	if !ok {
		return
	}
	defer f.Close()
	ctype := mime.TypeByExtension(path.Ext(virtual))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", "attachment; filename="+strconv.Quote(path.Base(virtual)))
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

// NewFileInfo describes fi under its virtual path, as Mesos does (an
// ls-style mode, owner and group names).
func NewFileInfo(virtual string, fi fs.FileInfo) FileInfo {
	return newIDNames().fileInfo(virtual, fi)
}

func (c *idNames) fileInfo(virtual string, fi fs.FileInfo) FileInfo {
	out := FileInfo{Path: virtual, Size: fi.Size(), Mtime: fi.ModTime().Unix(), Mode: modeString(fi.Mode()), Nlink: 1}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		out.Nlink = uint64(st.Nlink)
		out.UID = c.user(st.Uid)
		out.GID = c.group(st.Gid)
	}
	return out
}

// modeString is the ls -l mode: a type letter and nine permission bits.
func modeString(m fs.FileMode) string {
	t := byte('-')
	switch {
	case m&fs.ModeDir != 0:
		t = 'd'
	case m&fs.ModeSymlink != 0:
		t = 'l'
	case m&fs.ModeNamedPipe != 0:
		t = 'p'
	case m&fs.ModeSocket != 0:
		t = 's'
	case m&fs.ModeCharDevice != 0:
		t = 'c'
	case m&fs.ModeDevice != 0:
		t = 'b'
	}
	return string(t) + m.Perm().String()[1:]
}

// idNames caches uid/gid → name lookups for one listing (a directory's
// files mostly share an owner).
type idNames struct {
	users  map[uint32]string
	groups map[uint32]string
}

func newIDNames() *idNames {
	return &idNames{users: map[uint32]string{}, groups: map[uint32]string{}}
}

func (c *idNames) user(id uint32) string {
	return c.lookup(c.users, id, func(s string) (string, error) {
		u, err := user.LookupId(s)
		if err != nil {
			return "", err
		}
		return u.Username, nil
	})
}

func (c *idNames) group(id uint32) string {
	return c.lookup(c.groups, id, func(s string) (string, error) {
		g, err := user.LookupGroupId(s)
		if err != nil {
			return "", err
		}
		return g.Name, nil
	})
}

func (c *idNames) lookup(m map[uint32]string, id uint32, f func(string) (string, error)) string {
	if n, ok := m[id]; ok {
		return n
	}
	s := strconv.FormatUint(uint64(id), 10)
	n, err := f(s)
	if err != nil {
		n = s
	}
	m[id] = n
	return n
}

func filesError(w http.ResponseWriter, code int, msg string) {
	filesJSON(w, code, Error{Message: msg})
}

func filesJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
