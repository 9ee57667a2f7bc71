package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cavaliergopher/cpio"
	"github.com/klauspost/compress/zstd"

	"nodectl/node/internal/bundle"
	"nodectl/node/internal/install"
	"nodectl/node/internal/kmod"
)

// Paths inside the initramfs that nodectl's init reads (node/appliance).
const (
	embeddedConfigPath = "etc/nodectl/nodectl.yaml"
	imagesDir          = "usr/share/nodectl/images"
	updatePubKeyPath   = "etc/nodectl/update.pub" // the key update bundles must be signed with
	grubImagesDir      = "usr/share/nodectl/boot" // GRUB's images for nodectl install
)

// Config is what to build.
type Config struct {
	Nodectl       string   // static nodectl binary
	KernelVersion string   // "" picks the newest installed
	Config        string   // YAML file to embed, optional
	Images        []string // image archives to preload
	Modules       []string
	Out           string // output directory
	Cmdline       string // extra kernel parameters for the ISO boot entry
	ISO           bool
	Epoch         time.Time // every timestamp in the output
	Logger        *slog.Logger
	// UpdateKey is the ed25519 private key (PEM) that signs update
	// bundles; its public half goes into the initramfs. Created when
	// missing. "" leaves both out (no upgrades).
	UpdateKey string
	Version   string // the system's version (the bundle's manifest)
	Bundle    bool   // also write nodectl-update.tar
}

// Result lists what was built.
type Result struct {
	Files         []string
	KernelVersion string
	Modules       int
}

// Build writes vmlinuz, initrd.img and (with cfg.ISO) nodectl.iso to cfg.Out.
func Build(cfg Config) (Result, error) {
	var res Result
	kver, err := kernelVersion(cfg.KernelVersion)
	if err != nil {
		return res, err
	}
	res.KernelVersion = kver
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return res, err
	}
	tmp, err := os.MkdirTemp("", "mkiso-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)

	t := tree{}
	if err := t.file("init", cfg.Nodectl, 0o755); err != nil {
		return res, err
	}
	t.symlink("usr/bin/nodectl", "/init")
	t.symlink("sbin/init", "/init")
	for _, d := range []string{"dev", "proc", "sys", "run", "tmp", "mnt", "root", "var/lib/nodectl", "etc/nodectl"} {
		t.dir(d)
	}
	// nobody is the built-in Marathon's default task user (--mesos_user)
	// and nodectl execute's: tasks run unprivileged on the appliance too.
	t.data("etc/passwd", "root:x:0:0:root:/root:/usr/bin/nodectl\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", 0o644)
	t.data("etc/group", "root:x:0:\nnogroup:x:65534:\n", 0o644)
	t.data("etc/os-release", "NAME=nodectl\nID=nodectl\nPRETTY_NAME=\"nodectl appliance\"\n", 0o644)
	if cfg.Config != "" {
		if err := t.file(embeddedConfigPath, cfg.Config, 0o600); err != nil {
			return res, err
		}
	}
	for i, img := range cfg.Images {
		if err := t.file(fmt.Sprintf("%s/%02d-%s", imagesDir, i, filepath.Base(img)), img, 0o644); err != nil {
			return res, err
		}
	}
	if err := addProgram(t, "/usr/sbin/mke2fs", "usr/sbin/mke2fs"); err != nil {
		return res, fmt.Errorf("mke2fs (e2fsprogs): %w", err)
	}
	t.symlink("usr/sbin/mkfs.ext4", "mke2fs")
	if _, err := os.Stat("/etc/mke2fs.conf"); err == nil {
		if err := t.file("etc/mke2fs.conf", "/etc/mke2fs.conf", 0o644); err != nil {
			return res, err
		}
	}
	var signer ed25519.PrivateKey
	if cfg.UpdateKey != "" {
		if signer, err = updateKey(cfg); err != nil {
			return res, err
		}
		pub, err := bundle.MarshalPublicKey(signer.Public().(ed25519.PublicKey))
		if err != nil {
			return res, err
		}
		t.data(updatePubKeyPath, string(pub), 0o644)
	}
	grubDir := filepath.Join(tmp, "grub")
	if err := os.MkdirAll(grubDir, 0o755); err != nil {
		return res, err
	}
	if err := install.MakeGrubImages(grubDir); err != nil {
		return res, err
	}
	for _, f := range []string{install.BootImg, install.CoreImg, install.EFIImg} {
		if err := t.file(filepath.Join(grubImagesDir, f), filepath.Join(grubDir, f), 0o644); err != nil {
			return res, err
		}
	}
	n, err := addModules(t, kver, cfg.Modules, filepath.Join(tmp, "modules"))
	if err != nil {
		return res, err
	}
	res.Modules = n

	initrd := filepath.Join(cfg.Out, "initrd.img")
	if err := t.writeCPIO(initrd, cfg.Epoch); err != nil {
		return res, fmt.Errorf("write initramfs: %w", err)
	}
	vmlinuz := filepath.Join(cfg.Out, "vmlinuz")
	if err := copyFile("/boot/vmlinuz-"+kver, vmlinuz, 0o644); err != nil {
		return res, err
	}
	res.Files = append(res.Files, vmlinuz, initrd)
	if cfg.Bundle {
		if signer == nil {
			return res, errors.New("-bundle needs -update-key")
		}
		out := filepath.Join(cfg.Out, "nodectl-update.tar")
		if err := writeBundle(out, signer, cfg, vmlinuz, initrd); err != nil {
			return res, err
		}
		res.Files = append(res.Files, out)
	}
	if !cfg.ISO {
		return res, nil
	}
	iso := filepath.Join(cfg.Out, "nodectl.iso")
	if err := makeISO(filepath.Join(tmp, "iso"), vmlinuz, initrd, iso, cfg); err != nil {
		return res, err
	}
	res.Files = append(res.Files, iso)
	return res, nil
}

