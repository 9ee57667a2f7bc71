package runtime

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// The agent's runtime directory (<work dir>/runtime: the containers' run
// directories, libcontainer's state, the warm containers, the command
// tasks' root skeleton) is what Mesos calls the agent's --runtime_dir:
// "runtime data that must survive agent crashes but not reboots"
// (https://mesos.apache.org/documentation/latest/configuration/agent/,
// default /var/run/mesos, a tmpfs), as runc keeps its state in /run/runc.
// The agent mounts a tmpfs there of its own, so the files every container
// start writes and every end removes (~16 new inodes a task) cost no disk
// filesystem work: on ext4 the 50-task burst spent ~7% of its CPU so,
// mostly in the search for a free inode that skips recently freed ones.
// The mount stays while containers run (tasks outlive their agent; a
// restarted agent finds their state in it) and goes with the reboot or
// with the agent's last container (releaseRuntimeDir).

// runtimeDir is the agent's runtime directory.
func runtimeDir(workDir string) string { return filepath.Join(workDir, "runtime") }

// runtimeTmpfsSize bounds the runtime tmpfs: ~40 KB a container.
const runtimeTmpfsSize = "256m"

// mountRuntimeDir puts dir on a tmpfs of its own, if it is not on one
// already (a restarted agent's), moving what an agent that kept it on disk
// left there (its containers' state) into the tmpfs before it is mounted
// over the directory. It reports whether dir is on a tmpfs mounted here.
// Where a tmpfs cannot be mounted, or dir holds mounts, dir stays as it
// is, said once in the log.
func mountRuntimeDir(dir string, log *slog.Logger) (bool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("runtime dir: %w", err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false, fmt.Errorf("runtime dir: %w", err)
	}
	if st.Type == unix.TMPFS_MAGIC {
		return false, nil
	}
	under, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return false, fmt.Errorf("runtime dir: %w", err)
	}
	if len(under) > 0 {
		log.Warn("runtime dir stays on disk: it holds mounts", "dir", dir, "mount", under[0].Mountpoint)
		return false, nil
	}
	if err := moveToTmpfs(dir); err != nil {
		log.Warn("runtime dir stays on disk", "dir", dir, "err", err)
		return false, nil
	}
	return true, nil
}

// moveToTmpfs makes a detached tmpfs (fsopen(2), fsmount(2)), copies dir
// into it, attaches it over dir (move_mount(2): whole or not at all) and
// then empties the directory beneath, through a descriptor of it opened
// before.
func moveToTmpfs(dir string) error {
	fsfd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen tmpfs: %w", err)
	}
	defer unix.Close(fsfd)
	for _, o := range [][2]string{{"mode", "0700"}, {"size", runtimeTmpfsSize}} {
		if err := unix.FsconfigSetString(fsfd, o[0], o[1]); err != nil {
			return fmt.Errorf("tmpfs option %s: %w", o[0], err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("create tmpfs: %w", err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
	if err != nil {
		return fmt.Errorf("fsmount tmpfs: %w", err)
	}
	defer unix.Close(mfd)
	beneath, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer beneath.Close()
	// "/." follows the descriptors' links (WalkDir does not follow its root).
	fdPath := func(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) + "/." }
	if err := copyTree(fdPath(int(beneath.Fd())), fdPath(mfd)); err != nil {
		return fmt.Errorf("copy into tmpfs: %w", err)
	}
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, dir, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attach tmpfs: %w", err)
	}
	// The copy is in place: what it copied, now beneath the mount, goes.
	names, err := beneath.Readdirnames(-1)
	if err != nil {
		return nil // harmless: covered, and copied again at no later mount
	}
	for _, n := range names {
		_ = os.RemoveAll(filepath.Join(fdPath(int(beneath.Fd())), n))
	}
	return nil
}

// copyTree copies the directories, regular files and symlinks under src
// into dst (which exists), with their modes and owners.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || rel == "." {
			return err
		}
		to := filepath.Join(dst, rel)
		info, err := e.Info()
		if err != nil {
			return err
		}
		switch {
		case e.IsDir():
			err = os.Mkdir(to, info.Mode().Perm())
		case e.Type()&fs.ModeSymlink != 0:
			var target string
			if target, err = os.Readlink(p); err == nil {
				err = os.Symlink(target, to)
			}
		case e.Type().IsRegular():
			err = copyFile(p, to, info.Mode().Perm())
		default:
			return nil // sockets, fifos: nothing of a container's state
		}
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*unix.Stat_t); ok {
			if err := os.Lchown(to, int(st.Uid), int(st.Gid)); err != nil {
				return err
			}
		}
		if e.IsDir() { // a mode umask narrowed at Mkdir
			return os.Chmod(to, info.Mode().Perm())
		}
		return nil
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, perm)
}

// releaseRuntimeDir unmounts the runtime tmpfs at dir once no container
// is left in it (their run directories and libcontainer's state): the
// agent is stopping and nothing needs it until the next one mounts it
// again. A dir that is not a tmpfs is left alone.
func releaseRuntimeDir(dir string, log *slog.Logger) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		return
	}
	for _, sub := range []string{"containers", "runc", "warm"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return
		}
		if len(ents) > 0 {
			return // containers outlive the agent; the next one needs them
		}
	}
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
		log.Warn("unmount the runtime dir", "dir", dir, "err", err)
	}
}
