package node

import (
	"testing"
	"time"
)

// --enforce-container-disk-quota is on by default (Mesos' is off) and
// takes Mesos' spelling; the watch interval may be short for tests.
func TestConfigContainerDiskQuota(t *testing.T) {
	if cfg, err := parse(t, nil); err != nil || !cfg.EnforceDiskQuota || cfg.DiskWatchInterval != 15*time.Second {
		t.Errorf("default: %v enforce=%v interval=%s", err, cfg.EnforceDiskQuota, cfg.DiskWatchInterval)
	}
	if cfg, err := parse(t, nil, "--enforce_container_disk_quota=false", "--container_disk_watch_interval", "100ms"); err != nil || cfg.EnforceDiskQuota || cfg.DiskWatchInterval != 100*time.Millisecond {
		t.Errorf("Mesos spelling: %v enforce=%v interval=%s", err, cfg.EnforceDiskQuota, cfg.DiskWatchInterval)
	}
	if cfg, err := parse(t, nil, "--enforce-container-disk-quota=false"); err != nil || cfg.EnforceDiskQuota {
		t.Errorf("off: %v enforce=%v", err, cfg.EnforceDiskQuota)
	}
}
