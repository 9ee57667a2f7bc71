// Package install writes the appliance's disk layout to an empty disk (or
// a disk image file): a GPT with a BIOS boot partition holding GRUB's
// core image, an EFI system partition (FAT32, label NODECTL_ESP) holding
// GRUB for UEFI (the removable-media path EFI/BOOT/BOOTX64.EFI), grub.cfg,
// the environment block and the system slots A and B, and the data
// partition (ext4, label NODECTL_DATA) the node keeps its state on.
//
// The partition table and the FAT filesystem are written with
// github.com/diskfs/go-diskfs (no partitioning or mkfs.vfat binary in the
// appliance); the data partition is formatted by mke2fs, which the
// initramfs already carries. GRUB's images are made at build time by
// grub-mkimage (node/internal/mkiso); what grub-bios-setup would do at
// install time, pointing the MBR's boot code at the core image and the
// core image at its own sectors, is done here (setupBIOS).
//
// It imports only node/internal packages.
package install

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	diskfs "github.com/diskfs/go-diskfs"
	disk2 "github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/partition/gpt"
	"golang.org/x/sys/unix"

	"nodectl/node/internal/disk"
	"nodectl/node/internal/slots"
)

// Sizes of the layout, in 512-byte sectors.
const (
	sector      = 512
	mib         = 1 << 20 / sector
	biosStart   = 1 * mib   // the usual 1 MiB alignment
	biosSize    = 1 * mib   // GRUB's core image (≈ 100-200 KiB) with room
	espSize     = 512 * mib // two slots of kernel + initramfs (≈ 30 MiB each) with room, and GRUB
	minDataSize = 512 * mib
	gptTail     = 33 // backup partition entries and header at the disk's end
)

// DataLabel is the data partition's ext4 label (node/appliance mounts it).
const DataLabel = "NODECTL_DATA"

// Layout is the partitions' places, in sectors.
type Layout struct {
	DiskSectors int64
	BIOS        Part
	ESP         Part
	Data        Part
}

// Part is a partition's first sector and its count.
type Part struct{ Start, Sectors int64 }

// End is the partition's last sector.
func (p Part) End() int64 { return p.Start + p.Sectors - 1 }

// Plan lays out a disk of diskBytes; it fails when the disk is too small.
func Plan(diskBytes int64) (Layout, error) {
	n := diskBytes / sector
	l := Layout{DiskSectors: n, BIOS: Part{biosStart, biosSize}}
	l.ESP = Part{l.BIOS.Start + l.BIOS.Sectors, espSize}
	dataStart := l.ESP.Start + l.ESP.Sectors
	lastUsable := n - gptTail - 1
	// The data partition ends on a MiB boundary too.
	dataEnd := (lastUsable+1)/mib*mib - 1
	l.Data = Part{dataStart, dataEnd - dataStart + 1}
	if l.Data.Sectors < minDataSize {
		need := (dataStart + minDataSize + gptTail + 1 + mib) * sector
		return l, fmt.Errorf("disk of %d MiB is too small: an install needs at least %d MiB", diskBytes>>20, need>>20)
	}
	return l, nil
}

// Source is the system that goes into slot A.
type Source struct {
	Kernel, Initrd string // files
	Version        string
}

// BootFiles are GRUB's images, made at build time.
type BootFiles struct {
	Dir string // holds boot.img, core.img (i386-pc) and bootx64.efi
}

// The file names in BootFiles.Dir.
const (
	BootImg = "boot.img"
	CoreImg = "core.img"
	EFIImg  = "bootx64.efi"
)

// Options say what to install where.
type Options struct {
	Target     string // a whole disk (/dev/vda) or an image file
	Source     Source
	Boot       BootFiles
	KernelArgs string // kept on every kernel command line (grub.cfg)
	// Mke2fs is the mke2fs binary; "" finds it on PATH or in /usr/sbin.
	Mke2fs string
	Log    func(msg string)
}

