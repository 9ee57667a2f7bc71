// Package disk finds block devices by filesystem label the way blkid does,
// by reading superblocks (ext2/3/4, FAT, ISO 9660), and tells empty disks
// apart. nodectl's PID 1 mode uses it to find its data disk (NODECTL_DATA)
// and its configuration stick (NODECTL_CFG).
//
// It imports no other nodectl package.
package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Filesystem types Probe recognises.
const (
	FSNone    = ""
	FSExt     = "ext4" // ext2, ext3 and ext4 share the superblock; mount as ext4
	FSVFAT    = "vfat"
	FSISO9660 = "iso9660"
)

// Info is what a device's first blocks say about it.
type Info struct {
	FS    string // one of the FS constants
	Label string
	Empty bool // the first MiB is all zeros: no partition table, no filesystem
}

// emptyProbe is how much of a device must be zeros for it to count as empty.
const emptyProbe = 1 << 20

// Probe reads the superblocks of the device or image r.
func Probe(r io.ReaderAt) (Info, error) {
	buf := make([]byte, 64*1024)
	n, err := r.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return Info{}, fmt.Errorf("read superblocks: %w", err)
	}
	buf = buf[:n]
	if len(buf) >= 1024+136 && binary.LittleEndian.Uint16(buf[1024+56:]) == 0xEF53 {
		return Info{FS: FSExt, Label: cString(buf[1024+120 : 1024+136])}, nil
	}
	if len(buf) >= 512 && buf[510] == 0x55 && buf[511] == 0xAA {
		switch {
		case bytes.HasPrefix(buf[82:], []byte("FAT32")):
			return Info{FS: FSVFAT, Label: fatLabel(buf[71:82])}, nil
		case bytes.HasPrefix(buf[54:], []byte("FAT")):
			return Info{FS: FSVFAT, Label: fatLabel(buf[43:54])}, nil
		}
	}
	pvd := make([]byte, 72)
	if n, _ := r.ReadAt(pvd, 32768); n == len(pvd) && pvd[0] == 1 && string(pvd[1:6]) == "CD001" {
		return Info{FS: FSISO9660, Label: strings.TrimRight(string(pvd[40:72]), " ")}, nil
	}
	empty, err := zeros(r, buf)
	return Info{Empty: empty}, err
}

// zeros tells whether the first emptyProbe bytes of r (or all of it, if
// shorter) are zero; head is its already-read start.
func zeros(r io.ReaderAt, head []byte) (bool, error) {
	buf := make([]byte, 64*1024)
	for off := int64(0); off < emptyProbe; off += int64(len(buf)) {
		b := head
		if off > 0 {
			n, err := r.ReadAt(buf, off)
			if err != nil && !errors.Is(err, io.EOF) {
				return false, fmt.Errorf("read: %w", err)
			}
			b = buf[:n]
		}
		if len(b) == 0 {
			break
		}
		for _, c := range b {
			if c != 0 {
				return false, nil
			}
		}
		if len(b) < len(buf) {
			break
		}
	}
	return true, nil
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func fatLabel(b []byte) string {
	l := strings.TrimRight(string(b), " ")
	if l == "NO NAME" {
		return ""
	}
	return l
}

// Device is a block device with what Probe found on it.
type Device struct {
	Name      string // kernel name: vda, vda1, sr0
	Path      string // /dev/<name>
	Sectors   int64  // size in 512-byte sectors
	Partition bool
	Removable bool
	ReadOnly  bool
	Info
}

// Scan lists the block devices in sysDir (/sys/class/block) with their
// nodes in devDir (/dev), probing each, sorted by name. Loop, RAM and
// zero-sized devices are skipped; a device that cannot be read is skipped
// too (an empty CD drive).
func Scan(sysDir, devDir string) ([]Device, error) {
	entries, err := os.ReadDir(sysDir)
	if err != nil {
		return nil, fmt.Errorf("list block devices: %w", err)
	}
	var out []Device
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") {
			continue
		}
		d := Device{Name: name, Path: filepath.Join(devDir, name)}
		d.Sectors = readInt(filepath.Join(sysDir, name, "size"))
		if d.Sectors == 0 {
			continue
		}
		_, err := os.Stat(filepath.Join(sysDir, name, "partition"))
		d.Partition = err == nil
		d.Removable = readInt(filepath.Join(sysDir, name, "removable")) == 1
		d.ReadOnly = readInt(filepath.Join(sysDir, name, "ro")) == 1
		f, err := os.Open(d.Path)
		if err != nil {
			continue
		}
		d.Info, err = Probe(f)
		f.Close()
		if err != nil {
			continue
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func readInt(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// ByLabel is the first device carrying the filesystem label.
func ByLabel(devs []Device, label string) (Device, bool) {
	for _, d := range devs {
		if d.FS != FSNone && d.Label == label {
			return d, true
		}
	}
	return Device{}, false
}

// FirstEmptyDisk is the first writable, fixed, whole disk that is all
// zeros at its start: one that may be formatted without losing anything.
func FirstEmptyDisk(devs []Device) (Device, bool) {
	for _, d := range devs {
		if d.Empty && !d.Partition && !d.Removable && !d.ReadOnly && !strings.HasPrefix(d.Name, "sr") {
			return d, true
		}
	}
	return Device{}, false
}
