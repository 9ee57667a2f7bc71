package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Whiteout names in layer archives (OCI image spec, "Representing Changes").
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	whiteoutMeta   = ".wh..wh."
	// opaqueXattr marks an overlayfs directory whose lower contents are hidden.
	opaqueXattr = "trusted.overlay.opaque"
)

// extractOptions says how to write an archive.
type extractOptions struct {
	// whiteouts turns .wh. entries into overlayfs whiteouts (char 0:0 and
	// the opaque xattr) instead of writing them as files.
	whiteouts bool
}

// extract writes the tar stream r beneath dir, which must exist.
//
// Every filesystem operation goes through an os.Root opened on dir: the
// kernel resolves each path component by component beneath that directory
// fd and refuses to leave it, whatever symlinks the archive planted. On top
// of that, entries are checked by name first so that refusals carry a clear
// reason: absolute paths, ".." components, writes through symlinks that
// point outside, hardlinks out of the archive, device nodes and fifos are
// all refused with ErrUnsafeEntry, before anything is written for them.
func extract(ctx context.Context, r io.Reader, dir string, opts extractOptions) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer root.Close()
	x := &extractor{root: root, opts: opts, dirs: map[string]bool{".": true}, chown: os.Geteuid() == 0}
	tr := tar.NewReader(r)
	for n := 0; ; n++ {
		if n%64 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return err
		}
	}
	return x.finish()
}

type extractor struct {
	root  *os.Root
	opts  extractOptions
	chown bool
	// dirs are paths known to be real directories (not symlinks) beneath root;
	// cleared whenever something is removed.
	dirs     map[string]bool
	dirTimes []dirTime
}

type dirTime struct {
	name         string
	atime, mtime time.Time
}

// unsafe builds the error for a refused entry.
func unsafe(entry, why string, args ...any) error {
	return fmt.Errorf("%w %q: %s", ErrUnsafeEntry, entry, fmt.Sprintf(why, args...))
}

// cleanName turns an archive path into a clean path relative to the root,
// refusing absolute paths and ".." components.
func cleanName(entry, p string) (string, error) {
	what := "path"
	if p != entry {
		what = fmt.Sprintf("path %q", p)
	}
	if strings.HasPrefix(p, "/") {
		return "", unsafe(entry, "absolute %s", what)
	}
	if strings.ContainsRune(p, 0) {
		return "", unsafe(entry, "NUL in %s", what)
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return "", unsafe(entry, "%s has a .. component and could escape the root", what)
		}
	}
	return path.Clean(p), nil
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	name, err := cleanName(hdr.Name, hdr.Name)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeChar, tar.TypeBlock:
		return unsafe(hdr.Name, "device nodes are not allowed")
	case tar.TypeFifo:
		return unsafe(hdr.Name, "fifos are not allowed")
	}
	parent, base := path.Dir(name), path.Base(name)
	if name == "." {
		if hdr.Typeflag != tar.TypeDir {
			return unsafe(hdr.Name, "the root may only be a directory")
		}
		return x.dir(hdr, ".")
	}
	if err := x.ensureDir(hdr.Name, parent); err != nil {
		return err
	}
	if x.opts.whiteouts && strings.HasPrefix(base, whiteoutPrefix) {
		return x.whiteout(hdr.Name, parent, base)
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.dir(hdr, name)
	case tar.TypeReg, '\x00', tar.TypeGNUSparse:
		return x.file(hdr, name, r)
	case tar.TypeSymlink:
		return x.symlink(hdr, name)
	case tar.TypeLink:
		return x.hardlink(hdr, name)
	default:
		return unsafe(hdr.Name, "unsupported entry type %q", string(hdr.Typeflag))
	}
}

// ensureDir makes sure dir is a directory beneath the root, creating missing
// components. A component that is a symlink is only followed if it stays
// inside the root; one pointing outside makes the entry unsafe.
func (x *extractor) ensureDir(entry, dir string) error {
	if x.dirs[dir] {
		return nil
	}
	cur := "."
	for _, c := range strings.Split(dir, "/") {
		cur = path.Join(cur, c)
		if x.dirs[cur] {
			continue
		}
		fi, err := x.root.Lstat(cur)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := x.root.Mkdir(cur, 0o755); err != nil {
				return x.fail(entry, "create directory", cur, err)
			}
			x.dirs[cur] = true
		case err != nil:
			return x.fail(entry, "inspect", cur, err)
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := x.root.Readlink(cur)
			if err != nil {
				return x.fail(entry, "read link", cur, err)
			}
			if path.IsAbs(target) || escapes(path.Join(path.Dir(cur), target)) {
				return unsafe(entry, "path goes through symlink %q -> %q, which points outside the root", cur, target)
			}
			fi, err := x.root.Stat(cur)
			if err != nil {
				return unsafe(entry, "path goes through symlink %q -> %q, which does not resolve inside the root: %v", cur, target, err)
			}
			if !fi.IsDir() {
				return fmt.Errorf("unpack %q: %q is not a directory", entry, cur)
			}
			// Followed by os.Root at each use; not cached, it could be replaced.
		case !fi.IsDir():
			return fmt.Errorf("unpack %q: %q is not a directory", entry, cur)
		default:
			x.dirs[cur] = true
		}
	}
	return nil
}

