package image

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// maxMountData is what mount(2) copies of its options: one page, NUL included.
const maxMountData = 4096 - 1

// mountOverlay mounts dir/rootfs as an overlayfs of lowers (bottom first)
// with dir/upper and dir/work. Long layer lists (or paths with characters
// the legacy option string cannot carry) go through the new mount API, one
// "lowerdir+" per layer (Linux 6.8+).
func mountOverlay(lowers []string, dir string) error {
	upper, work, target := filepath.Join(dir, upperName), filepath.Join(dir, workName), filepath.Join(dir, rootfsName)
	if len(lowers) == 0 { // overlayfs needs a lower layer
		empty := filepath.Join(dir, emptyName)
		if err := os.Mkdir(empty, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		lowers = []string{empty}
	}
	for _, d := range []string{upper, work, target} {
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	top := make([]string, len(lowers))
	for i, l := range lowers {
		top[len(lowers)-1-i] = l
	}
	opts := "lowerdir=" + strings.Join(top, ":") + ",upperdir=" + upper + ",workdir=" + work
	plain := !strings.ContainsAny(strings.Join(append(top, upper, work), ""), ":,\\")
	if plain && len(opts) <= maxMountData {
		if err := unix.Mount("overlay", target, "overlay", 0, opts); err != nil {
			return fmt.Errorf("mount overlayfs (%d layers): %w", len(lowers), err)
		}
		return nil
	}
	if err := mountOverlayFsconfig(top, upper, work, target); err != nil {
		return fmt.Errorf("mount overlayfs (%d layers, new mount API): %w", len(lowers), err)
	}
	return nil
}

// mountOverlayFsconfig mounts overlayfs with fsopen/fsconfig/fsmount.
func mountOverlayFsconfig(topFirst []string, upper, work, target string) error {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen: %w", err)
	}
	defer unix.Close(fsfd)
	for _, l := range topFirst {
		if err := unix.FsconfigSetString(fsfd, "lowerdir+", l); err != nil {
			return fmt.Errorf("fsconfig lowerdir+ %s: %w", l, err)
		}
	}
	if err := unix.FsconfigSetString(fsfd, "upperdir", upper); err != nil {
		return fmt.Errorf("fsconfig upperdir: %w", err)
	}
	if err := unix.FsconfigSetString(fsfd, "workdir", work); err != nil {
		return fmt.Errorf("fsconfig workdir: %w", err)
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("fsconfig create: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("fsmount: %w", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

// probeOverlay checks, once, that an overlayfs with a whiteout in its lower
// layer can be mounted under tmp (the filesystem the layers live on).
func probeOverlay(tmp string) error {
	dir, err := os.MkdirTemp(tmp, "overlay-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	lower := filepath.Join(dir, "l")
	if err := os.Mkdir(lower, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(lower, "kept"), nil, 0o644); err != nil {
		return err
	}
	if err := unix.Mknod(filepath.Join(lower, "gone"), unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("create whiteout: %w", err)
	}
	if err := mountOverlay([]string{lower}, dir); err != nil {
		return err
	}
	merged := filepath.Join(dir, rootfsName)
	defer unmount(merged)
	if _, err := os.Stat(filepath.Join(merged, "kept")); err != nil {
		return fmt.Errorf("overlay probe: %w", err)
	}
	if _, err := os.Lstat(filepath.Join(merged, "gone")); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("overlay probe: whiteout not honoured (%v)", err)
	}
	return os.WriteFile(filepath.Join(merged, "written"), nil, 0o644)
}

// isOverlayMount reports whether p is the root of an overlayfs mount.
func isOverlayMount(p string) bool {
	var fs unix.Statfs_t
	if err := unix.Statfs(p, &fs); err != nil || fs.Type != unix.OVERLAYFS_SUPER_MAGIC {
		return false
	}
	var st, parent unix.Stat_t
	if unix.Lstat(p, &st) != nil || unix.Lstat(filepath.Dir(p), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}

// unmount unmounts p, lazily if it is busy.
func unmount(p string) error {
	err := unix.Unmount(p, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(p, unix.MNT_DETACH)
	}
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", p, err)
	}
	return nil
}

// mountsBeneath lists the mount points at or under p (from /proc/self/mountinfo).
func mountsBeneath(p string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if mp == p || strings.HasPrefix(mp, p+"/") {
			out = append(out, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	return out, nil
}

// unescapeMountinfo undoes the octal escapes (\040 for space, …) of mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
