package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// copyLayers builds a rootfs at dst (which must not exist) by applying the
// unpacked layers bottom first, with overlayfs semantics: a whiteout (char
// 0:0) deletes the lower entry, an opaque directory hides the lower
// directory's contents, and an entry replaces a lower one of another type.
// Writes go through an os.Root on dst, so a lower layer's symlink can never
// redirect an upper layer's files outside dst.
func copyLayers(ctx context.Context, layers []string, dst string) error {
	if err := os.Mkdir(dst, 0o755); err != nil {
		return fmt.Errorf("copy rootfs: %w", err)
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return fmt.Errorf("copy rootfs: %w", err)
	}
	defer root.Close()
	for _, l := range layers {
		if err := applyLayer(ctx, root, l); err != nil {
			return fmt.Errorf("copy layer %s: %w", filepath.Base(l), err)
		}
	}
	return nil
}

type inode struct{ dev, ino uint64 }

func applyLayer(ctx context.Context, root *os.Root, src string) error {
	links := map[inode]string{} // hardlinked files of this layer → first copy
	type dirMeta struct {
		rel          string
		atime, mtime time.Time
	}
	var dirs []dirMeta
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		at, mt := time.Unix(st.Atim.Unix()), time.Unix(st.Mtim.Unix())
		switch mode := fi.Mode(); {
		case mode&fs.ModeCharDevice != 0 && st.Rdev == 0: // whiteout
			if err := root.RemoveAll(rel); err != nil {
				return fmt.Errorf("apply whiteout %s: %w", rel, err)
			}
		case mode.IsDir():
			if err := copyDir(root, p, rel, st); err != nil {
				return err
			}
			dirs = append(dirs, dirMeta{rel, at, mt})
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := replace(root, rel); err != nil {
				return err
			}
			if err := root.Symlink(target, rel); err != nil {
				return fmt.Errorf("symlink %s: %w", rel, err)
			}
			if err := root.Lchown(rel, int(st.Uid), int(st.Gid)); err != nil {
				return fmt.Errorf("chown %s: %w", rel, err)
			}
			if err := lutimes(root, rel, at, mt); err != nil {
				return err
			}
		case mode.IsRegular():
			if err := replace(root, rel); err != nil {
				return err
			}
			key := inode{uint64(st.Dev), st.Ino}
			if first, ok := links[key]; ok && st.Nlink > 1 {
				if err := root.Link(first, rel); err != nil {
					return fmt.Errorf("link %s: %w", rel, err)
				}
				return nil
			}
			if err := copyFile(root, p, rel, fi, st); err != nil {
				return err
			}
			if st.Nlink > 1 {
				links[key] = rel
			}
		default:
			return fmt.Errorf("%s: unexpected file type %v in an unpacked layer", rel, fi.Mode().Type())
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := lutimes(root, dirs[i].rel, dirs[i].atime, dirs[i].mtime); err != nil {
			return err
		}
	}
	return nil
}

// replace removes a lower entry at rel unless it is absent.
func replace(root *os.Root, rel string) error {
	if err := root.RemoveAll(rel); err != nil {
		return fmt.Errorf("replace %s: %w", rel, err)
	}
	return nil
}

func copyDir(root *os.Root, src, rel string, st *syscall.Stat_t) error {
	fi, err := root.Lstat(rel)
	switch {
	case err == nil && !fi.IsDir():
		if err := root.Remove(rel); err != nil {
			return fmt.Errorf("replace %s: %w", rel, err)
		}
		fallthrough
	case errors.Is(err, fs.ErrNotExist):
		if err := root.Mkdir(rel, 0o700); err != nil {
			return fmt.Errorf("mkdir %s: %w", rel, err)
		}
	case err != nil:
		return err
	default:
		if opaque(src) { // hide the lower directory's contents
			if err := clearDir(root, rel); err != nil {
				return err
			}
		}
	}
	if err := root.Lchown(rel, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("chown %s: %w", rel, err)
	}
	if err := root.Chmod(rel, modeOf(st)); err != nil {
		return fmt.Errorf("chmod %s: %w", rel, err)
	}
	d, err := root.Open(rel)
	if err != nil {
		return err
	}
	defer d.Close()
	return copyXattrs(src, int(d.Fd()))
}

func clearDir(root *os.Root, rel string) error {
	d, err := root.Open(rel)
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := root.RemoveAll(filepath.Join(rel, n)); err != nil {
			return fmt.Errorf("clear opaque %s: %w", rel, err)
		}
	}
	return nil
}

func copyFile(root *os.Root, src, rel string, fi fs.FileInfo, st *syscall.Stat_t) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", rel, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", rel, err)
	}
	if err := out.Chown(int(st.Uid), int(st.Gid)); err != nil {
		out.Close()
		return fmt.Errorf("chown %s: %w", rel, err)
	}
	if err := out.Chmod(modeOf(st)); err != nil {
		out.Close()
		return fmt.Errorf("chmod %s: %w", rel, err)
	}
	if err := copyXattrs(src, int(out.Fd())); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return lutimes(root, rel, time.Unix(st.Atim.Unix()), fi.ModTime())
}

// modeOf is the permission and set-id bits of a stat result as a FileMode.
func modeOf(st *syscall.Stat_t) fs.FileMode {
	m := fs.FileMode(st.Mode & 0o777)
	if st.Mode&syscall.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if st.Mode&syscall.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if st.Mode&syscall.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

func opaque(dir string) bool {
	buf := make([]byte, 4)
	n, err := unix.Lgetxattr(dir, opaqueXattr, buf)
	return err == nil && n == 1 && buf[0] == 'y'
}

// copyXattrs copies src's extended attributes to fd, except overlayfs's own.
func copyXattrs(src string, fd int) error {
	sz, err := unix.Llistxattr(src, nil)
	if err != nil || sz == 0 {
		return nil // none, or not supported here
	}
	buf := make([]byte, sz)
	sz, err = unix.Llistxattr(src, buf)
	if err != nil {
		return nil
	}
	for _, attr := range strings.Split(strings.TrimRight(string(buf[:sz]), "\x00"), "\x00") {
		if attr == "" || strings.HasPrefix(attr, "trusted.overlay.") {
			continue
		}
		vsz, err := unix.Lgetxattr(src, attr, nil)
		if err != nil {
			continue
		}
		val := make([]byte, vsz)
		if vsz, err = unix.Lgetxattr(src, attr, val); err != nil {
			continue
		}
		if err := unix.Fsetxattr(fd, attr, val[:vsz], 0); err != nil && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("set xattr %s: %w", attr, err)
		}
	}
	return nil
}

// lutimes sets times of rel beneath root without following a final symlink.
func lutimes(root *os.Root, rel string, at, mt time.Time) error {
	d, err := root.Open(filepath.Dir(rel))
	if err != nil {
		return err
	}
	defer d.Close()
	ts := []unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(mt.UnixNano())}
	if err := unix.UtimesNanoAt(int(d.Fd()), filepath.Base(rel), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times of %s: %w", rel, err)
	}
	return nil
}
