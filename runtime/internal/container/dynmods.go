package container

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Every container start moves its init into the container's cgroups. On a
// host where nothing else moves processes between cgroups, the first such
// write after a quiet spell waits for an RCU grace period before it takes
// the kernel's cgroup migration lock: 8-13 ms of the ~25 ms a command task
// took to start on the 2-core dev box (docs/performance.md, "Where a task
// start's time goes"), the largest single step. The cgroup2 mount option
// favordynmods makes migrations take that lock without waiting, "at the
// cost of making hot path operations such as forks and exits more
// expensive" (Documentation/admin-guide/cgroup-v2.rst, "Mounting",
// https://docs.kernel.org/admin-guide/cgroup-v2.html). The option belongs
// to the host's single cgroup2 superblock, so setting it is host-wide; the
// agent's --cgroups-favor-dynmods (on by default) does it at start.

// ErrNoCgroup2 means the host has no cgroup2 mount whose options could be
// changed (a cgroup v1 only host).
var ErrNoCgroup2 = errors.New("no cgroup2 mount")

// dynModsOption is the cgroup2 mount option.
const dynModsOption = "favordynmods"

// FavorDynMods turns on favordynmods on the host's cgroup2 mount, keeping
// its other superblock options. It reports the mount point and whether it
// changed anything: false when the option was already on. It needs
// CAP_SYS_ADMIN in the initial cgroup namespace (the kernel ignores the
// option elsewhere: that is reported as an error).
func FavorDynMods() (mountPoint string, changed bool, err error) {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup2"))
	if err != nil {
		return "", false, fmt.Errorf("read mounts: %w", err)
	}
	if len(mounts) == 0 {
		return "", false, ErrNoCgroup2
	}
	m := mounts[0]
	opts := reconfigureOptions(m.VFSOptions)
	if slices.Contains(opts, dynModsOption) {
		return m.Mountpoint, false, nil
	}
	if err := reconfigure(m.Mountpoint, append(opts, dynModsOption)); err != nil {
		return m.Mountpoint, false, err
	}
	after, err := mountinfo.GetMounts(func(i *mountinfo.Info) (skip, stop bool) {
		return i.Mountpoint != m.Mountpoint || i.FSType != "cgroup2", false
	})
	if err != nil {
		return m.Mountpoint, false, fmt.Errorf("read mounts: %w", err)
	}
	if len(after) == 0 || !slices.Contains(reconfigureOptions(after[0].VFSOptions), dynModsOption) {
		return m.Mountpoint, false, fmt.Errorf("%s: the kernel did not keep %s (not the initial cgroup namespace?)", m.Mountpoint, dynModsOption)
	}
	return m.Mountpoint, true, nil
}

// reconfigureOptions are the superblock options to pass again when the
// superblock is reconfigured: a reconfiguration of cgroup2 sets every
// option it is not given back to its default (nsdelegate and
// memory_recursiveprot would be lost). "rw"/"ro" are the VFS's, not
// cgroup2's.
func reconfigureOptions(vfsOptions string) []string {
	var out []string
	for _, o := range strings.Split(vfsOptions, ",") {
		if o == "" || o == "rw" || o == "ro" {
			continue
		}
		out = append(out, o)
	}
	return out
}

// reconfigure sets the superblock options of the filesystem mounted at
// mountPoint with the new mount API (fspick, fsconfig), which, unlike a
// mount(2) remount, leaves the mount's own flags (nosuid, nodev, noexec)
// as they are.
func reconfigure(mountPoint string, opts []string) error {
	fd, err := unix.Fspick(unix.AT_FDCWD, mountPoint, unix.FSPICK_CLOEXEC|unix.FSPICK_NO_AUTOMOUNT|unix.FSPICK_SYMLINK_NOFOLLOW)
	if err != nil {
		return fmt.Errorf("fspick %s: %w", mountPoint, err)
	}
	defer unix.Close(fd)
	for _, o := range opts {
		key, value, hasValue := strings.Cut(o, "=")
		if hasValue {
			err = unix.FsconfigSetString(fd, key, value)
		} else {
			err = unix.FsconfigSetFlag(fd, key)
		}
		if err != nil {
			return fmt.Errorf("%s: option %s: %w", mountPoint, o, err)
		}
	}
	if err := unix.FsconfigReconfigure(fd); err != nil {
		return fmt.Errorf("%s: reconfigure with %s: %w", mountPoint, strings.Join(opts, ","), err)
	}
	return nil
}
