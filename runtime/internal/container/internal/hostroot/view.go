package hostroot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// A view is a skeleton whose entries carry the host's binds already: each
// top-level directory (but Replaced) bound recursively and each top-level
// file bound, read-only, made once on the host. A command task's container
// then copies the whole tree with the one recursive bind libcontainer
// makes of every container's root, instead of making ~20 binds of its own
// in its init: each of those cost ~0.2 ms of CPU (libcontainer opens,
// checks and reopens every mount point through pathrs), ~2-3 ms a
// container on a host with 20 top-level entries.
//
// A view is a small tmpfs holding the skeleton, with the binds cloned
// from the host with open_tree(2), made read-only (recursively: host
// submounts too, as the containers' own "rro" binds were) and slaves of
// the host's with mount_setattr(2) while still detached, and attached with
// move_mount(2). Where the host's mounts are shared (systemd makes "/"
// shared), what the host mounts or unmounts later propagates into the view
// and into the containers' copies of it, as into the containers' own slave
// binds before; where they are private, a view is a snapshot. The driver
// keeps a view mounted only while starts copy it, and makes a new one,
// read-only throughout, when the host's mounts a task could see changed
// (Foreign): a container sees them as they were at its start, read-only,
// as when it bound them itself. A container does not need the view once
// its init has copied it (a copy in its own mount namespace), only its
// directory: libcontainer starts every process of a container in its
// root's directory. Linux 5.12 or later (mount_setattr); on an older
// kernel MountView fails and the containers bind the entries themselves.

// MountViewRoot binds root, the directory views are made in, onto itself,
// unbindable: a view mounted there propagates nowhere (not into running
// containers' copies of the work dir, where the next view's clone of /var
// would hold it too), and a recursive bind or clone of a directory holding
// root leaves everything under it out. One there already is kept.
func MountViewRoot(root string) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("host root views: %w", err)
	}
	if IsMount(root) {
		return nil
	}
	for _, m := range []struct {
		src   string
		flags uintptr
	}{{root, unix.MS_BIND}, {"", unix.MS_UNBINDABLE}} {
		if err := unix.Mount(m.src, root, "", m.flags, ""); err != nil {
			_ = Detach(root)
			return fmt.Errorf("host root views: %s: %w", root, err)
		}
	}
	return nil
}

// MountView makes a view of entries at dir, an empty directory in a view
// root (MountViewRoot).
func MountView(dir string, entries []Entry) (err error) {
	type clone struct {
		fd   int
		name string
	}
	var clones []clone
	defer func() {
		for _, c := range clones {
			unix.Close(c.fd)
		}
	}()
	// Every clone first: nothing of the view is in them.
	for _, e := range entries {
		flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
		setattr := uint(unix.AT_EMPTY_PATH)
		switch {
		case e.Kind == Dir && !Replaced["/"+e.Name]:
			flags |= unix.AT_RECURSIVE
			setattr |= unix.AT_RECURSIVE
		case e.Kind == File:
		default:
			continue
		}
		fd, err := unix.OpenTree(unix.AT_FDCWD, "/"+e.Name, flags)
		if err != nil {
			return fmt.Errorf("host root view: clone /%s: %w", e.Name, err)
		}
		clones = append(clones, clone{fd, e.Name})
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY, Propagation: unix.MS_SLAVE}
		if err := unix.MountSetattr(fd, "", setattr, &attr); err != nil {
			return fmt.Errorf("host root view: read-only /%s: %w", e.Name, err)
		}
	}
	defer func() {
		if err != nil {
			_ = Detach(dir)
		}
	}()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=64k"); err != nil {
		return fmt.Errorf("host root view: mount %s: %w", dir, err)
	}
	if err := fill(dir, entries); err != nil {
		return err
	}
	for _, c := range clones {
		if err := unix.MoveMount(c.fd, "", unix.AT_FDCWD, filepath.Join(dir, c.name), unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("host root view: attach /%s: %w", c.name, err)
		}
	}
	return nil
}

// Detach unmounts the view (or view root) at dir with everything under
// it; containers keep their copies. A dir that is no mount point is left
// as it is.
func Detach(dir string) error {
	err := unix.Unmount(dir, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("detach host root view %s: %w", dir, err)
	}
	return nil
}

// Foreign lists the host mounts a command task could see, by mount id and
// place: all but those under hidden (the agent's work dir: its own mounts,
// the views among them), under the directories containers replace, and
// namespace handles (/run/netns). A view is stale when these changed
// since it was made.
func Foreign(hidden []string) ([]string, error) {
	mounts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		if m.FSType == "nsfs" || m.Mountpoint == "/" {
			return true, false
		}
		if Replaced["/"+strings.SplitN(strings.TrimPrefix(m.Mountpoint, "/"), "/", 2)[0]] {
			return true, false
		}
		for _, h := range hidden {
			if m.Mountpoint == h || strings.HasPrefix(m.Mountpoint, strings.TrimSuffix(h, "/")+"/") {
				return true, false
			}
		}
		return false, false
	})
	if err != nil {
		return nil, fmt.Errorf("host mounts: %w", err)
	}
	out := make([]string, 0, len(mounts))
	for _, m := range mounts {
		out = append(out, fmt.Sprintf("%d %s", m.ID, m.Mountpoint))
	}
	slices.Sort(out)
	return out, nil
}

// IsMount reports whether dir is a mount point.
func IsMount(dir string) bool {
	a, errA := mountID(dir)
	b, errB := mountID(filepath.Dir(dir))
	return errA == nil && errB == nil && a != b
}

func mountID(p string) (uint64, error) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, p, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &st); err != nil {
		return 0, &os.PathError{Op: "statx", Path: p, Err: err}
	}
	if st.Mask&unix.STATX_MNT_ID == 0 {
		return 0, fmt.Errorf("statx %s: no mount id", p)
	}
	return st.Mnt_id, nil
}
