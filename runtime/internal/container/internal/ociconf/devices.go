package ociconf

import (
	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer/configs"
)

// runc's full device-cgroup support lives in github.com/opencontainers/cgroups/devices,
// whose cgroup v2 half (an eBPF program) needs github.com/cilium/ebpf, which
// go.mod does not require. Until it does, nodectl installs this cgroup v1
// writer itself; on cgroup v2 the device allow-list is dropped, so there
// containers rely on their minimal /dev tmpfs and the missing CAP_MKNOD.
// Importing the devices package (once go.mod allows) replaces both.
func init() {
	if cgroups.DevicesSetV1 == nil {
		cgroups.DevicesSetV1 = setDevicesV1
	}
}

// setDevicesV1 writes the rules of a fresh container's cgroup in order: the
// default list starts with "deny all", then allows each permitted device.
func setDevicesV1(path string, r *cgroups.Resources) error {
	if r.SkipDevices {
		return nil
	}
	for _, rule := range r.Devices {
		file := "devices.deny"
		if rule.Allow {
			file = "devices.allow"
		}
		if err := cgroups.WriteFile(path, file, rule.CgroupString()); err != nil {
			return err
		}
	}
	return nil
}

// dropUnsupportedDevices clears the allow-list where no writer is installed
// (cgroup v2 without the eBPF support), which libcontainer would otherwise
// refuse to start with.
func dropUnsupportedDevices(cfg *configs.Config) {
	if cgroups.IsCgroup2UnifiedMode() && cgroups.DevicesSetV2 == nil {
		cfg.Cgroups.Resources.Devices = nil
	}
}
