package runtime

import (
	"fmt"
	"os"
	goruntime "runtime"
	"syscall"
	"unsafe"
)

// openAs opens the host file p for reading with the filesystem identity of
// u (its uid, gid and supplementary groups), so the kernel checks every
// directory on the way and the file's mode as it would for u's own
// processes: a task running as nobody cannot fetch /etc/shadow or another
// user's files into its sandbox. u nil or root opens as the agent.
//
// The identity is changed on one OS thread only, with setfsuid(2),
// setfsgid(2) and the raw setgroups(2) system call (all three are
// per-thread in the kernel; Go's syscall.Setgroups would change every
// thread of the agent). The goroutine that does it never unlocks its
// thread, so the Go runtime ends that thread with it instead of handing it
// to other goroutines.
func openAs(p string, u *taskUser) (*os.File, error) {
	if u == nil || (u.UID == 0 && u.GID == 0) {
		return os.Open(p)
	}
	type result struct {
		f   *os.File
		err error
	}
	done := make(chan result, 1)
	go func() {
		goruntime.LockOSThread()
		// No UnlockOSThread: see above.
		if err := setThreadFSIdentity(u); err != nil {
			done <- result{err: err}
			return
		}
		f, err := os.Open(p)
		if err != nil {
			err = fmt.Errorf("as user %s (uid %d): %w", u.Name, u.UID, err)
		}
		done <- result{f, err}
	}()
	r := <-done
	return r.f, r.err
}

// setThreadFSIdentity sets the calling thread's filesystem uid, gid and
// supplementary groups to u's, and checks they took.
func setThreadFSIdentity(u *taskUser) error {
	groups := append([]uint32{u.GID}, u.Groups...)
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETGROUPS, uintptr(len(groups)), uintptr(unsafe.Pointer(&groups[0])), 0); e != 0 {
		return fmt.Errorf("setgroups for user %s: %w", u.Name, e)
	}
	syscall.RawSyscall(syscall.SYS_SETFSGID, uintptr(u.GID), 0, 0)
	syscall.RawSyscall(syscall.SYS_SETFSUID, uintptr(u.UID), 0, 0)
	// With an invalid id (-1) both calls change nothing and return the
	// current one.
	gid, _, _ := syscall.RawSyscall(syscall.SYS_SETFSGID, uintptr(^uint32(0)), 0, 0)
	uid, _, _ := syscall.RawSyscall(syscall.SYS_SETFSUID, uintptr(^uint32(0)), 0, 0)
	if uint32(uid) != u.UID || uint32(gid) != u.GID {
		return fmt.Errorf("switch to user %s (uid %d, gid %d) to open a local file: the thread has fsuid %d, fsgid %d", u.Name, u.UID, u.GID, uint32(uid), uint32(gid))
	}
	return nil
}
