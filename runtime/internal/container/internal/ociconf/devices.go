package ociconf

// The device allow-list (runc's default: deny all, then /dev/null, zero,
// full, random, urandom, tty, console, ptmx and /dev/pts) is enforced by the
// library runc itself uses: on cgroup v1 it writes devices.deny and
// devices.allow, on cgroup v2 it attaches an eBPF program
// (BPF_CGROUP_DEVICE) to the container's cgroup. Both hierarchies thus get
// the same list; without this import libcontainer has no device writer and
// refuses a configuration that lists devices.
import _ "github.com/opencontainers/cgroups/devices"
