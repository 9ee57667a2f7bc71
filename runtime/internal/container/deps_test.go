package container_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies guards the shape of the design (see docs/runtime.md):
// nodectl links only the cgo-free half of libcontainer. (The long-lived
// monitor is C, outside Go's imports: TestMonitorPSS keeps it tiny.)
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	tests := []struct {
		pkg    string
		cgo    string
		banned map[string]string // import path → why not
	}{
		{
			pkg: "nodectl/runtime/internal/container",
			cgo: "0",
			banned: map[string]string{
				"github.com/opencontainers/runc/libcontainer/specconv": "needs cgo; nodectl stays CGO_ENABLED=0 (only the shim converts specs)",
				"github.com/opencontainers/runc/libcontainer/nsenter":  "needs cgo; nodectl is never re-executed as a container init",
				"nodectl/runtime/internal/container/internal/ociconf":  "shim-only: imports specconv",
				"nodectl/storage": "the driver owns no checkpoints; runtime/ does",
				"nodectl/cluster": "the driver knows nothing of the master",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			cmd := exec.Command("go", "list", "-deps", tt.pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED="+tt.cgo)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("go list: %v\n%s", err, out)
			}
			for _, dep := range strings.Fields(string(out)) {
				if why, ok := tt.banned[dep]; ok {
					t.Errorf("%s imports %s: %s", tt.pkg, dep, why)
				}
			}
		})
	}
}
