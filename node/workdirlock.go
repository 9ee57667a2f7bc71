package node

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// workDirLockName is the file under the work dir whose exclusive flock(2)
// makes one nodectl process the owner of that work dir.
const workDirLockName = "nodectl.lock"

// workDirLock is a held work dir lock; Close releases it.
type workDirLock struct{ f *os.File }

// lockWorkDir takes the work dir's lock without waiting (but for
// orphanLockWait when the process it records is gone) and writes this
// process's pid, role and start time into it. When another process holds
// it the error names that process (an exitError: exit 1, one line), so a
// second node on the same work dir stops at once instead of sharing the
// agent's tasks or blocking on etcd's database lock.
//
// The descriptor is close-on-exec (os.OpenFile's default), so tasks and
// shims never inherit the lock; it lives until Close or process exit.
func lockWorkDir(dir, role string) (*workDirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create work dir: %w", err)
	}
	path := filepath.Join(dir, workDirLockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("work dir lock: %w", err)
	}
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) && holderGone(path) {
		err = flockWithin(f, orphanLockWait)
	}
	if err != nil {
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, exitErr(1, fmt.Sprintf("work dir %s is in use by %s: stop it first", dir, describeHolder(path)))
		}
		return nil, fmt.Errorf("work dir lock %s: %w", path, err)
	}
	info := fmt.Sprintf("pid %d\nrole %s\nsince %s\n", os.Getpid(), role, time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(info), 0)
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("work dir lock %s: %w", path, err)
		}
	} else {
		_ = f.Close()
		return nil, fmt.Errorf("work dir lock %s: %w", path, err)
	}
	return &workDirLock{f: f}, nil
}

// orphanLockWait is how long a start waits for a lock whose recorded
// holder no longer runs. A node killed with -9 an instant before may have
// had a child between fork and exec, which shares the descriptor until its
// exec closes it (close-on-exec): the lock outlives the node by that
// moment, longer on a loaded machine.
const orphanLockWait = 2 * time.Second

// holderGone: the lock file at path names a pid that no longer runs.
func holderGone(path string) bool {
	pid, err := strconv.Atoi(holderRecord(path)["pid"])
	return err == nil && pid > 0 && errors.Is(unix.Kill(pid, 0), unix.ESRCH)
}

// flockWithin tries f's exclusive lock every 10 ms until it has it or d
// has passed; it returns the last attempt's error.
func flockWithin(f *os.File, d time.Duration) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for deadline := time.Now().Add(d); ; {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil || !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			return err
		}
		<-t.C
	}
}

// Close releases the lock.
func (l *workDirLock) Close() error { return l.f.Close() }

// describeHolder reads the holder's record from the lock file:
// "nodectl pid 1234 (role all, since 2026-01-02T03:04:05Z)".
func describeHolder(path string) string {
	fields := holderRecord(path)
	if fields["pid"] == "" {
		return "another nodectl process"
	}
	return fmt.Sprintf("nodectl pid %s (role %s, since %s)", fields["pid"], fields["role"], fields["since"])
}

// holderRecord is the lock file's "key value" lines (pid, role, since);
// empty when it cannot be read.
func holderRecord(path string) map[string]string {
	fields := map[string]string{}
	b, err := os.ReadFile(path)
	if err != nil {
		return fields
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok {
			fields[k] = v
		}
	}
	return fields
}
