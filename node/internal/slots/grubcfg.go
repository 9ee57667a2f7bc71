package slots

import (
	"fmt"
	"strings"
)

// BootLabel is the FAT label of the boot partition (the EFI system
// partition, which holds the slots too): GRUB's images search for it.
const BootLabel = "NODECTL_ESP"

// EarlyConfig is built into GRUB's BIOS and UEFI images (grub-mkimage -c):
// it finds the boot partition by label, whatever the disk's number.
const EarlyConfig = `search --no-floppy --label ` + BootLabel + ` --set=root
set prefix=($root)/grub
`

// GrubModules go into both GRUB images, so the boot partition needs no
// module directory: disk and partition access, FAT, the script commands
// grub.cfg uses, the environment block, the serial console, Linux boot.
var GrubModules = []string{
	"part_gpt", "part_msdos", "fat", "search", "search_label", "normal", "configfile",
	"linux", "loadenv", "test", "echo", "serial", "terminal", "reboot", "halt", "sleep",
}

// GrubConfig is grub.cfg of an installed disk. extra is appended to every
// kernel command line (the nodectl.* parameters the installing boot had).
//
// Boot counting: while a slot is on trial (next=) with tries left, it
// boots and one try is taken (save_env before the kernel starts); with
// none left the default slot boots and GRUB records the failed trial,
// which nodectl reports. The default slot is also the menu's fallback
// entry, should the trial's kernel fail to load.
func GrubConfig(extra string) (string, error) {
	if strings.ContainsAny(extra, "'\n\\$") {
		return "", fmt.Errorf("kernel parameters to keep may not contain quotes, backslashes, $ or newlines: %q", extra)
	}
	var b strings.Builder
	b.WriteString(`# nodectl: two system slots (A, B) and boot counting; written by nodectl install (docs/appliance.md).
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=1
set slot=A
set next=
set tries=
set failed=
load_env slot next tries failed
set boot="$slot"
if [ -n "$next" ]; then
  if [ "$tries" = "3" ]; then
    set tries=2
    set boot="$next"
  elif [ "$tries" = "2" ]; then
    set tries=1
    set boot="$next"
  elif [ "$tries" = "1" ]; then
    set tries=0
    set boot="$next"
  else
    set failed="$next"
    set next=
    set tries=
  fi
  save_env next tries failed
fi
`)
	fmt.Fprintf(&b, "set extra='%s'\n", extra)
	b.WriteString(`set default=0
set fallback=1
menuentry "nodectl (slot $boot)" {
  linux /$boot/vmlinuz console=tty0 console=ttyS0,115200 panic=10 nodectl.slot=$boot $extra
  initrd /$boot/initrd.img
}
menuentry "nodectl (default slot $slot)" {
  linux /$slot/vmlinuz console=tty0 console=ttyS0,115200 panic=10 nodectl.slot=$slot $extra
  initrd /$slot/initrd.img
}
`)
	return b.String(), nil
}
