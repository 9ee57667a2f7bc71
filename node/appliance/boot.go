package appliance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"nodectl/node/internal/bootcfg"
	"nodectl/node/internal/disk"
	"nodectl/node/internal/kmod"
	"nodectl/node/internal/netup"
)

// boot is stage 2 of PID 1: it prepares the machine, then supervises
// `nodectl up` until a power-off or reboot is asked for.
func boot(log *slog.Logger) {
	start := time.Now()
	_ = os.Remove(initNewRoot)
	mountBase(log)
	if up, err := os.ReadFile("/proc/uptime"); err == nil {
		log.Info("init: root switched", "uptime_s", strings.Fields(string(up))[0])
	}
	// Ctrl-Alt-Del becomes SIGINT to PID 1 instead of an immediate reboot.
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF)
	loadModules(log)

	devs := scanDisks(log)
	cfgFiles := readConfigDisk(log, devs)
	embedded, _ := os.ReadFile(embeddedConfig)
	// An install the configuration asks for comes first: the data disk
	// is then the new data partition (lifecycle.go).
	if target := installTarget(cfgFiles, embedded); target != "" && autoInstall(log, devs, target) {
		devs = scanDisks(log)
	}
	workDir := mountDataDisk(log, devs)
	// Host volumes of apps go under volumes/ on the data disk, reached at
	// /volumes: tasks never mount the work dir or anything in it (docs/iso.md).
	volumesReady := bindVolumes(log, workDir)
	seedRandom(log, workDir)

	nics, err := netup.WaitNICs(5 * time.Second)
	if err != nil {
		log.Warn("network", "err", err)
	}
	var macs []string
	for _, n := range nics {
		macs = append(macs, n.MAC)
	}
	setHostname(log, nics)
	cmdline, _ := os.ReadFile("/proc/cmdline")
	plan, err := bootcfg.Resolve(bootcfg.Inputs{
		Cmdline: bootcfg.ParseCmdline(string(cmdline)), CfgFiles: cfgFiles, MACs: macs,
		Embedded: embedded, Known: node.IsUpFlag,
	})
	if err != nil {
		log.Error("configuration unusable; starting as a single node", "err", err)
		plan = bootcfg.Plan{Source: "default", Args: []string{"--role=all"}, Net: []bootcfg.NetSpec{{DHCP: true}}}
	}
	log.Info("configuration", "source", plan.Source, "args", strings.Join(plan.Args, " "))
	for _, n := range plan.Notes {
		log.Warn("configuration: " + n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	leases := bringUpNetwork(ctx, log, plan.Net, nics)

	args := []string{"up"}
	args = append(args, plan.Args...)
	if cfg := upConfigFile(ctx, log, plan); cfg != "" {
		args = append(args, "--config="+cfg)
	}
	if !plan.Sets("work-dir", "work_dir") {
		args = append(args, "--work-dir="+workDir)
	}
	if volumesReady && !plan.Sets("allowed-host-paths", "allowed_host_paths") {
		args = append(args, "--allowed-host-paths="+applianceVolumes+":rw")
	}
	preloadImages(log, workDir)
	log.Info("boot done", "elapsed", time.Since(start).Round(time.Millisecond))
	banner(plan, leases)

	// A/B slots: report a failed upgrade, assess a slot on trial; and the
	// console's commands (lifecycle.go).
	go assessBoot(ctx, log, workDir, bannerRole(plan))
	go consoleCommands(log)
	s := &supervisor{log: log, args: args, leases: leases}
	if bannerRole(plan) != "agent" {
		s.announce = func(ctx context.Context) error { return announceJoin(ctx, log, workDir) }
	}
	s.run(ctx)
}

// applianceVolumes is where apps' host volumes are on the appliance: a bind
// mount of <work dir>/volumes, outside the work dir's path, so the agent's
// --allowed-host-paths can list it (it never allows the work dir).
const applianceVolumes = "/volumes"

// bindVolumes makes <workDir>/volumes and binds it at /volumes.
func bindVolumes(log *slog.Logger, workDir string) bool {
	src := filepath.Join(workDir, "volumes")
	if err := os.MkdirAll(src, 0o755); err != nil {
		log.Warn("host volumes dir", "err", err)
		return false
	}
	if err := os.MkdirAll(applianceVolumes, 0o755); err != nil {
		log.Warn("host volumes mount point", "err", err)
		return false
	}
	if err := unix.Mount(src, applianceVolumes, "", unix.MS_BIND, ""); err != nil {
		log.Warn("bind host volumes", "src", src, "err", err)
		return false
	}
	return true
}

// mountBase mounts the kernel filesystems and the tmpfs directories.
func mountBase(log *slog.Logger) {
	for _, m := range []struct {
		src, target, fstype, data string
		flags                     uintptr
	}{
		{"proc", "/proc", "proc", "", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"sysfs", "/sys", "sysfs", "", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"devtmpfs", "/dev", "devtmpfs", "mode=0755", unix.MS_NOSUID},
		{"devpts", "/dev/pts", "devpts", "gid=5,mode=620,ptmxmode=666", unix.MS_NOSUID | unix.MS_NOEXEC},
		{"tmpfs", "/dev/shm", "tmpfs", "mode=1777", unix.MS_NOSUID | unix.MS_NODEV},
		{"cgroup2", "/sys/fs/cgroup", "cgroup2", "nsdelegate", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"tmpfs", "/run", "tmpfs", "mode=0755", unix.MS_NOSUID | unix.MS_NODEV},
		{"tmpfs", "/tmp", "tmpfs", "mode=1777", unix.MS_NOSUID | unix.MS_NODEV},
	} {
		_ = os.MkdirAll(m.target, 0o755)
		err := unix.Mount(m.src, m.target, m.fstype, m.flags, m.data)
		if err != nil && !errors.Is(err, unix.EBUSY) {
			log.Warn("mount", "target", m.target, "err", err)
		}
	}
	_ = os.MkdirAll(applianceRunDir, 0o755)
	// Delegate every controller to child cgroups, as systemd does, so the
	// agent's containers get cpu, memory, io and pids limits.
	if ctrls, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		var enable []string
		for _, c := range strings.Fields(string(ctrls)) {
			enable = append(enable, "+"+c)
		}
		if err := os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte(strings.Join(enable, " ")), 0o644); err != nil {
			log.Warn("enable cgroup controllers", "err", err)
		}
	}
	_ = os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644)
}

