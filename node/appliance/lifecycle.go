package appliance

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"nodectl/node/internal/bootcfg"
	"nodectl/node/internal/bundle"
	"nodectl/node/internal/disk"
	"nodectl/node/internal/install"
	"nodectl/node/internal/slots"
)

// Install to disk and A/B upgrades (docs/appliance.md).
const (
	bootMount      = "/run/nodectl/boot"       // the EFI system partition with the slots, while needed
	cdMount        = "/run/nodectl/cd"         // the install medium, read-only
	grubImagesDir  = "/usr/share/nodectl/boot" // GRUB's images, made by mkiso
	updatePubKey   = "/etc/nodectl/update.pub" // the key bundles must be signed with (mkiso -update-key)
	isoLabel       = "NODECTL"                 // the ISO's volume id
	upgradeRecord  = "system/upgrade.json"     // under the work dir: the last upgrade's outcome
	upgradeHistory = "system/upgrade-history.log"
	// trialDeadline bounds how long a slot on trial may take to become
	// healthy before init gives up on it and reboots into the default.
	trialDeadline = 10 * time.Minute
)

// BootedSlot is the slot GRUB booted (nodectl.slot=), "" when the system
// did not boot from an installed disk (the ISO, -kernel).
func BootedSlot() string {
	b, _ := os.ReadFile("/proc/cmdline")
	return bootcfg.Value(bootcfg.ParseCmdline(string(b)), bootcfg.KeySlot)
}

// mountBoot mounts the boot partition (FAT labelled NODECTL_ESP)
// read-write at bootMount, unless it is there already.
func mountBoot() (slots.Boot, error) {
	b := slots.Boot{Dir: bootMount}
	if isMountPoint(bootMount) {
		return b, nil
	}
	devs, err := disk.Scan("/sys/class/block", "/dev")
	if err != nil {
		return b, err
	}
	d, ok := disk.ByLabel(devs, slots.BootLabel)
	if !ok {
		return b, fmt.Errorf("no boot partition labelled %s: this system is not installed on a disk (nodectl install)", slots.BootLabel)
	}
	if err := os.MkdirAll(bootMount, 0o755); err != nil {
		return b, err
	}
	if err := unix.Mount(d.Path, bootMount, "vfat", unix.MS_NOATIME|unix.MS_NOSUID|unix.MS_NODEV, "iocharset=utf8,flush"); err != nil {
		return b, fmt.Errorf("mount boot partition %s: %w", d.Path, err)
	}
	return b, nil
}