// updateKey loads the signing key, making it first when it is missing.
func updateKey(cfg Config) (ed25519.PrivateKey, error) {
	if _, err := os.Stat(cfg.UpdateKey); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(cfg.UpdateKey), 0o700); err != nil {
			return nil, err
		}
		cfg.Logger.Warn("no update signing key; making one (keep it: only bundles it signs can upgrade these systems)", "key", cfg.UpdateKey)
		return bundle.GenerateKey(cfg.UpdateKey)
	}
	return bundle.LoadPrivateKey(cfg.UpdateKey)
}

func writeBundle(out string, key ed25519.PrivateKey, cfg Config, vmlinuz, initrd string) error {
	if cfg.Version == "" {
		return errors.New("-bundle needs -version")
	}
	f, err := os.Create(out + ".tmp")
	if err != nil {
		return err
	}
	defer os.Remove(out + ".tmp")
	err = bundle.Write(f, key, cfg.Version, map[string]string{bundle.Kernel: vmlinuz, bundle.Initrd: initrd}, cfg.Epoch)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("update bundle: %w", err)
	}
	return os.Rename(out+".tmp", out)
}

// kernelVersion is want, checked, or the newest release that has both a
// kernel image and modules.
func kernelVersion(want string) (string, error) {
	if want != "" {
		if _, err := os.Stat("/boot/vmlinuz-" + want); err != nil {
			return "", fmt.Errorf("kernel %s: %w (apt-get install linux-image-amd64)", want, err)
		}
		return want, nil
	}
	imgs, _ := filepath.Glob("/boot/vmlinuz-*")
	var have []string
	for _, img := range imgs {
		v := strings.TrimPrefix(filepath.Base(img), "vmlinuz-")
		if _, err := os.Stat(filepath.Join("/lib/modules", v, "modules.dep")); err == nil {
			have = append(have, v)
		}
	}
	if len(have) == 0 {
		return "", errors.New("no kernel with modules in /boot and /lib/modules (apt-get install linux-image-amd64)")
	}
	sort.Strings(have) // good enough between Debian ABI releases
	return have[len(have)-1], nil
}