// loadModules loads every module the ISO carries, dependencies first.
func loadModules(log *slog.Logger) {
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	dir := filepath.Join("/lib/modules", unix.ByteSliceToString(uts.Release[:]))
	start := time.Now()
	// mkiso lists the modules to load, one group a line, groups in order
	// (crypto drivers before the filesystems that look them up); without
	// the list, load them all.
	var groups [][]string
	if b, err := os.ReadFile(filepath.Join(dir, "nodectl.modules")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if names := strings.Fields(line); len(names) > 0 {
				groups = append(groups, names)
			}
		}
	}
	files, err := kmod.LoadDir(dir, groups, 4)
	if err != nil {
		log.Warn("kernel modules", "dir", dir, "err", err)
	}
	log.Info("kernel modules loaded", "count", len(files), "elapsed", time.Since(start).Round(time.Millisecond))
}

// scanDisks lists the block devices, waiting briefly for disks that probe
// asynchronously (USB) when none is there yet.
func scanDisks(log *slog.Logger) []disk.Device {
	deadline := time.Now().Add(2 * time.Second)
	for {
		devs, err := disk.Scan("/sys/class/block", "/dev")
		if err != nil {
			log.Warn("scan disks", "err", err)
		}
		if len(devs) > 0 || time.Now().After(deadline) {
			return devs
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mountDataDisk mounts the disk labelled NODECTL_DATA at the work dir,
// formatting the first empty disk as one if there is none. Without a disk
// the work dir stays on the tmpfs root and state is lost at power-off.
func mountDataDisk(log *slog.Logger, devs []disk.Device) string {
	_ = os.MkdirAll(applianceWorkDir, 0o755)
	d, ok := disk.ByLabel(devs, dataLabel)
	if !ok {
		empty, found := disk.FirstEmptyDisk(devs)
		if !found {
			log.Warn("no data disk (" + dataLabel + " or an empty disk): the node's state lives in memory and is lost at power-off")
			return applianceWorkDir
		}
		log.Info("formatting empty disk as the data disk", "dev", empty.Path, "label", dataLabel)
		out, err := exec.Command("/usr/sbin/mke2fs", "-q", "-t", "ext4", "-L", dataLabel, "-E", "lazy_itable_init=1,lazy_journal_init=1", empty.Path).CombinedOutput()
		if err != nil {
			log.Error("format data disk; state lives in memory", "dev", empty.Path, "err", err, "output", strings.TrimSpace(string(out)))
			return applianceWorkDir
		}
		d = empty
		d.FS = disk.FSExt
	}
	if d.FS != disk.FSExt {
		log.Error("data disk is not ext4; state lives in memory", "dev", d.Path, "fs", d.FS)
		return applianceWorkDir
	}
	if err := unix.Mount(d.Path, applianceWorkDir, "ext4", unix.MS_NOATIME, ""); err != nil {
		log.Error("mount data disk; state lives in memory", "dev", d.Path, "err", err)
		return applianceWorkDir
	}
	log.Info("data disk mounted", "dev", d.Path, "at", applianceWorkDir)
	return applianceWorkDir
}

// readConfigDisk returns the *.yaml files at the top of the disk labelled
// NODECTL_CFG (a USB stick, a CD), mounted read-only for the time it takes.
func readConfigDisk(log *slog.Logger, devs []disk.Device) map[string][]byte {
	d, ok := disk.ByLabel(devs, configLabel)
	if !ok {
		return nil
	}
	_ = os.MkdirAll(applianceCfgMount, 0o755)
	opts := ""
	if d.FS == disk.FSVFAT {
		opts = "iocharset=utf8" // long file names (nodectl-<mac>.yaml) as UTF-8
	}
	if err := unix.Mount(d.Path, applianceCfgMount, d.FS, unix.MS_RDONLY, opts); err != nil {
		log.Warn("mount config disk", "dev", d.Path, "err", err)
		return nil
	}
	defer func() { _ = unix.Unmount(applianceCfgMount, 0) }()
	files := map[string][]byte{}
	entries, _ := os.ReadDir(applianceCfgMount)
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(strings.ToLower(e.Name()), ".yaml") {
			if b, err := os.ReadFile(filepath.Join(applianceCfgMount, e.Name())); err == nil {
				files[e.Name()] = b
			}
		}
	}
	log.Info("config disk found", "dev", d.Path, "files", len(files))
	return files
}

// setHostname names the machine after its first NIC ("nodectl-5254001234ab")
// so nodes booted from the same ISO tell apart.
func setHostname(log *slog.Logger, nics []netup.NIC) {
	name := "nodectl"
	if len(nics) > 0 {
		name += "-" + strings.ReplaceAll(nics[0].MAC, ":", "")
	}
	if err := unix.Sethostname([]byte(name)); err != nil {
		log.Warn("set hostname", "err", err)
	}
	_ = os.WriteFile("/etc/hostname", []byte(name+"\n"), 0o644)
}

// bringUpNetwork applies the network settings: loopback, then each spec
// (DHCP or static), writing /etc/resolv.conf and /etc/hosts.
func bringUpNetwork(ctx context.Context, log *slog.Logger, specs []bootcfg.NetSpec, nics []netup.NIC) []netup.Lease {
	if err := netup.Loopback(); err != nil {
		log.Warn("loopback", "err", err)
	}
	var leases []netup.Lease
	for _, spec := range specs {
		nic, ok := matchNIC(spec, nics)
		if !ok {
			log.Warn("network: no interface matches", "match", spec.Match)
			continue
		}
		var (
			l   netup.Lease
			err error
		)
		if spec.DHCP {
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			l, err = netup.DHCP(dctx, nic.Name, log)
			cancel()
		} else {
			l, err = netup.Static(nic.Name, spec.Addr, spec.Gateway)
		}
		if err != nil {
			log.Error("network", "nic", nic.Name, "err", err)
			continue
		}
		log.Info("network up", "nic", nic.Name, "mac", nic.MAC, "addr", l.Addr, "gateway", l.Gateway, "dhcp", spec.DHCP)
		leases = append(leases, l)
	}
	_ = os.WriteFile("/etc/resolv.conf", []byte(netup.ResolvConf(leases)), 0o644)
	hostname, _ := os.Hostname()
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
	if len(leases) > 0 {
		hosts += leases[0].Addr.Addr().String() + "\t" + hostname + "\n"
	}
	_ = os.WriteFile("/etc/hosts", []byte(hosts), 0o644)
	return leases
}

func matchNIC(spec bootcfg.NetSpec, nics []netup.NIC) (netup.NIC, bool) {
	for _, n := range nics {
		if spec.Match == "" || spec.Match == n.Name || spec.Match == n.MAC {
			return n, true
		}
	}
	return netup.NIC{}, false
}

// upConfigFile writes the plan's config file for `up --config`, fetching
// nodectl.config=URL first (retrying until it answers or a few minutes
// pass). It returns "" when there is none.
func upConfigFile(ctx context.Context, log *slog.Logger, plan bootcfg.Plan) string {
	data := plan.YAML
	if plan.ConfigURL != "" {
		body, err := fetchConfig(ctx, log, plan.ConfigURL)
		if err != nil {
			log.Error("fetch config; going on without it", "url", plan.ConfigURL, "err", err)
		} else {
			var notes []string
			data, _, notes, err = bootcfg.RewriteYAML(body, node.IsUpFlag)
			if err != nil {
				log.Error("config from URL unusable", "url", plan.ConfigURL, "err", err)
				data = nil
			}
			for _, n := range notes {
				log.Warn("configuration: " + n)
			}
		}
	}
	if len(data) == 0 {
		return ""
	}
	path := filepath.Join(applianceRunDir, "config.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		log.Error("write config", "err", err)
		return ""
	}
	return path
}

func fetchConfig(ctx context.Context, log *slog.Logger, url string) ([]byte, error) {
	client := &http.Client{Timeout: 20 * time.Second}
	deadline := time.Now().Add(3 * time.Minute)
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err == nil {
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && rerr == nil {
				return body, nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		log.Warn("fetch config; retrying", "url", url, "attempt", attempt, "err", err)
		time.Sleep(5 * time.Second)
	}
}

// preloadImages loads the image archives built into the ISO into the
// node's image store, once per archive (a marker in the store remembers).
func preloadImages(log *slog.Logger, workDir string) {
	files, _ := filepath.Glob(filepath.Join(preloadImagesDir, "*"))
	sort.Strings(files)
	markerDir := filepath.Join(workDir, "images", ".preloaded")
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			continue
		}
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s %d", filepath.Base(f), st.Size())))
		marker := filepath.Join(markerDir, hex.EncodeToString(sum[:8]))
		if _, err := os.Stat(marker); err == nil {
			continue
		}
		start := time.Now()
		var out bytes.Buffer
		cmd := exec.Command("/proc/self/exe", "image", "load", "--work-dir", workDir, f)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			log.Error("preload image", "file", filepath.Base(f), "err", err, "output", strings.TrimSpace(out.String()))
			continue
		}
		_ = os.MkdirAll(markerDir, 0o755)
		_ = os.WriteFile(marker, []byte(filepath.Base(f)+"\n"), 0o644)
		log.Info("image preloaded", "file", filepath.Base(f), "images", strings.TrimSpace(out.String()), "elapsed", time.Since(start).Round(time.Millisecond))
	}
}

