package container

import (
	"embed"
	"errors"
	"fmt"

	"nodectl/runtime/internal/embedbin"
)

// File names of the helper binaries embedded in nodectl.
const (
	// ShimName creates and starts one container (links libcontainer, cgo).
	ShimName = "nodectl-shim"
	// MonitorName is what the shim execs into to wait for the container.
	MonitorName = "nodectl-monitor"
	// SeccompHelperName loads a container's precompiled seccomp filter and
	// executes its command (the container's first program).
	SeccompHelperName = "nodectl-seccomp"
)

// shimFS holds the shim, monitor and seccomp helper binaries when the build put them in
// shimbin/ first (make build); otherwise only shimbin/.gitkeep.
//
//go:embed all:shimbin
var shimFS embed.FS

// InstallShim writes the embedded shim, monitor and seccomp helper to dir
// (mode 0755) and returns the shim's path (the others go next to it, where
// Config expects them by default). Each file is replaced atomically and only when its content
// differs, so shims and monitors already running from an older file keep
// their inode; while dir is as this nodectl binary left it, nothing is read
// (embedbin). Without embedded binaries it returns ErrNoShim.
func InstallShim(dir string) (string, error) {
	paths, err := embedbin.Install(shimFS, "shimbin", dir, ShimName, MonitorName, SeccompHelperName)
	if errors.Is(err, embedbin.ErrMissing) {
		return "", ErrNoShim
	}
	if err != nil {
		return "", fmt.Errorf("install the shim: %w", err)
	}
	return paths[0], nil
}
