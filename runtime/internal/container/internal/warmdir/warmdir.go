// Package warmdir removes a warm container's directory (shimapi.Request's
// Slot and WarmDir; the shim's warm.go): both the shim, which made it, and
// the driver, which destroys the container that took it over, do. It is
// apart from shimapi so that the monitor, which links shimapi, stays small.
package warmdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Release removes the warm dir dir once its container is gone: the slot
// is unmounted (with what was bound under it) before anything is removed,
// and nothing is removed while anything under dir is still mounted, for
// the slot holds a task's sandbox. A missing dir is fine.
func Release(dir string) error {
	// An image task's sandbox is bound onto the slot: two mounts there.
	for range 3 {
		err := unix.Unmount(filepath.Join(dir, "slot"), unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			break
		}
		if err != nil {
			return fmt.Errorf("release warm dir: unmount slot: %w", err)
		}
	}
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return fmt.Errorf("release warm dir: %w", err)
	}
	if len(mounts) > 0 {
		return fmt.Errorf("release warm dir: %s is still mounted", mounts[0].Mountpoint)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("release warm dir: %w", err)
	}
	return nil
}
