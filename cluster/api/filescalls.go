package api

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"syscall"
)

// The operator API's LIST_FILES and READ_FILE (Mesos'
// include/mesos/v1/master/master.proto and agent/agent.proto): the same
// files as /files/browse and /files/read, resolved by the same
// FileResolver, in the v1 FileInfo shape (mtime a TimeInfo, mode the
// file's st_mode) and with the data base64 in JSON.

// ErrFileNotRegular: READ_FILE of a directory or a special file.
var ErrFileNotRegular = Kind(ErrInvalid, "not a regular file")

// FileInfoV1 is Mesos' v1 FileInfo.
type FileInfoV1 struct {
	Path  string         `json:"path"`
	Nlink int64          `json:"nlink"`
	Size  int64          `json:"size"`
	Mtime map[string]any `json:"mtime"`
	Mode  uint32         `json:"mode"`
	UID   string         `json:"uid,omitempty"`
	GID   string         `json:"gid,omitempty"`
}

// CleanFilePath validates a LIST_FILES or READ_FILE path as /files does:
// required, no "..", made absolute.
func CleanFilePath(p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("%w: a path is required", ErrInvalid)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "", fmt.Errorf("%w: path must not contain '..': %s", ErrInvalid, p)
		}
	}
	return path.Clean("/" + p), nil
}

func fileInfoV1(c *idNames, virtual string, fi fs.FileInfo) FileInfoV1 {
	v0 := c.fileInfo(virtual, fi)
	out := FileInfoV1{
		Path: virtual, Nlink: int64(v0.Nlink), Size: fi.Size(), UID: v0.UID, GID: v0.GID,
		Mtime: map[string]any{"nanoseconds": fi.ModTime().UnixNano()},
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		out.Mode = st.Mode
	}
	return out
}

// ListFiles is LIST_FILES: the entries of the directory at the virtual
// path p (symlinks listed, not followed), or the one file there.
func ListFiles(resolve FileResolver, p string) ([]FileInfoV1, error) {
	virtual, err := CleanFilePath(p)
	if err != nil {
		return nil, err
	}
	t, err := resolve(virtual)
	if err != nil {
		return nil, err
	}
	f, err := openTarget(virtual, t)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", virtual, ErrFileNotFound)
	}
	names := newIDNames()
	if !fi.IsDir() {
		return []FileInfoV1{fileInfoV1(names, virtual, fi)}, nil
	}
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", virtual, err)
	}
	out := make([]FileInfoV1, 0, len(entries))
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue // removed while listing
		}
		out = append(out, fileInfoV1(names, path.Join(virtual, e.Name()), info))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// ReadFile is READ_FILE: up to length bytes (negative, i.e. not given,
// or more than FilesReadCap: FilesReadCap) of the regular file at p from offset, and
// the file's size.
func ReadFile(resolve FileResolver, p string, offset, length int64) (data []byte, size int64, err error) {
	virtual, err := CleanFilePath(p)
	if err != nil {
		return nil, 0, err
	}
	if offset < 0 {
		return nil, 0, fmt.Errorf("%w: negative offset %d", ErrInvalid, offset)
	}
	t, err := resolve(virtual)
	if err != nil {
		return nil, 0, err
	}
	f, err := openTarget(virtual, t)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", virtual, ErrFileNotFound)
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("cannot read %s: %w", virtual, ErrFileNotRegular)
	}
	size = fi.Size()
	if length < 0 || length > FilesReadCap {
		length = FilesReadCap
	}
	if offset >= size {
		return []byte{}, size, nil
	}
	buf := make([]byte, min(length, size-offset))
	n, err := f.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("read %s: %w", virtual, err)
	}
	return buf[:n], size, nil
}
