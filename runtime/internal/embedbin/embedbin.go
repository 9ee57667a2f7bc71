// Package embedbin writes the executables embedded in nodectl (the
// container shim and monitor, the CNI plugins) to a directory of the work
// dir, and skips the work when nothing changed.
//
// The embedded files are tens of megabytes of the binary's read-only data.
// Reading them means faulting all of those pages into the process (they
// stay in its resident set) and, through embed.FS.ReadFile, copying each
// one onto the heap. A node used to do both on every start to compare them
// with the files on disk. Now the directory keeps a stamp naming the
// nodectl executable that wrote it and the size, modification time and
// inode of every file: while both still match, the embedded copies are not
// read at all. A new nodectl binary (an upgrade, a rebuild) or a changed
// file compares and copies again, streaming in small chunks.
package embedbin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// stampName is the stamp's file name in the install directory.
const stampName = ".nodectl-installed"

// fileID identifies one version of a file on disk.
type fileID struct {
	Dev   uint64 `json:"dev"`
	Ino   uint64 `json:"ino"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime_ns"`
	Mode  uint32 `json:"mode"`
}

func idOf(path string) (fileID, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fileID{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	return fileID{Dev: uint64(st.Dev), Ino: st.Ino, Size: st.Size, Mtime: st.Mtim.Nano(), Mode: st.Mode & 0o7777}, nil
}

type stamp struct {
	Exe   fileID            `json:"exe"`
	Files map[string]fileID `json:"files"`
}

// ErrMissing is returned when fsys lacks one of the names or holds it
// empty (a build without `make build`).
var ErrMissing = errors.New("embedded executable missing")

// Install makes dir/<name> (mode 0755) a copy of fsys's src/<name> for
// every name and returns their paths. A file that differs is replaced
// atomically (written to a temporary name, synced, renamed), so a process
// already running the old one keeps its inode.
func Install(fsys fs.FS, src, dir string, names ...string) ([]string, error) {
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = filepath.Join(dir, n)
	}
	exe, exeErr := idOf("/proc/self/exe")
	if exeErr == nil && current(dir, exe, names) {
		return paths, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	st := stamp{Exe: exe, Files: map[string]fileID{}}
	for i, n := range names {
		if err := installOne(fsys, src+"/"+n, paths[i]); err != nil {
			return nil, err
		}
		id, err := idOf(paths[i])
		if err != nil {
			return nil, err
		}
		st.Files[n] = id
	}
	if exeErr == nil {
		b, _ := json.Marshal(st)
		if err := writeAtomic(filepath.Join(dir, stampName), bytes.NewReader(b), 0o644); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

// current reports whether dir's stamp was written by this executable and
// every file is still the one it recorded.
func current(dir string, exe fileID, names []string) bool {
	b, err := os.ReadFile(filepath.Join(dir, stampName))
	if err != nil {
		return false
	}
	var st stamp
	if json.Unmarshal(b, &st) != nil || st.Exe != exe {
		return false
	}
	for _, n := range names {
		id, err := idOf(filepath.Join(dir, n))
		if want, ok := st.Files[n]; err != nil || !ok || id != want || id.Mode != 0o755 {
			return false
		}
	}
	return true
}

// installOne copies fsys's name to path unless path already holds the
// same bytes with mode 0755.
func installOne(fsys fs.FS, name, path string) error {
	f, err := fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrMissing, name)
	}
	if err != nil {
		return fmt.Errorf("open embedded %s: %w", name, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat embedded %s: %w", name, err)
	}
	if info.Size() == 0 {
		return fmt.Errorf("%w: %s is empty", ErrMissing, name)
	}
	if same, err := sameContent(f, path, info.Size()); err != nil {
		return err
	} else if same {
		return nil
	}
	if _, err := f.(io.Seeker).Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind embedded %s: %w", name, err)
	}
	return writeAtomic(path, f, 0o755)
}

// sameContent compares r (size bytes) with the file at path, in chunks.
func sameContent(r io.Reader, path string, size int64) (bool, error) {
	g, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer g.Close()
	st, err := g.Stat()
	if err != nil || st.Size() != size || st.Mode().Perm() != 0o755 {
		return false, err
	}
	a, b := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		n, err := io.ReadFull(r, a)
		if n > 0 {
			if _, gerr := io.ReadFull(g, b[:n]); gerr != nil || !bytes.Equal(a[:n], b[:n]) {
				return false, nil
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// writeAtomic writes r to path with mode through a synced temporary file
// in the same directory and a rename.
func writeAtomic(path string, r io.Reader, mode os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = io.Copy(f, r); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err = f.Chmod(mode); err != nil {
		return fmt.Errorf("chmod %s: %w", f.Name(), err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", f.Name(), err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("rename %s: %w", f.Name(), err)
	}
	return nil
}
