package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// writableTmp makes the /tmp of an image task's private root filesystem
// a sticky, world-writable directory (1777, as the Filesystem Hierarchy
// Standard and every common base image have it), creating it when the
// image has none. Tasks run as an unprivileged user by default, and a
// minimal image whose /tmp is root's 0755 would otherwise leave them no
// scratch space; command tasks get a private 1777 tmpfs instead. A /tmp
// that is a symlink or a file is the image's choice and is left alone.
// The rootfs is the container's own (an overlay's upper layer or a copy),
// so the shared image layers are never changed; every path is resolved
// beneath rootfs.
func writableTmp(rootfs string) error {
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return fmt.Errorf("open the image's root filesystem: %w", err)
	}
	defer root.Close()
	const want = fs.ModeSticky | 0o777
	st, err := root.Lstat("tmp")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := root.Mkdir("tmp", 0o777); err != nil {
			return fmt.Errorf("create /tmp in the image's root filesystem: %w", err)
		}
	case err != nil:
		return fmt.Errorf("/tmp of the image: %w", err)
	case !st.IsDir():
		return nil
	case st.Mode()&(fs.ModePerm|fs.ModeSticky) == want:
		return nil
	}
	if err := root.Chmod("tmp", want); err != nil {
		return fmt.Errorf("make /tmp of the image writable: %w", err)
	}
	return nil
}
