package runtime

import (
	"archive/tar"
	"archive/zip"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/ulikunitz/xz"
)

// archiveType is what the fetcher makes of a file, by its name, as Mesos'
// fetcher does (src/launcher/fetcher.cpp, extract()).
type archiveType int

const (
	archiveNone archiveType = iota
	archiveTar
	archiveTarGz
	archiveTarBz2
	archiveTarXz
	archiveZip
	archiveGz // one gzipped file
)

func archiveKind(name string) archiveType {
	switch n := strings.ToLower(name); {
	case strings.HasSuffix(n, ".tar"):
		return archiveTar
	case strings.HasSuffix(n, ".tgz"), strings.HasSuffix(n, ".tar.gz"):
		return archiveTarGz
	case strings.HasSuffix(n, ".tbz2"), strings.HasSuffix(n, ".tar.bz2"):
		return archiveTarBz2
	case strings.HasSuffix(n, ".txz"), strings.HasSuffix(n, ".tar.xz"):
		return archiveTarXz
	case strings.HasSuffix(n, ".zip"):
		return archiveZip
	case strings.HasSuffix(n, ".gz"):
		return archiveGz
	}
	return archiveNone
}

// extractArchive extracts the file open opens (named name in the sandbox)
// into root's top directory and returns the bytes written. Every file is
// made through root, so nothing lands outside the sandbox; entries that
// would (absolute paths, "..", links leading out) fail the extraction.
// max > 0 bounds the bytes written.
func extractArchive(ctx context.Context, root *os.Root, open func() (*os.File, error), name string, kind archiveType, max int64) (int64, error) {
	in, err := open()
	if err != nil {
		return 0, err
	}
	defer in.Close()
	x := &extractor{ctx: ctx, root: root, max: max}
	var r io.Reader = in
	switch kind {
	case archiveZip:
		st, err := in.Stat()
		if err != nil {
			return 0, err
		}
		zr, err := zip.NewReader(in, st.Size())
		if err != nil {
			return 0, err
		}
		return x.written, x.zip(zr)
	case archiveTarGz, archiveGz:
		gz, err := gzip.NewReader(in)
		if err != nil {
			return 0, err
		}
		defer gz.Close()
		r = gz
	case archiveTarBz2:
		r = bzip2.NewReader(in)
	case archiveTarXz:
		if r, err = xz.NewReader(in); err != nil {
			return 0, err
		}
	}
	if kind == archiveGz {
		out := strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
		return x.written, x.file(out, r, 0o644)
	}
	return x.written, x.tar(tar.NewReader(r))
}

// extractor writes entries beneath root.
type extractor struct {
	ctx     context.Context
	root    *os.Root
	max     int64
	written int64
}

func (x *extractor) tar(tr *tar.Reader) error {
	for {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name, err := entryName(h.Name)
		if err != nil {
			return err
		}
		if name == "." {
			continue
		}
		mode := fs.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			err = x.dir(name, mode)
		case tar.TypeReg:
			err = x.file(name, tr, mode)
		case tar.TypeSymlink:
			err = x.symlink(name, h.Linkname)
		case tar.TypeLink:
			err = x.hardlink(name, h.Linkname)
		case tar.TypeXGlobalHeader:
		default:
			err = fmt.Errorf("entry %q: device files, FIFOs and other special files are not extracted", h.Name)
		}
		if err != nil {
			return err
		}
	}
}

