package install

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Offsets in GRUB's i386-pc images (grub-core/include/grub/i386/pc/boot.h
// in GRUB's source: GRUB_BOOT_MACHINE_KERNEL_SECTOR, _DRIVE_CHECK,
// _BPB_START/_END, _WINDOWS_NT_MAGIC, _LIST_SIZE).
const (
	bootKernelSector = 0x5c  // boot.img: 64-bit LBA of core.img's first sector
	bootDriveCheck   = 0x66  // boot.img: a jump that trusts only some BIOS drive numbers
	bootBPBStart     = 0x3   // boot.img: BIOS parameter block, kept from the disk
	bootBPBEnd       = 0x5a  //
	bootNTMagic      = 0x1b8 // disk signature and partition table, kept from the disk
	blocklistSize    = 12    // diskboot.img's entries: start (8), len (2), segment (2)
	// Where diskboot.img loads the rest of core.img: GRUB_BOOT_I386_PC_KERNEL_SEG + 0x20.
	kernelSegment = 0x820
)

// setupBIOS does grub-bios-setup's part for a core image embedded in a
// BIOS boot partition: writes core.img to the partition with its first
// sector's blocklist naming the rest (one contiguous run), and writes
// boot.img's code into the MBR, pointed at core.img, keeping the MBR's
// partition table (the GPT's protective entry).
func setupBIOS(w interface {
	io.ReaderAt
	io.WriterAt
}, bootImg, coreImg []byte, part Part) error {
	if len(bootImg) != sector {
		return fmt.Errorf("boot.img is %d bytes, want %d", len(bootImg), sector)
	}
	nsec := (int64(len(coreImg)) + sector - 1) / sector
	if nsec > part.Sectors || nsec < 2 {
		return fmt.Errorf("core.img (%d sectors) does not fit the BIOS boot partition (%d)", nsec, part.Sectors)
	}
	core := make([]byte, nsec*sector)
	copy(core, coreImg)
	// The first blocklist entry sits at the end of diskboot.img's sector;
	// the entry before it (the list grows downwards) ends the list.
	first := sector - blocklistSize
	binary.LittleEndian.PutUint64(core[first:], uint64(part.Start+1))
	binary.LittleEndian.PutUint16(core[first+8:], uint16(nsec-1))
	binary.LittleEndian.PutUint16(core[first+10:], kernelSegment)
	if _, err := w.WriteAt(core, part.Start*sector); err != nil {
		return fmt.Errorf("write core.img: %w", err)
	}

	mbr := make([]byte, sector)
	if _, err := w.ReadAt(mbr, 0); err != nil {
		return fmt.Errorf("read MBR: %w", err)
	}
	boot := make([]byte, sector)
	copy(boot, bootImg)
	copy(boot[bootBPBStart:bootBPBEnd], mbr[bootBPBStart:bootBPBEnd])
	binary.LittleEndian.PutUint64(boot[bootKernelSector:], uint64(part.Start))
	// A hard disk: no check of the BIOS's drive number (grub-bios-setup
	// writes two NOPs over it unless --allow-floppy).
	boot[bootDriveCheck], boot[bootDriveCheck+1] = 0x90, 0x90
	copy(boot[bootNTMagic:], mbr[bootNTMagic:])
	if _, err := w.WriteAt(boot, 0); err != nil {
		return fmt.Errorf("write MBR: %w", err)
	}
	return nil
}
