package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
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