func (x *extractor) zip(zr *zip.Reader) error {
	for _, f := range zr.File {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		name, err := entryName(f.Name)
		if err != nil {
			return err
		}
		if name == "." {
			continue
		}
		m := f.Mode()
		switch {
		case m.IsDir():
			err = x.dir(name, m.Perm())
		case m&fs.ModeSymlink != 0:
			err = func() error {
				rc, err := f.Open()
				if err != nil {
					return err
				}
				defer rc.Close()
				target, err := io.ReadAll(io.LimitReader(rc, 4096))
				if err != nil {
					return err
				}
				return x.symlink(name, string(target))
			}()
		case m.IsRegular():
			err = func() error {
				rc, err := f.Open()
				if err != nil {
					return err
				}
				defer rc.Close()
				return x.file(name, rc, m.Perm())
			}()
		default:
			err = fmt.Errorf("entry %q: special files are not extracted", f.Name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// entryName cleans an archive entry's name; absolute names and names
// with ".." are refused.
func entryName(n string) (string, error) {
	c := filepath.Clean(strings.TrimPrefix(n, "./"))
	if c == "." {
		return c, nil
	}
	if filepath.IsAbs(n) || !filepath.IsLocal(c) || strings.Contains("/"+filepath.ToSlash(n)+"/", "/../") {
		return "", fmt.Errorf("entry %q: absolute paths and '..' are not extracted (they would leave the sandbox)", n)
	}
	return c, nil
}

func (x *extractor) parent(name string) error {
	if d := filepath.Dir(name); d != "." {
		return x.root.MkdirAll(d, 0o755)
	}
	return nil
}

func (x *extractor) dir(name string, mode fs.FileMode) error {
	if err := x.root.MkdirAll(name, 0o755); err != nil {
		return err
	}
	return x.root.Chmod(name, mode|0o700)
}

func (x *extractor) file(name string, r io.Reader, mode fs.FileMode) error {
	if err := x.parent(name); err != nil {
		return err
	}
	_ = x.root.Remove(name) // a link or file of the same name is replaced, not written through
	w, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode|0o600)
	if err != nil {
		return err
	}
	src := r
	if x.max > 0 {
		src = io.LimitReader(r, x.max-x.written+1)
	}
	n, err := io.Copy(w, ctxReader{x.ctx, src})
	x.written += n
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil && x.max > 0 && x.written > x.max {
		err = fmt.Errorf("the archive holds more than the task's disk resource (%d bytes)", x.max)
	}
	if err != nil {
		return err
	}
	return x.root.Chmod(name, mode|0o600)
}

func (x *extractor) symlink(name, target string) error {
	if err := x.checkLink(name, target); err != nil {
		return err
	}
	if err := x.parent(name); err != nil {
		return err
	}
	_ = x.root.Remove(name)
	return x.root.Symlink(target, name)
}

func (x *extractor) hardlink(name, target string) error {
	t, err := entryName(target)
	if err != nil || t == "." {
		return fmt.Errorf("entry %q: hard link to %q leaves the sandbox", name, target)
	}
	if err := x.parent(name); err != nil {
		return err
	}
	_ = x.root.Remove(name)
	return x.root.Link(t, name)
}

// checkLink refuses a symlink whose target could lead out of the
// sandbox: absolute targets, and ".." that climbs above the top or
// through anything but a directory already extracted (a ".." after a
// symlink goes wherever that symlink points, so only real directories
// may be climbed out of).
func (x *extractor) checkLink(name, target string) error {
	refuse := func() error {
		return fmt.Errorf("entry %q: symlink to %q leads out of the sandbox", name, target)
	}
	if target == "" || filepath.IsAbs(target) {
		return refuse()
	}
	var stack []string
	if d := filepath.Dir(name); d != "." {
		stack = strings.Split(d, "/")
	}
	for _, c := range strings.Split(target, "/") {
		switch c {
		case "", ".":
		case "..":
			if len(stack) == 0 {
				return refuse()
			}
			fi, err := x.root.Lstat(filepath.Join(stack...))
			if err != nil || !fi.IsDir() {
				return refuse()
			}
			stack = stack[:len(stack)-1]
		default:
			stack = append(stack, c)
		}
	}
	return nil
}

// chownTree gives everything beneath root to owner (links themselves).
func chownTree(root *os.Root, owner fileOwner) error {
	return fs.WalkDir(root.FS(), ".", func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return root.Lchown(p, owner.uid, owner.gid)
	})
}