// escapes reports whether a clean-able relative path climbs above the root.
func escapes(p string) bool {
	p = path.Clean(p)
	return p == ".." || strings.HasPrefix(p, "../")
}

// fail wraps an error of an operation on an entry; os.Root's refusals to
// leave the root become ErrUnsafeEntry.
func (x *extractor) fail(entry, op, p string, err error) error {
	if strings.Contains(err.Error(), "escapes") {
		return unsafe(entry, "%s %q: %v", op, p, err)
	}
	return fmt.Errorf("unpack %q: %s %q: %w", entry, op, p, err)
}

// clear removes whatever is at name so a new entry can take its place;
// an existing directory is kept when keepDir is set.
func (x *extractor) clear(entry, name string, keepDir bool) (existingDir bool, err error) {
	fi, err := x.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, x.fail(entry, "inspect", name, err)
	}
	if fi.IsDir() {
		if keepDir {
			return true, nil
		}
		x.dirs = map[string]bool{".": true}
		if err := x.root.RemoveAll(name); err != nil {
			return false, x.fail(entry, "remove", name, err)
		}
		return false, nil
	}
	if err := x.root.Remove(name); err != nil {
		return false, x.fail(entry, "remove", name, err)
	}
	return false, nil
}

func (x *extractor) dir(hdr *tar.Header, name string) error {
	exists, err := x.clear(hdr.Name, name, true)
	if err != nil {
		return err
	}
	if !exists {
		if err := x.root.Mkdir(name, 0o700); err != nil {
			return x.fail(hdr.Name, "create directory", name, err)
		}
	}
	x.dirs[name] = true
	if err := x.owner(hdr, name); err != nil {
		return err
	}
	if err := x.root.Chmod(name, hdr.FileInfo().Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return x.fail(hdr.Name, "chmod", name, err)
	}
	if err := x.xattrs(hdr, name); err != nil {
		return err
	}
	x.dirTimes = append(x.dirTimes, dirTime{name: name, atime: atime(hdr), mtime: hdr.ModTime})
	return nil
}

func (x *extractor) file(hdr *tar.Header, name string, r io.Reader) error {
	if _, err := x.clear(hdr.Name, name, false); err != nil {
		return err
	}
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return x.fail(hdr.Name, "create", name, err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("unpack %q: write: %w", hdr.Name, err)
	}
	if x.chown {
		if err := f.Chown(hdr.Uid, hdr.Gid); err != nil {
			f.Close()
			return fmt.Errorf("unpack %q: chown: %w", hdr.Name, err)
		}
	}
	// After chown, which clears set-id bits.
	if err := f.Chmod(hdr.FileInfo().Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)); err != nil {
		f.Close()
		return fmt.Errorf("unpack %q: chmod: %w", hdr.Name, err)
	}
	if err := setXattrs(int(f.Fd()), hdr); err != nil {
		f.Close()
		return fmt.Errorf("unpack %q: %w", hdr.Name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("unpack %q: %w", hdr.Name, err)
	}
	return x.times(hdr.Name, name, atime(hdr), hdr.ModTime)
}

func (x *extractor) symlink(hdr *tar.Header, name string) error {
	if _, err := x.clear(hdr.Name, name, false); err != nil {
		return err
	}
	// The target is data, not a path we resolve: any value is allowed, and
	// later entries are kept from writing through it by ensureDir and os.Root.
	if err := x.root.Symlink(hdr.Linkname, name); err != nil {
		return x.fail(hdr.Name, "symlink", name, err)
	}
	if err := x.owner(hdr, name); err != nil {
		return err
	}
	return x.times(hdr.Name, name, atime(hdr), hdr.ModTime)
}

func (x *extractor) hardlink(hdr *tar.Header, name string) error {
	target, err := cleanName(hdr.Name, hdr.Linkname)
	if err != nil {
		return unsafe(hdr.Name, "hardlink to %q, outside the archive", hdr.Linkname)
	}
	if target == "." {
		return unsafe(hdr.Name, "hardlink to the root directory")
	}
	if err := x.ensureDir(hdr.Name, path.Dir(target)); err != nil {
		return err
	}
	fi, err := x.root.Lstat(target)
	if err != nil {
		return fmt.Errorf("unpack %q: hardlink target %q is not in the archive before it: %w", hdr.Name, hdr.Linkname, err)
	}
	if fi.IsDir() {
		return unsafe(hdr.Name, "hardlink to directory %q", hdr.Linkname)
	}
	if target == name {
		return nil
	}
	if _, err := x.clear(hdr.Name, name, false); err != nil {
		return err
	}
	if err := x.root.Link(target, name); err != nil {
		return x.fail(hdr.Name, "link", name, err)
	}
	return nil
}

