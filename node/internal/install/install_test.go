package install

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"nodectl/node/internal/disk"
	"nodectl/node/internal/slots"
)

func TestPlan(t *testing.T) {
	l, err := Plan(4 << 30)
	if err != nil {
		t.Fatal(err)
	}
	if l.BIOS.Start != 2048 || l.BIOS.Sectors != 2048 || l.ESP.Start != 4096 || l.ESP.Sectors != 512*2048 {
		t.Errorf("layout %+v", l)
	}
	if l.Data.Start != l.ESP.End()+1 || l.Data.End() >= l.DiskSectors-gptTail-1 || (l.Data.End()+1)%2048 != 0 {
		t.Errorf("data partition %+v on a disk of %d sectors", l.Data, l.DiskSectors)
	}
	if _, err := Plan(700 << 20); err == nil || !strings.Contains(err.Error(), "too small") {
		t.Errorf("a 700 MiB disk: %v, want too small", err)
	}
}

func TestPartitionPath(t *testing.T) {
	for dev, want := range map[string]string{"/dev/vda": "/dev/vda3", "/dev/sdb": "/dev/sdb3", "/dev/nvme0n1": "/dev/nvme0n1p3", "/dev/mmcblk0": "/dev/mmcblk0p3"} {
		if got := PartitionPath(dev, 3); got != want {
			t.Errorf("PartitionPath(%s) = %s, want %s", dev, got, want)
		}
	}
}

// grubImages makes the GRUB images as mkiso does (skips without GRUB).
func grubImages(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("grub-mkimage"); err != nil {
		t.Skip("grub-mkimage not installed (grub-common; make iso installs it)")
	}
	if _, err := os.Stat("/usr/lib/grub/i386-pc/boot.img"); err != nil {
		t.Skip("grub-pc-bin not installed")
	}
	dir := t.TempDir()
	if err := MakeGrubImages(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestInstallImage installs onto a sparse image file and reads the result
// back: the GPT, the FAT with GRUB, grub.cfg, the environment block and
// slot A, the MBR pointing at the core image, the ext4 data partition.
func TestInstallImage(t *testing.T) {
	bootDir := grubImages(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if keep := os.Getenv("NODECTL_KEEP_IMAGE"); keep != "" {
		img = keep
	}
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(2 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	kernel, initrd := filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "initrd.img")
	if k := os.Getenv("NODECTL_KEEP_KERNEL"); k != "" {
		kernel, initrd = k, os.Getenv("NODECTL_KEEP_INITRD")
	} else {
		os.WriteFile(kernel, bytes.Repeat([]byte("k"), 3<<20), 0o644)
		os.WriteFile(initrd, bytes.Repeat([]byte("i"), 5<<20+17), 0o644)
	}
	var logs []string
	l, err := Install(Options{
		Target: img, Source: Source{Kernel: kernel, Initrd: initrd, Version: "v1.0"},
		Boot: BootFiles{Dir: bootDir}, KernelArgs: "nodectl.role=all nodectl.authenticate_http_readonly=false",
		Log: func(m string) { logs = append(logs, m) },
	})
	if err != nil {
		if strings.Contains(err.Error(), "mke2fs") {
			if _, lerr := exec.LookPath("mke2fs"); lerr != nil {
				t.Skip("mke2fs not installed")
			}
		}
		t.Fatal(err)
	}
	t.Log(strings.Join(logs, "\n"))

	d, err := diskfs.Open(img, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pt, err := d.GetPartitionTable()
	if err != nil {
		t.Fatal(err)
	}
	parts := pt.(*gpt.Table).Partitions
	if len(parts) != 3 || parts[0].Type != gpt.BIOSBoot || parts[1].Type != gpt.EFISystemPartition || parts[2].Name != DataLabel {
		t.Fatalf("partitions: %+v", parts)
	}
	fs, err := d.GetFilesystem(2)
	if err != nil {
		t.Fatal(err)
	}
	if lbl := fs.Label(); strings.TrimSpace(lbl) != slots.BootLabel {
		t.Errorf("ESP label %q", lbl)
	}
	read := func(p string) []byte {
		t.Helper()
		fh, err := fs.OpenFile(p, os.O_RDONLY)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		defer fh.Close()
		b, err := io.ReadAll(fh)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	want, _ := os.ReadFile(initrd)
	if got := read("/A/initrd.img"); !bytes.HasPrefix(got, want) {
		t.Errorf("slot A initrd: %d bytes, want %d", len(got), len(want))
	}
	if got := string(read("/A/version")); got != "v1.0\n" {
		t.Errorf("version %q", got)
	}
	env, err := slots.ParseEnv(read("/grub/grubenv"))
	if err != nil || env["slot"] != "A" {
		t.Errorf("grubenv %v %v", env, err)
	}
	if cfg := string(read("/grub/grub.cfg")); !strings.Contains(cfg, "set extra='nodectl.role=all nodectl.authenticate_http_readonly=false'") {
		t.Errorf("grub.cfg lacks the kept parameters:\n%s", cfg)
	}
	if efi := read("/EFI/BOOT/BOOTX64.EFI"); !bytes.HasPrefix(efi, []byte("MZ")) {
		t.Errorf("BOOTX64.EFI is not a PE image")
	}

	raw, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	mbr := make([]byte, 512)
	raw.ReadAt(mbr, 0)
	if got := binary.LittleEndian.Uint64(mbr[bootKernelSector:]); got != uint64(l.BIOS.Start) {
		t.Errorf("MBR points at sector %d, want %d", got, l.BIOS.Start)
	}
	if mbr[0x1c2] != 0xee || mbr[510] != 0x55 || mbr[511] != 0xaa {
		t.Errorf("protective MBR entry lost")
	}
	core := make([]byte, 512)
	raw.ReadAt(core, l.BIOS.Start*512)
	if got := binary.LittleEndian.Uint64(core[500:]); got != uint64(l.BIOS.Start+1) {
		t.Errorf("core.img blocklist starts at %d, want %d", got, l.BIOS.Start+1)
	}
	data := io.NewSectionReader(raw, l.Data.Start*512, l.Data.Sectors*512)
	info, err := disk.Probe(data)
	if err != nil || info.FS != disk.FSExt || info.Label != DataLabel {
		t.Errorf("data partition: %+v %v", info, err)
	}

	// A second install onto the same disk is refused: it is not empty.
	if _, err := Install(Options{Target: img, Source: Source{Kernel: kernel, Initrd: initrd, Version: "v2"}, Boot: BootFiles{Dir: bootDir}}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("install onto a used disk: %v, want refused", err)
	}
}
