package install

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"nodectl/node/internal/slots"
)

// GrubDir is where Debian's grub-pc-bin and grub-efi-amd64-bin keep GRUB's
// modules and images.
const GrubDir = "/usr/lib/grub"

// MakeGrubImages makes the GRUB images an install writes (build time, on
// the build host): core.img for BIOS and bootx64.efi for UEFI with
// grub-mkimage, every module built in and slots.EarlyConfig as their
// config, and boot.img copied.
func MakeGrubImages(dir string) error {
	early := filepath.Join(dir, "early.cfg")
	if err := os.WriteFile(early, []byte(slots.EarlyConfig), 0o644); err != nil {
		return err
	}
	defer os.Remove(early)
	for _, img := range []struct {
		format, out string
		extra       []string
	}{
		{"i386-pc", CoreImg, []string{"biosdisk"}},
		{"x86_64-efi", EFIImg, []string{"efi_gop"}},
	} {
		args := append([]string{"-O", img.format, "-o", filepath.Join(dir, img.out), "-c", early, "-p", "/grub", "-d", filepath.Join(GrubDir, img.format)}, img.extra...)
		args = append(args, slots.GrubModules...)
		if out, err := exec.Command("grub-mkimage", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("grub-mkimage %s (grub-common, grub-pc-bin, grub-efi-amd64-bin): %w: %s", img.format, err, strings.TrimSpace(string(out)))
		}
	}
	b, err := os.ReadFile(filepath.Join(GrubDir, "i386-pc", BootImg))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, BootImg), b, 0o644)
}