// addModules copies the named modules and their dependencies into a
// staging module tree, regenerates modules.dep there with depmod, and adds
// the tree to t. It returns the number of module files.
func addModules(t tree, kver string, names []string, stage string) (int, error) {
	src := filepath.Join("/lib/modules", kver)
	f, err := os.Open(filepath.Join(src, "modules.dep"))
	if err != nil {
		return 0, err
	}
	deps, err := kmod.ParseDeps(f)
	f.Close()
	if err != nil {
		return 0, err
	}
	builtin := map[string]bool{}
	if bf, err := os.Open(filepath.Join(src, "modules.builtin")); err == nil {
		builtin, err = kmod.Builtin(bf)
		bf.Close()
		if err != nil {
			return 0, err
		}
	}
	// names is groups separated by "|"; init loads them in that order.
	var (
		want   []string
		groups []string
		cur    []string
	)
	for _, n := range append(names, "|") {
		n = strings.TrimSpace(n)
		switch {
		case n == "|":
			if len(cur) > 0 {
				groups = append(groups, strings.Join(cur, " "))
				cur = nil
			}
		case n != "" && !builtin[strings.ReplaceAll(n, "-", "_")]:
			want = append(want, n)
			cur = append(cur, n)
		}
	}
	order, err := deps.Order(want)
	if err != nil {
		return 0, err
	}
	dst := filepath.Join(stage, "lib/modules", kver)
	for _, m := range order {
		if err := copyFile(filepath.Join(src, m), filepath.Join(dst, m), 0o644); err != nil {
			return 0, err
		}
	}
	for _, meta := range []string{"modules.builtin", "modules.builtin.modinfo"} {
		if err := copyFile(filepath.Join(src, meta), filepath.Join(dst, meta), 0o644); err != nil {
			return 0, err
		}
	}
	// modules.order fixes depmod's output order, so the result is reproducible.
	sorted := slices.Clone(order)
	sort.Strings(sorted)
	if err := os.WriteFile(filepath.Join(dst, "modules.order"), []byte(strings.Join(sorted, "\n")+"\n"), 0o644); err != nil {
		return 0, err
	}
	if out, err := exec.Command("depmod", "-b", stage, kver).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("depmod: %w: %s", err, bytes.TrimSpace(out))
	}
	rel := filepath.Join("lib/modules", kver)
	// nodectl.modules is what init loads: one group of names a line.
	t.data(filepath.Join(rel, "nodectl.modules"), strings.Join(groups, "\n")+"\n", 0o644)
	for _, m := range append(order, "modules.dep", "modules.builtin", "modules.order") {
		if err := t.file(filepath.Join(rel, m), filepath.Join(dst, m), 0o644); err != nil {
			return 0, err
		}
	}
	return len(order), nil
}

var lddLine = regexp.MustCompile(`(?:=>\s*)?(/\S+)\s+\(0x`)

// addProgram adds a dynamically linked program and the libraries ldd
// names, each at the path the loader will look for it.
func addProgram(t tree, src, dst string) error {
	if err := t.file(dst, src, 0o755); err != nil {
		return err
	}
	out, err := exec.Command("ldd", src).Output()
	if err != nil {
		return fmt.Errorf("ldd %s: %w", src, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := lddLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		if err := t.file(strings.TrimPrefix(m[1], "/"), m[1], 0o755); err != nil {
			return err
		}
	}
	return nil
}

// makeISO lays out the ISO tree and runs grub-mkrescue on it.
func makeISO(dir, vmlinuz, initrd, iso string, cfg Config) error {
	grubCfg := fmt.Sprintf(`# nodectl appliance: the kernel logs to the serial port and the screen;
# nodectl's console is the serial port (the last console=).
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=1
menuentry "nodectl" {
	linux /boot/vmlinuz console=tty0 console=ttyS0,115200 panic=10 %s
	initrd /boot/initrd.img
}
`, cfg.Cmdline)
	files := map[string]string{"boot/vmlinuz": vmlinuz, "boot/initrd.img": initrd}
	for dst, src := range files {
		if err := copyFile(src, filepath.Join(dir, dst), 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "boot/grub/grub.cfg"), []byte(grubCfg), 0o644); err != nil {
		if err := os.MkdirAll(filepath.Join(dir, "boot/grub"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "boot/grub/grub.cfg"), []byte(grubCfg), 0o644); err != nil {
			return err
		}
	}
	for _, p := range []string{"boot/vmlinuz", "boot/initrd.img", "boot/grub/grub.cfg", "boot/grub", "boot", "."} {
		if err := os.Chtimes(filepath.Join(dir, p), cfg.Epoch, cfg.Epoch); err != nil {
			return err
		}
	}
	tmpISO := iso + ".tmp"
	// Native xorriso commands after "--" pin every date (and the GPT and
	// volume UUIDs derived from them) to the epoch.
	ts := cfg.Epoch.UTC().Format("20060102150405") + "00"
	cmd := exec.Command("grub-mkrescue", "--locales=", "--fonts=", "--themes=", "--compress=xz", "-o", tmpISO, dir,
		"--", "-volid", "NODECTL",
		"-volume_date", "uuid", ts, "-volume_date", "c", ts, "-volume_date", "m", ts,
		"-volume_date", "x", "default", "-volume_date", "f", "default",
		"-boot_image", "any", "gpt_disk_guid=volume_date_uuid",
		"-alter_date_r", "b", ts, "/", "--", "-alter_date_r", "c", ts, "/", "--")
	cmd.Env = append(os.Environ(), fmt.Sprintf("SOURCE_DATE_EPOCH=%d", cfg.Epoch.Unix()), "TZ=UTC")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("grub-mkrescue (grub-pc-bin, grub-efi-amd64-bin, xorriso, mtools): %w: %s", err, lastLines(out, 5))
	}
	if err := pinEFISerial(tmpISO, uint32(cfg.Epoch.Unix())); err != nil {
		return err
	}
	return os.Rename(tmpISO, iso)
}

