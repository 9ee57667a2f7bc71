// Package isotest boots the nodectl appliance (node/internal/mkiso's
// kernel, initramfs and ISO) under qemu with TCG and checks it from the
// outside: the API through a forwarded port, the serial console, power
// button shutdown, the data disk across reboots, an agent VM joining a
// master VM over a qemu socket network, install and A/B upgrades, and the
// tasks an agent VM brings back by itself when it reboots while its
// master's VM is down. The tests skip unless
// NODECTL_ISO_TEST=1 (make test-iso): each boot takes tens of seconds.
package isotest
