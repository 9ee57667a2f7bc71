// Package appliance is the nodectl ISO's PID 1 (`nodectl init`, or the
// binary started as /init): it moves the initramfs into a tmpfs root,
// mounts the base filesystems and the data disk (label NODECTL_DATA),
// loads kernel modules, brings up the network from the kernel command line
// or the config disk (label NODECTL_CFG), seeds the kernel's random pool,
// then starts and supervises `nodectl up` (restarting it with backoff),
// reaps orphans, and powers the machine off or reboots it cleanly on
// request (`nodectl poweroff`, ACPI power button, Ctrl-Alt-Del). docs/iso.md
// describes the appliance.
//
// It knows nothing of the cluster: what it needs from the node (its flag
// names, masking secrets in logs, making a join token to print) comes in
// through Node.
package appliance
