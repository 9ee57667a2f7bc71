package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// sandboxDir is the Mesos sandbox path of one run:
// <work_dir>/slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<container>.
func sandboxDir(workDir, agentID, frameworkID, executorID, containerID string) string {
	return filepath.Join(workDir, "slaves", agentID, "frameworks", frameworkID, "executors", executorID, "runs", containerID)
}

// makeSandbox creates the run directory and points runs/latest (and
// slaves/latest) at it.
func makeSandbox(workDir, agentID, frameworkID, executorID, containerID string) (string, error) {
	dir := sandboxDir(workDir, agentID, frameworkID, executorID, containerID)
	spreadChildren(filepath.Join(workDir, "slaves", agentID, "frameworks", frameworkID, "executors"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create sandbox: %w", err)
	}
	if err := relink(filepath.Join(filepath.Dir(dir), "latest"), containerID); err != nil {
		return "", err
	}
	if err := relink(filepath.Join(workDir, "slaves", "latest"), agentID); err != nil {
		return "", err
	}
	return dir, nil
}

// relinkSeq numbers relink's temporary links.
var relinkSeq atomic.Uint64

// relink atomically points the symlink link at target.
func relink(link, target string) error {
	if cur, err := os.Readlink(link); err == nil && cur == target {
		return nil
	}
	// A name of its own: the tasks of one group relink the same "latest"
	// at once.
	tmp := fmt.Sprintf("%s.tmp-%d", link, relinkSeq.Add(1))
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("link %s: %w", link, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		return fmt.Errorf("link %s: %w", link, err)
	}
	return nil
}

// fsTopdirFL is FS_TOPDIR_FL of Linux's include/uapi/linux/fs.h, the
// attribute `chattr +T` sets.
const fsTopdirFL = 0x00020000

// spreadSeen holds directories spreadChildren has seen to, up to
// spreadRemember of them (every `nodectl execute` is a framework of its
// own: a long-lived agent sees many), then starts over; a directory
// forgotten is only looked at again.
var spreadSeen struct {
	sync.Mutex
	dirs map[string]bool
}

const spreadRemember = 1024

// spreadChildren marks dir (made if missing) as the top of a directory
// hierarchy (chattr +T): its subdirectories are unrelated to each other and
// ext4's Orlov allocator places each in a block group of its own choosing, as
// for the users' directories under /home (chattr(1)), instead of beside its
// siblings. A framework's executors directory gets a new subdirectory for
// every task, and so does provisioner/containers for every image task (its
// overlay's upper and work directories, and the mount points libcontainer
// makes in the upper one). Without the mark, every sandbox's inodes (its
// directories, stdout, stderr, latest) come from the same group, and on
// ext4 without a journal each inode allocation there first steps over
// every inode of the group freed in the last minutes (fs/ext4/ialloc.c,
// recently_deleted): a busy agent frees many (ended sandboxes, other
// programs' temporary files). A burst of 50 command tasks spent ~0.5 ms of
// CPU an inode (perf) and took 2.0 s of CPU, 1.45 s with the mark; 50 image
// tasks 1.9–2.2 s, 1.55–1.7 s with it (docs/runtime.md). A hint only: a
// file system without the attribute refuses or ignores it, and the
// directories are made either way.
func spreadChildren(dir string) {
	spreadSeen.Lock()
	seen := spreadSeen.dirs[dir]
	spreadSeen.Unlock()
	if seen {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return // the sandbox's own MkdirAll says why
	}
	spreadSeen.Lock()
	if spreadSeen.dirs == nil || len(spreadSeen.dirs) >= spreadRemember {
		spreadSeen.dirs = make(map[string]bool)
	}
	spreadSeen.dirs[dir] = true
	spreadSeen.Unlock()
	f, err := os.Open(dir)
	if err != nil {
		return
	}
	defer f.Close()
	fd := int(f.Fd())
	flags, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	if err != nil || flags&fsTopdirFL != 0 {
		return
	}
	_ = unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(flags|fsTopdirFL))
}