// bannerRole is the role the plan starts (up's default is all).
func bannerRole(plan bootcfg.Plan) string {
	role := "all"
	for _, a := range plan.Args {
		if v, ok := strings.CutPrefix(a, "--role="); ok {
			role = v
		}
	}
	return role
}

// banner prints where the node is reachable; a master's join command
// follows once it can make a token (announceJoin).
func banner(plan bootcfg.Plan, leases []netup.Lease) {
	ip := "127.0.0.1"
	for _, l := range leases {
		ip = l.Addr.Addr().String()
		if l.Gateway.IsValid() {
			break
		}
	}
	role := bannerRole(plan)
	var b strings.Builder
	b.WriteString("\n================ nodectl appliance ================\n")
	fmt.Fprintf(&b, "configuration: %s, role %s\n", plan.Source, role)
	for _, l := range leases {
		fmt.Fprintf(&b, "address: %s on %s\n", l.Addr, l.NIC)
	}
	if role != "agent" {
		fmt.Fprintf(&b, "API and UI: https://%s:5050/ (signed by the cluster CA, <work-dir>/pki/ca.crt)\n", ip)
		b.WriteString("the join command for agents follows once the master is up\n")
	}
	b.WriteString("====================================================\n")
	fmt.Fprint(os.Stderr, b.String())
}