func isMountPoint(dir string) bool {
	var st, parent unix.Stat_t
	if unix.Stat(dir, &st) != nil || unix.Stat(filepath.Dir(dir), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}

// InstallOptions say what `nodectl install` installs where.
type InstallOptions struct {
	Disk     string // whole disk or image file
	Image    string // update bundle to install from; "" uses the ISO in the CD drive
	Version  string // the running nodectl's, for an install from the CD
	KeepArgs string // kernel parameters kept on the installed system's command line
	Log      func(string)
}

// Install writes the appliance's disk layout and slot A (node/internal/install).
func Install(o InstallOptions) error {
	src, cleanup, err := installSource(o)
	if err != nil {
		return err
	}
	defer cleanup()
	_, err = install.Install(install.Options{
		Target: o.Disk, Source: src, Boot: install.BootFiles{Dir: grubImagesDir},
		KernelArgs: o.KeepArgs, Log: o.Log,
	})
	return err
}

// installSource is the kernel and initramfs to install: a verified
// bundle's, or the ISO's in the CD drive (labelled NODECTL).
func installSource(o InstallOptions) (install.Source, func(), error) {
	nop := func() {}
	if o.Image != "" {
		dir, m, err := fetchBundle(context.Background(), o.Image)
		if err != nil {
			return install.Source{}, nop, err
		}
		return install.Source{Kernel: filepath.Join(dir, bundle.Kernel), Initrd: filepath.Join(dir, bundle.Initrd), Version: m.Version},
			func() { os.RemoveAll(dir) }, nil
	}
	devs, err := disk.Scan("/sys/class/block", "/dev")
	if err != nil {
		return install.Source{}, nop, err
	}
	cd, ok := disk.ByLabel(devs, isoLabel)
	if !ok || cd.FS != disk.FSISO9660 {
		return install.Source{}, nop, errors.New("no nodectl ISO in a CD drive to install from; give --image BUNDLE")
	}
	if err := os.MkdirAll(cdMount, 0o755); err != nil {
		return install.Source{}, nop, err
	}
	if err := unix.Mount(cd.Path, cdMount, "iso9660", unix.MS_RDONLY, ""); err != nil && !errors.Is(err, unix.EBUSY) {
		return install.Source{}, nop, fmt.Errorf("mount %s: %w", cd.Path, err)
	}
	return install.Source{Kernel: filepath.Join(cdMount, "boot/vmlinuz"), Initrd: filepath.Join(cdMount, "boot/initrd.img"), Version: o.Version},
		func() { _ = unix.Unmount(cdMount, 0) }, nil
}

// trustedKeys are the public keys update bundles are checked against.
func trustedKeys() ([]ed25519.PublicKey, error) {
	b, err := os.ReadFile(updatePubKey)
	if err != nil {
		return nil, fmt.Errorf("no trusted update key (%s; the build's -update-key): %w", updatePubKey, err)
	}
	return bundle.ParsePublicKeys(b)
}

// fetchBundle verifies the bundle at src (a file or an http(s) URL) into
// a new temporary directory.
func fetchBundle(ctx context.Context, src string) (string, bundle.Manifest, error) {
	keys, err := trustedKeys()
	if err != nil {
		return "", bundle.Manifest{}, err
	}
	var r io.ReadCloser
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return "", bundle.Manifest{}, err
		}
		resp, err := (&http.Client{Timeout: 10 * time.Minute}).Do(req)
		if err != nil {
			return "", bundle.Manifest{}, err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return "", bundle.Manifest{}, fmt.Errorf("GET %s: %s", src, resp.Status)
		}
		r = resp.Body
	} else {
		f, err := os.Open(src)
		if err != nil {
			return "", bundle.Manifest{}, err
		}
		r = f
	}
	defer r.Close()
	dir, err := os.MkdirTemp("", "nodectl-bundle-")
	if err != nil {
		return "", bundle.Manifest{}, err
	}
	m, err := bundle.Read(r, keys, dir)
	if err != nil {
		os.RemoveAll(dir)
		return "", m, fmt.Errorf("%s: %w", src, err)
	}
	return dir, m, nil
}

// Upgrade verifies the bundle, writes it to the slot that is not running
// and puts that slot on trial for the next tries boots. The caller reboots.
func Upgrade(ctx context.Context, src string, tries int) (slot, version string, err error) {
	running := BootedSlot()
	if running == "" {
		return "", "", errors.New("this system did not boot from an installed disk (no nodectl.slot on the kernel command line): nodectl install first")
	}
	b, err := mountBoot()
	if err != nil {
		return "", "", err
	}
	st, err := b.State()
	if err != nil {
		return "", "", err
	}
	if err := st.CheckUpgradable(running); err != nil {
		return "", "", err
	}
	dir, m, err := fetchBundle(ctx, src)
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(dir)
	slot = slots.Other(running)
	k, err := os.Open(filepath.Join(dir, bundle.Kernel))
	if err != nil {
		return "", "", err
	}
	defer k.Close()
	i, err := os.Open(filepath.Join(dir, bundle.Initrd))
	if err != nil {
		return "", "", err
	}
	defer i.Close()
	if err := b.WriteSlot(slot, k, i, m.Version); err != nil {
		return "", "", err
	}
	if err := b.Try(slot, tries); err != nil {
		return "", "", err
	}
	unix.Sync()
	return slot, m.Version, nil
}

// Rollback makes the other slot the default again; the caller reboots.
func Rollback() (string, error) {
	running := BootedSlot()
	if running == "" {
		return "", errors.New("this system did not boot from an installed disk: nothing to roll back")
	}
	b, err := mountBoot()
	if err != nil {
		return "", err
	}
	// Never back onto a system whose own trial failed.
	if data, err := os.ReadFile(filepath.Join(applianceWorkDir, upgradeRecord)); err == nil {
		var r UpgradeRecord
		if json.Unmarshal(data, &r) == nil && r.Result == "failed" && r.Slot == slots.Other(running) {
			return "", fmt.Errorf("slot %s holds version %s, whose upgrade failed: nothing good to roll back to", r.Slot, r.Version)
		}
	}
	to, err := b.Rollback(running)
	unix.Sync()
	return to, err
}

