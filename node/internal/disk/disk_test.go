package disk

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// image returns a 2 MiB zeroed image with the given bytes written at offsets.
func image(writes map[int64][]byte) *bytes.Reader {
	b := make([]byte, 2<<20)
	for off, w := range writes {
		copy(b[off:], w)
	}
	return bytes.NewReader(b)
}

func TestProbe(t *testing.T) {
	fat32 := make([]byte, 512)
	copy(fat32[71:], "NODECTL_CFG")
	copy(fat32[82:], "FAT32   ")
	fat32[510], fat32[511] = 0x55, 0xAA
	fat16 := make([]byte, 512)
	copy(fat16[43:], "NO NAME    ")
	copy(fat16[54:], "FAT16   ")
	fat16[510], fat16[511] = 0x55, 0xAA
	iso := make([]byte, 72)
	iso[0] = 1
	copy(iso[1:], "CD001")
	copy(iso[40:], "NODECTL_CFG                     ")
	ext := make([]byte, 200)
	ext[56], ext[57] = 0x53, 0xEF
	copy(ext[120:], "NODECTL_DATA")
	for name, tc := range map[string]struct {
		img  *bytes.Reader
		want Info
	}{
		"empty":     {image(nil), Info{Empty: true}},
		"garbage":   {image(map[int64][]byte{900 << 10: {1}}), Info{}},
		"ext":       {image(map[int64][]byte{1024: ext}), Info{FS: FSExt, Label: "NODECTL_DATA"}},
		"fat32":     {image(map[int64][]byte{0: fat32}), Info{FS: FSVFAT, Label: "NODECTL_CFG"}},
		"fat16":     {image(map[int64][]byte{0: fat16}), Info{FS: FSVFAT}},
		"iso9660":   {image(map[int64][]byte{32768: iso}), Info{FS: FSISO9660, Label: "NODECTL_CFG"}},
		"short":     {bytes.NewReader(make([]byte, 100)), Info{Empty: true}},
		"short-bad": {bytes.NewReader([]byte{0, 0, 7}), Info{}},
	} {
		got, err := Probe(tc.img)
		if err != nil || got != tc.want {
			t.Errorf("%s: Probe = %+v, %v; want %+v", name, got, err, tc.want)
		}
	}
}

// TestScanRealExt4 formats an image with Debian's mke2fs and finds it by
// label through a fake /sys/class/block.
func TestScanRealExt4(t *testing.T) {
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		t.Skip("no mkfs.ext4")
	}
	dir := t.TempDir()
	sys, dev := filepath.Join(dir, "sys"), filepath.Join(dir, "dev")
	for name, size := range map[string]int64{"vda": 8 << 20, "vdb": 4 << 20, "loop0": 1 << 20, "sr0": 0} {
		if err := os.MkdirAll(filepath.Join(sys, name), 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(sys, name, "size"), []byte(strconv.FormatInt(size/512, 10)+"\n"), 0o644)
		os.WriteFile(filepath.Join(sys, name, "removable"), []byte("0\n"), 0o644)
		os.WriteFile(filepath.Join(sys, name, "ro"), []byte("0\n"), 0o644)
		os.MkdirAll(dev, 0o755)
		if err := os.WriteFile(filepath.Join(dev, name), make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(mkfs, "-q", "-F", "-L", "NODECTL_DATA", filepath.Join(dev, "vdb")).CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v: %s", err, out)
	}
	devs, err := Scan(sys, dev)
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 2 {
		t.Fatalf("Scan found %+v, want vda and vdb", devs)
	}
	if d, ok := ByLabel(devs, "NODECTL_DATA"); !ok || d.Name != "vdb" || d.FS != FSExt {
		t.Errorf("ByLabel(NODECTL_DATA) = %+v, %v", d, ok)
	}
	if d, ok := FirstEmptyDisk(devs); !ok || d.Name != "vda" {
		t.Errorf("FirstEmptyDisk = %+v, %v", d, ok)
	}
	if _, ok := ByLabel(devs, "NODECTL_CFG"); ok {
		t.Error("found a NODECTL_CFG that does not exist")
	}
}