// Install writes the layout and slot A. The target must be empty (its
// first MiB all zeros): nothing is ever overwritten.
func Install(o Options) (Layout, error) {
	logf := o.Log
	if logf == nil {
		logf = func(string) {}
	}
	st, err := os.Stat(o.Target)
	if err != nil {
		return Layout{}, err
	}
	isDev := st.Mode()&os.ModeDevice != 0
	if !isDev && !st.Mode().IsRegular() {
		return Layout{}, fmt.Errorf("%s is neither a block device nor an image file", o.Target)
	}
	boot, err := readBootFiles(o.Boot.Dir)
	if err != nil {
		return Layout{}, err
	}
	grubCfg, err := slots.GrubConfig(o.KernelArgs)
	if err != nil {
		return Layout{}, err
	}
	for _, f := range []string{o.Source.Kernel, o.Source.Initrd} {
		if _, err := os.Stat(f); err != nil {
			return Layout{}, fmt.Errorf("system to install: %w", err)
		}
	}
	if err := CheckEmpty(o.Target); err != nil {
		return Layout{}, err
	}

	d, err := diskfs.Open(o.Target, diskfs.WithOpenMode(diskfs.ReadWriteExclusive))
	if err != nil {
		return Layout{}, err
	}
	closed := false
	defer func() {
		if !closed {
			d.Close()
		}
	}()
	l, err := Plan(d.Size)
	if err != nil {
		return l, err
	}
	logf(fmt.Sprintf("partitioning %s (%d MiB): BIOS boot 1 MiB, EFI system %d MiB, data %d MiB", o.Target, d.Size>>20, l.ESP.Sectors/mib, l.Data.Sectors/mib))
	table := &gpt.Table{
		LogicalSectorSize: sector, PhysicalSectorSize: sector, ProtectiveMBR: true,
		Partitions: []*gpt.Partition{
			{Index: 1, Start: uint64(l.BIOS.Start), End: uint64(l.BIOS.End()), Type: gpt.BIOSBoot, Name: "BIOS boot"},
			{Index: 2, Start: uint64(l.ESP.Start), End: uint64(l.ESP.End()), Type: gpt.EFISystemPartition, Name: "EFI system (nodectl slots)"},
			{Index: 3, Start: uint64(l.Data.Start), End: uint64(l.Data.End()), Type: gpt.LinuxFilesystem, Name: DataLabel},
		},
	}
	if err := d.Partition(table); err != nil && !isDev {
		return l, fmt.Errorf("write partition table: %w", err)
	} else if err != nil {
		// The kernel may refuse to re-read a table at once; it is written.
		logf("partition table written; re-read: " + err.Error())
	}
	fs, err := d.CreateFilesystem(diskfsSpec())
	if err != nil {
		return l, fmt.Errorf("format EFI system partition: %w", err)
	}
	files := []struct {
		path string
		src  io.Reader
	}{
		{"/EFI/BOOT/BOOTX64.EFI", strings.NewReader(string(boot.efi))},
		{"/" + slots.ConfigPath, strings.NewReader(grubCfg)},
		{"/" + slots.EnvPath, envReader()},
		{"/A/" + slots.Kernel, fileReader(o.Source.Kernel)},
		{"/A/" + slots.Initrd, fileReader(o.Source.Initrd)},
		{"/A/" + slots.Version, strings.NewReader(o.Source.Version + "\n")},
	}
	for _, dir := range []string{"/EFI", "/EFI/BOOT", "/grub", "/A", "/B"} {
		if err := fs.Mkdir(dir); err != nil {
			return l, fmt.Errorf("mkdir %s: %w", dir, err)
		}
	}
	for _, f := range files {
		if err := copyInto(fs, f.path, f.src); err != nil {
			return l, fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	logf("EFI system partition: GRUB (UEFI), grub.cfg, environment block, slot A " + o.Source.Version)
	w, err := d.Backend.Writable()
	if err != nil {
		return l, err
	}
	if err := setupBIOS(w, boot.boot, boot.core, l.BIOS); err != nil {
		return l, err
	}
	logf("GRUB (BIOS) in the MBR and the BIOS boot partition")
	if f, err := d.Backend.Sys(); err == nil {
		if err := f.Sync(); err != nil {
			return l, err
		}
	}
	closed = true
	if err := d.Close(); err != nil {
		return l, err
	}
	if err := formatData(o, l, isDev); err != nil {
		return l, err
	}
	logf("data partition formatted (ext4 " + DataLabel + ")")
	return l, nil
}

func diskfsSpec() disk2.FilesystemSpec {
	return disk2.FilesystemSpec{Partition: 2, FSType: filesystem.TypeFat32, VolumeLabel: slots.BootLabel}
}

func envReader() io.Reader {
	b, _ := slots.Env{"slot": slots.A}.Encode()
	return strings.NewReader(string(b))
}

type lazyFile struct {
	path string
	f    *os.File
}

func (l *lazyFile) Read(p []byte) (int, error) {
	if l.f == nil {
		f, err := os.Open(l.path)
		if err != nil {
			return 0, err
		}
		l.f = f
	}
	n, err := l.f.Read(p)
	if errors.Is(err, io.EOF) {
		l.f.Close()
	}
	return n, err
}

func fileReader(p string) io.Reader { return &lazyFile{path: p} }

func copyInto(fs filesystem.FileSystem, path string, r io.Reader) error {
	f, err := fs.OpenFile(path, os.O_CREATE|os.O_RDWR)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// CheckEmpty refuses a target whose first MiB is not all zeros.
func CheckEmpty(target string) error {
	f, err := os.Open(target)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := disk.Probe(f)
	if err != nil {
		return err
	}
	if !info.Empty {
		what := "data"
		if info.FS != disk.FSNone {
			what = info.FS + " filesystem " + info.Label
		}
		return fmt.Errorf("%s is not empty (it holds %s): install writes only to a disk whose first MiB is zeros", target, what)
	}
	return nil
}

type bootImages struct{ boot, core, efi []byte }

func readBootFiles(dir string) (bootImages, error) {
	var b bootImages
	for _, f := range []struct {
		name string
		dst  *[]byte
	}{{BootImg, &b.boot}, {CoreImg, &b.core}, {EFIImg, &b.efi}} {
		data, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			return b, fmt.Errorf("GRUB image (built by mkiso): %w", err)
		}
		*f.dst = data
	}
	return b, nil
}

// PartitionPath is the device node of partition n of disk dev
// (/dev/vda → /dev/vda3, /dev/nvme0n1 → /dev/nvme0n1p3).
func PartitionPath(dev string, n int) string {
	if last := dev[len(dev)-1]; last >= '0' && last <= '9' {
		return fmt.Sprintf("%sp%d", dev, n)
	}
	return fmt.Sprintf("%s%d", dev, n)
}

// formatData makes the ext4 filesystem of the data partition: on its
// device node (after the kernel re-read the table), or at its offset in an
// image file.
func formatData(o Options, l Layout, isDev bool) error {
	mke2fs := o.Mke2fs
	if mke2fs == "" {
		var err error
		if mke2fs, err = exec.LookPath("mke2fs"); err != nil {
			mke2fs = "/usr/sbin/mke2fs"
		}
	}
	args := []string{"-q", "-F", "-t", "ext4", "-L", DataLabel, "-E", "lazy_itable_init=1,lazy_journal_init=1"}
	if isDev {
		part := PartitionPath(o.Target, 3)
		if err := rereadPartitions(o.Target, part); err != nil {
			return err
		}
		args = append(args, part)
	} else {
		args[len(args)-1] += fmt.Sprintf(",offset=%d", l.Data.Start*sector)
		args = append(args, o.Target, fmt.Sprintf("%dk", l.Data.Sectors*sector/1024))
	}
	if out, err := exec.Command(mke2fs, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("mke2fs: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// rereadPartitions asks the kernel to read dev's new table (BLKRRPART)
// and waits for the partition's node to appear (devtmpfs makes it).
func rereadPartitions(dev, part string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		rerr := unix.IoctlSetInt(fd, unix.BLKRRPART, 0)
		unix.Close(fd)
		if _, err := os.Stat(part); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("partition %s did not appear after re-reading %s (BLKRRPART: %v)", part, dev, rerr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