var lbaLine = regexp.MustCompile(`File data lba:\s*\d+\s*,\s*(\d+)\s*,.*'/efi.img'`)

// pinEFISerial replaces the FAT volume serial of the ISO's EFI system
// image, which mformat (run by grub-mkrescue) draws at random, with one
// derived from the epoch: the last byte that differed between builds.
func pinEFISerial(iso string, serial uint32) error {
	out, err := exec.Command("xorriso", "-indev", iso, "-find", "/efi.img", "-exec", "report_lba").CombinedOutput()
	if err != nil {
		return fmt.Errorf("xorriso report_lba: %w: %s", err, lastLines(out, 3))
	}
	m := lbaLine.FindSubmatch(out)
	if m == nil {
		return nil // no EFI image (grub-efi-amd64-bin missing): nothing to pin
	}
	var lba int64
	fmt.Sscan(string(m[1]), &lba)
	f, err := os.OpenFile(iso, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	boot := make([]byte, 512)
	if _, err := f.ReadAt(boot, lba*2048); err != nil {
		return err
	}
	if boot[510] != 0x55 || boot[511] != 0xAA {
		return fmt.Errorf("efi.img at block %d is not a FAT image", lba)
	}
	// The FAT12/16 extended boot record keeps the serial at 39 (FAT32: 67).
	off := int64(39)
	if bytes.HasPrefix(boot[82:], []byte("FAT32")) {
		off = 67
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], serial)
	if _, err := f.WriteAt(b[:], lba*2048+off); err != nil {
		return err
	}
	return f.Close()
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

// entry is one initramfs member.
type entry struct {
	mode cpio.FileMode
	src  string // host file for regular files
	data []byte // or inline content
	link string // symlink target
}

// tree is the initramfs content by path (no leading slash).
type tree map[string]entry

func (t tree) dir(p string) { t[p] = entry{mode: cpio.TypeDir | 0o755} }

func (t tree) symlink(p, target string) { t[p] = entry{mode: cpio.TypeSymlink | 0o777, link: target} }

func (t tree) data(p, content string, perm os.FileMode) {
	t[p] = entry{mode: cpio.TypeReg | cpio.FileMode(perm), data: []byte(content)}
}

func (t tree) file(p, src string, perm os.FileMode) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", src)
	}
	t[p] = entry{mode: cpio.TypeReg | cpio.FileMode(perm), src: src}
	return nil
}

// writeCPIO writes the tree as a zstd-compressed newc archive: parents
// before children, names sorted, every time set to epoch, owner root.
func (t tree) writeCPIO(path string, epoch time.Time) error {
	for p := range t {
		for d := filepath.Dir(p); d != "." && d != "/"; d = filepath.Dir(d) {
			if _, ok := t[d]; !ok {
				t.dir(d)
			}
		}
	}
	names := make([]string, 0, len(t))
	for p := range t {
		names = append(names, p)
	}
	sort.Strings(names)
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return err
	}
	defer os.Remove(path + ".tmp")
	defer f.Close()
	zw, err := zstd.NewWriter(f, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	w := cpio.NewWriter(zw)
	for i, name := range names {
		e := t[name]
		hdr := &cpio.Header{Name: name, Mode: e.mode, ModTime: epoch, Links: 1, Inode: int64(i + 1)}
		var body io.Reader
		switch {
		case e.mode&cpio.ModeType == cpio.TypeDir:
			hdr.Links = 2
		case e.link != "":
			hdr.Size = int64(len(e.link))
			body = strings.NewReader(e.link)
		case e.src != "":
			in, err := os.Open(e.src)
			if err != nil {
				return err
			}
			defer in.Close()
			st, err := in.Stat()
			if err != nil {
				return err
			}
			hdr.Size = st.Size()
			body = in
		default:
			hdr.Size = int64(len(e.data))
			body = bytes.NewReader(e.data)
		}
		if err := w.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if body != nil {
			if _, err := io.Copy(w, body); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}
