package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestImageGCConfigFlag: Mesos' --image_gc_config inline, from a file
// and through MESOS_IMAGE_GC_CONFIG; what Mesos requires is required and
// what nodectl cannot honour is refused with its name.
func TestImageGCConfigFlag(t *testing.T) {
	clearMesosEnv(t)
	js := `{"image_disk_headroom": 0.2, "image_disk_watch_interval": {"nanoseconds": 60000000000}, "excluded_images": [{"type": "DOCKER", "docker": {"name": "busybox:1"}}]}`
	file := filepath.Join(t.TempDir(), "gc.json")
	if err := os.WriteFile(file, []byte(js), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{js, file, "file://" + file} {
		cfg, err := parse(t, nil, "--work-dir", t.TempDir(), "--resources", "cpus:1;mem:64", "--image_gc_config", v)
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		g := cfg.SandboxGC.ImageGC
		if !g.Enabled || g.DiskHeadroom != 0.2 || g.DiskWatchInterval != time.Minute || len(g.ExcludedImages) != 1 || g.ExcludedImages[0] != "busybox:1" {
			t.Errorf("%s: %+v", v, g)
		}
	}
	cfg, err := parse(t, nil, "--work-dir", t.TempDir(), "--resources", "cpus:1;mem:64")
	if err != nil || cfg.SandboxGC.ImageGC.Enabled {
		t.Errorf("default: %+v, %v (want disabled, as in Mesos)", cfg.SandboxGC.ImageGC, err)
	}
	for v, want := range map[string]string{
		`{"image_disk_watch_interval": {"nanoseconds": 1}}`:                                                                    "image_disk_headroom is required",
		`{"image_disk_headroom": 0.1}`:                                                                                         "image_disk_watch_interval is required",
		`{"image_disk_headroom": 1.5, "image_disk_watch_interval": {"nanoseconds": 1}}`:                                        "not in [0, 1]",
		`{"image_disk_headroom": 0.1, "image_disk_watch_interval": {"nanoseconds": 0}}`:                                        "must be positive",
		`{"image_disk_headroom": 0.1, "image_disk_watch_interval": {"nanoseconds": 1}, "excluded_images": [{"type": "APPC"}]}`: "excluded_images[0]",
		`{"image_disk_headroom": 0.1, "image_disk_watch_interval": {"nanoseconds": 1}, "other": 1}`:                            `unknown field "other"`,
		"/no/such/file": "not a JSON object",
	} {
		_, err := parse(t, nil, "--work-dir", t.TempDir(), "--resources", "cpus:1;mem:64", "--image_gc_config", v)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--image-gc-config") {
			t.Errorf("%s: %v, want an error naming --image-gc-config and %q", v, err, want)
		}
	}
	cfg, err = parse(t, map[string]string{"MESOS_IMAGE_GC_CONFIG": js}, "--work-dir", t.TempDir(), "--resources", "cpus:1;mem:64")
	if err != nil || !cfg.SandboxGC.ImageGC.Enabled {
		t.Errorf("MESOS_IMAGE_GC_CONFIG: %+v, %v", cfg.SandboxGC.ImageGC, err)
	}
}
