// Command mkiso builds the nodectl appliance: an initramfs whose /init is
// nodectl (PID 1 mode), a curated set of the kernel's modules, mke2fs for
// formatting the data disk, an optional embedded config and preloaded
// image archives; and a hybrid BIOS+UEFI ISO around it made with
// grub-mkrescue. `make iso` runs it; see docs/iso.md.
//
// Everything comes from the installed Debian packages (linux-image-amd64,
// e2fsprogs, grub-pc-bin, grub-efi-amd64-bin, xorriso, mtools) and the
// project's own build, so it works offline. Entries are sorted and their
// times are SOURCE_DATE_EPOCH, so the initramfs is byte-for-byte
// reproducible.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// defaultModules are the drivers the appliance loads at boot: virtual
// hardware (virtio, e1000, IDE/AHCI CD-ROM, USB sticks), the filesystems of
// the data and config disks, container networking and overlay rootfs, and
// the ACPI power button with the event device it reports through. The
// crc32c drivers come first, in a group of their own ("|" ends a group):
// ext4 and libcrc32c look them up by name at load time, and there is no
// modprobe to fetch them. Modules of a group load concurrently.
var defaultModules = []string{
	"crc32c_intel", "crc32c_generic", "virtio_rng", "|",
	"virtio_pci", "virtio_net", "virtio_blk", "virtio_console", "virtio_scsi", "e1000", "e1000e",
	"ata_piix", "ahci", "sr_mod", "sd_mod", "usb_storage", "xhci_pci", "ehci_pci",
	"ext4", "squashfs", "isofs", "vfat", "nls_cp437", "nls_ascii", "nls_utf8", "nls_iso8859_1",
	"overlay", "veth", "bridge", "nf_tables",
	"button", "evdev",
}

func main() {
	var cfg Config
	flag.StringVar(&cfg.Nodectl, "nodectl", "bin/nodectl", "the static nodectl binary to use as /init")
	flag.StringVar(&cfg.KernelVersion, "kernel-version", "", "kernel release under /lib/modules (default: the newest with a /boot/vmlinuz)")
	flag.StringVar(&cfg.Config, "config", "", "YAML config to embed (same keys as `up --config`)")
	images := flag.String("images", "", "space- or comma-separated OCI/docker-save archives to preload")
	modules := flag.String("modules", strings.Join(defaultModules, ","), "comma-separated kernel modules (dependencies are added); \"|\" ends a group loaded before the next")
	flag.StringVar(&cfg.Out, "out", "out", "output directory: vmlinuz, initrd.img, nodectl.iso")
	flag.StringVar(&cfg.Cmdline, "cmdline", "", "extra kernel command line for the ISO's boot entry")
	noISO := flag.Bool("no-iso", false, "build only vmlinuz and initrd.img (for -kernel/-initrd boots)")
	flag.StringVar(&cfg.UpdateKey, "update-key", "", "ed25519 private key (PEM) signing update bundles, made when missing; its public key goes into the initramfs")
	flag.StringVar(&cfg.Version, "version", "", "the system's version string (the update bundle's manifest)")
	flag.BoolVar(&cfg.Bundle, "bundle", false, "also write nodectl-update.tar: kernel and initramfs signed with -update-key")
	binOnly := flag.Bool("binary-bundle", false, "write only nodectl-binary.tar (the -nodectl binary signed with -update-key) and update.pub, for plain installs")
	flag.Parse()
	cfg.Images = strings.FieldsFunc(*images, func(r rune) bool { return r == ' ' || r == ',' })
	cfg.Modules = strings.Split(*modules, ",")
	cfg.ISO = !*noISO
	cfg.Epoch = time.Unix(0, 0)
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		var sec int64
		if _, err := fmt.Sscan(s, &sec); err != nil {
			fmt.Fprintln(os.Stderr, "mkiso: SOURCE_DATE_EPOCH is not a number")
			os.Exit(2)
		}
		cfg.Epoch = time.Unix(sec, 0)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *binOnly {
		files, err := BuildBinaryBundle(cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mkiso: "+err.Error())
			os.Exit(1)
		}
		for _, f := range files {
			fmt.Println(f)
		}
		return
	}
	start := time.Now()
	res, err := Build(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkiso: "+err.Error())
		os.Exit(1)
	}
	for _, f := range res.Files {
		st, err := os.Stat(f)
		if err != nil {
			continue
		}
		fmt.Printf("%s\t%.1f MB\n", filepath.Join(f), float64(st.Size())/(1<<20))
	}
	fmt.Printf("built in %s (kernel %s, %d modules)\n", time.Since(start).Round(100*time.Millisecond), res.KernelVersion, res.Modules)
}