// SlotStatus is `nodectl upgrade --status`.
type SlotStatus struct {
	Running  string            `json:"running"`
	Default  string            `json:"default"`
	Next     string            `json:"next,omitempty"`
	Tries    int               `json:"tries,omitempty"`
	Versions map[string]string `json:"versions"`
	Last     *UpgradeRecord    `json:"last_upgrade,omitempty"`
}

// UpgradeRecord is the outcome of the last trial, kept on the data disk.
type UpgradeRecord struct {
	Time        time.Time `json:"time"`
	Slot        string    `json:"slot"`
	Version     string    `json:"version"`
	Result      string    `json:"result"` // "healthy" or "failed"
	Reason      string    `json:"reason,omitempty"`
	RunningSlot string    `json:"running_slot"`
}

// Status reads the slots and the last upgrade's record.
func Status() (SlotStatus, error) {
	st := SlotStatus{Running: BootedSlot()}
	b, err := mountBoot()
	if err != nil {
		return st, err
	}
	s, err := b.State()
	if err != nil {
		return st, err
	}
	st.Default, st.Next, st.Tries, st.Versions = s.Default, s.Next, s.Tries, s.Versions
	if data, err := os.ReadFile(filepath.Join(applianceWorkDir, upgradeRecord)); err == nil {
		var r UpgradeRecord
		if json.Unmarshal(data, &r) == nil {
			st.Last = &r
		}
	}
	return st, nil
}

func writeRecord(log *slog.Logger, workDir string, r UpgradeRecord) {
	p := filepath.Join(workDir, upgradeRecord)
	_ = os.MkdirAll(filepath.Dir(p), 0o755)
	b, _ := json.MarshalIndent(r, "", "  ")
	if err := os.WriteFile(p+".tmp", append(b, '\n'), 0o644); err == nil {
		_ = os.Rename(p+".tmp", p)
	}
	if f, err := os.OpenFile(filepath.Join(workDir, upgradeHistory), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
		line, _ := json.Marshal(r)
		_, _ = f.Write(append(line, '\n'))
		_ = f.Close()
	} else {
		log.Warn("upgrade history", "err", err)
	}
}

// autoInstall is the unattended install at boot (nodectl.install= or the
// config's install key): onto the named disk, or the first empty one
// ("auto"), when it is empty and the system did not boot from a disk.
// It reports whether it installed.
func autoInstall(log *slog.Logger, devs []disk.Device, target string) bool {
	if BootedSlot() != "" {
		return false
	}
	if _, ok := disk.ByLabel(devs, slots.BootLabel); ok {
		log.Info("install: a disk already holds a nodectl system; not installing again", "asked", target)
		return false
	}
	if target == "auto" {
		d, ok := disk.FirstEmptyDisk(devs)
		if !ok {
			log.Warn("install: asked for, but no empty disk")
			return false
		}
		target = d.Path
	}
	start := time.Now()
	log.Info("install: writing the system to disk", "disk", target)
	err := Install(InstallOptions{
		Disk: target, Version: node.Version, KeepArgs: keptArgs(log),
		Log: func(m string) { log.Info("install: " + m) },
	})
	if err != nil {
		log.Error("install failed; booting from the medium as before", "disk", target, "err", err)
		return false
	}
	log.Info("install done: boot from the disk without the CD", "disk", target, "elapsed", time.Since(start).Round(time.Millisecond))
	return true
}

// KeptArgs are this boot's nodectl.* kernel parameters an install keeps.
func KeptArgs() string { return keptArgs(slog.New(slog.NewTextHandler(os.Stderr, nil))) }

// keptArgs are this boot's nodectl.* kernel parameters that the installed
// system keeps (all but install and slot); a value with spaces cannot go
// through grub.cfg and is left out with a warning.
func keptArgs(log *slog.Logger) string {
	b, _ := os.ReadFile("/proc/cmdline")
	var keep []string
	for _, p := range bootcfg.ParseCmdline(string(b)) {
		if p.Key == bootcfg.KeyInstall || p.Key == bootcfg.KeySlot {
			continue
		}
		if p.Key == "token" {
			// A secret: never written to the (unencrypted) boot
			// partition. The installing boot joins with it and keeps its
			// certificate on the data disk, which is all later boots need.
			log.Info("install: nodectl.token is not kept on the boot partition (the node's certificate on the data disk replaces it)")
			continue
		}
		if strings.ContainsAny(p.Value, " \t'\"\\$") {
			log.Warn("install: kernel parameter not kept (its value has spaces or quotes); put it in a config file", "param", "nodectl."+p.Key)
			continue
		}
		keep = append(keep, "nodectl."+p.Key+"="+p.Value)
	}
	return strings.Join(keep, " ")
}

