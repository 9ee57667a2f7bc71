package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"nodectl/cluster/api"
)

// checkDiskRoots checks the PATH and MOUNT disks of --resources (Mesos
// "Multiple Disks"), as Mesos' agent does when it starts: a MOUNT disk's
// root must exist and be a directory; a PATH disk's root is created when
// missing. Neither may hold the work dir, whose contents a volume's
// DESTROY would otherwise delete. Unlike Mesos, a MOUNT root need not be
// a mount point of its own (so that a directory can stand in for a disk).
func checkDiskRoots(workDir string, rs api.Resources) error {
	wd, _ := filepath.Abs(workDir)
	for _, s := range rs.DiskSources() {
		root := s.RootDir(wd)
		if root == wd || strings.HasPrefix(wd, root+string(filepath.Separator)) || root == "/" {
			return fmt.Errorf("%s disk root %s holds the work dir %s", s.Type, s.Root(), wd)
		}
		if s.Type == api.DiskSourcePath {
			if err := os.MkdirAll(root, 0o755); err != nil {
				return fmt.Errorf("PATH disk root %s: %w", s.Root(), err)
			}
		}
		st, err := os.Stat(root)
		switch {
		case err != nil:
			return fmt.Errorf("%s disk root %s: %w", s.Type, s.Root(), err)
		case !st.IsDir():
			return fmt.Errorf("%s disk root %s is not a directory", s.Type, s.Root())
		}
	}
	return nil
}
