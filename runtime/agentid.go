package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// The agent id is checkpointed as Mesos lays it out:
// meta/slaves/latest -> <id>, and meta/slaves/<id>/slave.info.
// (The sqlite checkpoint store of a later issue takes over the rest of meta/.)

func metaSlavesDir(workDir string) string { return filepath.Join(workDir, "meta", "slaves") }

func loadAgentID(workDir string) (string, error) {
	target, err := os.Readlink(filepath.Join(metaSlavesDir(workDir), "latest"))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read agent id checkpoint: %w", err)
	}
	id := filepath.Base(target)
	if _, err := os.Stat(filepath.Join(metaSlavesDir(workDir), id, "slave.info")); err != nil {
		return "", fmt.Errorf("read agent id checkpoint %s: %w (remove %s to register as a new agent)", id, err, filepath.Join(metaSlavesDir(workDir), "latest"))
	}
	return id, nil
}

func saveAgentID(workDir, id string) error {
	dir := filepath.Join(metaSlavesDir(workDir), id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	info, _ := json.Marshal(map[string]string{"id": id})
	if err := writeFileAtomic(filepath.Join(dir, "slave.info"), info); err != nil {
		return err
	}
	link := filepath.Join(metaSlavesDir(workDir), "latest")
	tmp := link + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(id, tmp); err != nil {
		return fmt.Errorf("link latest agent id: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		return fmt.Errorf("link latest agent id: %w", err)
	}
	return syncDir(metaSlavesDir(workDir))
}

// writeFileAtomic writes data to a temp file in the same directory, syncs
// it and renames it into place, so readers see the old or the new content.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