// installTarget is what the configuration asks to install onto: the
// kernel command line's nodectl.install, else an install key in the
// NODECTL_CFG files or the embedded config.
func installTarget(cfgFiles map[string][]byte, embedded []byte) string {
	b, _ := os.ReadFile("/proc/cmdline")
	if v := bootcfg.Value(bootcfg.ParseCmdline(string(b)), bootcfg.KeyInstall); v != "" {
		return v
	}
	for _, data := range cfgFiles {
		if v := bootcfg.YAMLInstall(data); v != "" {
			return v
		}
	}
	return bootcfg.YAMLInstall(embedded)
}

// assessBoot runs beside the node on a system booted from disk: it
// reports a trial GRUB gave up on, and, when this boot is a slot on
// trial, makes it the default once it is healthy (PID 1 up, the data disk
// mounted, the node's /health 200: registered or serving) or, past the
// deadline, gives up on it and reboots into the default slot.
func assessBoot(ctx context.Context, log *slog.Logger, workDir, role string) {
	booted := BootedSlot()
	if booted == "" {
		return
	}
	b, err := mountBoot()
	if err != nil {
		log.Error("boot partition", "err", err)
		return
	}
	st, err := b.State()
	if err != nil {
		log.Error("boot partition", "err", err)
		return
	}
	log.Info("system slot", "running", booted, "version", st.Versions[booted], "default", st.Default, "on_trial", st.Next)
	if failed, err := b.TakeFailed(); err == nil && failed != "" {
		r := UpgradeRecord{Time: time.Now().UTC(), Slot: failed, Version: st.Versions[failed], Result: "failed",
			Reason: "it did not become healthy within its boot tries; the boot loader went back to slot " + booted, RunningSlot: booted}
		log.Error("upgrade failed: back on the previous system", "failed_slot", failed, "failed_version", r.Version, "running_slot", booted, "running_version", st.Versions[booted])
		writeRecord(log, workDir, r)
	}
	if st.Next != booted {
		return
	}
	deadline := time.Now().Add(trialDeadline)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // our own loopback; only the status code counts
	}}
	url := "https://127.0.0.1:5050/health"
	if role == "agent" {
		url = "https://127.0.0.1:5051/health"
	}
	for {
		if isMountPoint(applianceWorkDir) {
			if resp, err := client.Get(url); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			log.Error("upgrade failed: the new system did not become healthy in time; rebooting into the previous one", "slot", booted, "version", st.Versions[booted], "deadline", trialDeadline)
			_ = b.GiveUp(booted)
			unix.Sync()
			_ = unix.Kill(1, rebootSignal)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
	if ok, err := b.MarkGood(booted); err != nil {
		log.Error("mark the new system good", "err", err)
		return
	} else if ok {
		unix.Sync()
		log.Info("upgrade healthy: the new system is now the default", "slot", booted, "version", st.Versions[booted])
		writeRecord(log, workDir, UpgradeRecord{Time: time.Now().UTC(), Slot: booted, Version: st.Versions[booted], Result: "healthy", RunningSlot: booted})
	}
}

// consoleCommands reads the serial console: an operator there (or a test
// driving it) can install, upgrade, roll back and see the slots without
// a shell. Each command runs `nodectl …` with its output on the console.
func consoleCommands(log *slog.Logger) {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		var args []string
		switch {
		case f[0] == "install" && len(f) == 2:
			args = []string{"install", "--disk", f[1]}
		case f[0] == "upgrade" && len(f) == 2:
			args = []string{"upgrade", "--image", f[1]}
		case f[0] == "rollback" && len(f) == 1:
			args = []string{"upgrade", "--rollback"}
		case f[0] == "status" && len(f) == 1:
			args = []string{"upgrade", "--status"}
		default:
			fmt.Fprintln(os.Stderr, "console commands: install DISK | upgrade FILE|URL | rollback | status")
			continue
		}
		log.Info("console command", "command", strings.Join(args, " "))
		exe, err := os.Executable()
		if err != nil {
			exe = "/init"
		}
		// The supervisor reaps it with every other child.
		p, err := os.StartProcess(exe, append([]string{"nodectl"}, args...), &os.ProcAttr{Files: []*os.File{nil, os.Stdout, os.Stderr}, Env: os.Environ()})
		if err != nil {
			log.Error("console command", "err", err)
			continue
		}
		_ = p.Release()
	}
}
