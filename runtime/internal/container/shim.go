package container

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"nodectl/runtime/internal/container/internal/shimapi"
)

// File names of the two helper binaries embedded in nodectl.
const (
	// ShimName creates and starts one container (links libcontainer, cgo).
	ShimName = "nodectl-shim"
	// MonitorName is what the shim execs into to wait for the container.
	MonitorName = "nodectl-monitor"
)

// shimFS holds the shim and monitor binaries when the build put them in
// shimbin/ first (make build); otherwise only shimbin/.gitkeep.
//
//go:embed all:shimbin
var shimFS embed.FS

// embedded returns one embedded helper binary, or ErrNoShim.
func embedded(name string) ([]byte, error) {
	b, err := shimFS.ReadFile("shimbin/" + name)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(b) == 0) {
		return nil, ErrNoShim
	}
	if err != nil {
		return nil, fmt.Errorf("read embedded %s: %w", name, err)
	}
	return b, nil
}

// InstallShim writes the embedded shim and monitor to dir (mode 0755) and
// returns the shim's path (the monitor goes next to it, where Config expects
// it by default). Each file is replaced atomically and only when its content
// differs, so shims and monitors already running from an older file keep
// their inode. Without embedded binaries it returns ErrNoShim.
func InstallShim(dir string) (string, error) {
	var paths []string
	for _, name := range []string{ShimName, MonitorName} {
		b, err := embedded(name)
		if err != nil {
			return "", err
		}
		path, err := install(dir, name, b)
		if err != nil {
			return "", fmt.Errorf("install %s: %w", name, err)
		}
		paths = append(paths, path)
	}
	return paths[0], nil
}

func install(dir, name string, b []byte) (string, error) {
	path := filepath.Join(dir, name)
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, b) {
		if st, err := os.Stat(path); err == nil && st.Mode().Perm() == 0o755 {
			return path, nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := shimapi.WriteFileAtomic(path, b, 0o755, true); err != nil {
		return "", err
	}
	return path, nil
}