// whiteout records a deletion in overlayfs form: ".wh.name" becomes a
// character device 0:0 called name, ".wh..wh..opq" makes its directory opaque.
func (x *extractor) whiteout(entry, parent, base string) error {
	if base == whiteoutOpaque {
		return x.withDir(entry, parent, func(fd int) error {
			if err := unix.Fsetxattr(fd, opaqueXattr, []byte("y"), 0); err != nil {
				return fmt.Errorf("unpack %q: mark %q opaque: %w", entry, parent, err)
			}
			return nil
		})
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		return nil // aufs bookkeeping (.wh..wh.plnk and the like): not content
	}
	victim := strings.TrimPrefix(base, whiteoutPrefix)
	if victim == "" || victim == "." || victim == ".." || strings.Contains(victim, "/") {
		return unsafe(entry, "whiteout of %q", victim)
	}
	if _, err := x.clear(entry, path.Join(parent, victim), false); err != nil {
		return err
	}
	return x.withDir(entry, parent, func(fd int) error {
		if err := unix.Mknodat(fd, victim, unix.S_IFCHR, 0); err != nil {
			return fmt.Errorf("unpack %q: create whiteout: %w", entry, err)
		}
		return nil
	})
}

// withDir runs fn with an fd of the directory dir beneath the root.
func (x *extractor) withDir(entry, dir string, fn func(fd int) error) error {
	d, err := x.root.Open(dir)
	if err != nil {
		return x.fail(entry, "open", dir, err)
	}
	defer d.Close()
	fi, err := d.Stat()
	if err != nil {
		return fmt.Errorf("unpack %q: %w", entry, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("unpack %q: %q is not a directory", entry, dir)
	}
	return fn(int(d.Fd()))
}

func (x *extractor) owner(hdr *tar.Header, name string) error {
	if !x.chown {
		return nil
	}
	if err := x.root.Lchown(name, hdr.Uid, hdr.Gid); err != nil {
		return x.fail(hdr.Name, "chown", name, err)
	}
	return nil
}

func (x *extractor) xattrs(hdr *tar.Header, name string) error {
	if !hasXattrs(hdr) {
		return nil
	}
	return x.withDir(hdr.Name, name, func(fd int) error {
		if err := setXattrs(fd, hdr); err != nil {
			return fmt.Errorf("unpack %q: %w", hdr.Name, err)
		}
		return nil
	})
}

// times sets atime and mtime of name without following a final symlink.
func (x *extractor) times(entry, name string, at, mt time.Time) error {
	return x.withDir(entry, path.Dir(name), func(fd int) error {
		ts := []unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(mt.UnixNano())}
		if err := unix.UtimesNanoAt(fd, path.Base(name), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("unpack %q: set times: %w", entry, err)
		}
		return nil
	})
}

// finish sets directory times last: writing their entries changed them.
func (x *extractor) finish() error {
	for i := len(x.dirTimes) - 1; i >= 0; i-- {
		d := x.dirTimes[i]
		fi, err := x.root.Lstat(d.name)
		if err != nil || !fi.IsDir() {
			continue // replaced by a later entry
		}
		if d.name == "." {
			ts := []unix.Timespec{unix.NsecToTimespec(d.atime.UnixNano()), unix.NsecToTimespec(d.mtime.UnixNano())}
			if err := x.withDir(".", ".", func(fd int) error { return unix.UtimesNanoAt(fd, ".", ts, 0) }); err != nil {
				return fmt.Errorf("unpack root: set times: %w", err)
			}
			continue
		}
		if err := x.times(d.name, d.name, d.atime, d.mtime); err != nil {
			return err
		}
	}
	return nil
}

func atime(hdr *tar.Header) time.Time {
	if hdr.AccessTime.IsZero() {
		return hdr.ModTime
	}
	return hdr.AccessTime
}

const paxXattr = "SCHILY.xattr."

func hasXattrs(hdr *tar.Header) bool {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, paxXattr) {
			return true
		}
	}
	return false
}

// setXattrs applies the entry's extended attributes to fd. trusted.* is
// skipped: an archive must not forge overlayfs metadata (opaque, redirect).
func setXattrs(fd int, hdr *tar.Header) error {
	for k, v := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(k, paxXattr)
		if !ok || strings.HasPrefix(attr, "trusted.") {
			continue
		}
		if err := unix.Fsetxattr(fd, attr, []byte(v), 0); err != nil {
			if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM) {
				continue // filesystem or privileges do not allow it: not fatal
			}
			return fmt.Errorf("set xattr %s: %w", attr, err)
		}
	}
	return nil
}
