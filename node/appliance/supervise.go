package appliance

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"nodectl/node/internal/netup"
)

// Supervision of `nodectl up` by PID 1.
const (
	restartBackoffMin = time.Second
	restartBackoffMax = 30 * time.Second
	// A child that ran this long before exiting restarts after the minimum
	// backoff again.
	restartStableAfter = time.Minute

	killOthersGrace = 3 * time.Second
)

// powerAction is how the machine ends.
type powerAction int

const (
	actionPoweroff powerAction = iota
	actionReboot
)

func (a powerAction) String() string {
	if a == actionReboot {
		return "reboot"
	}
	return "poweroff"
}

// supervisor runs `nodectl up` as PID 1's child, restarts it when it
// exits (with exponential backoff), reaps every orphan, and on a power
// request stops the child, everything else, unmounts and powers off.
type supervisor struct {
	log    *slog.Logger
	args   []string
	leases []netup.Lease
	// announce, if set, runs beside the child until shutdown (the join
	// banner of a master).
	announce func(ctx context.Context) error

	pid     int // the running child, 0 when none
	started time.Time
	backoff time.Duration
}

// run never returns.
func (s *supervisor) run(ctx context.Context) {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGCHLD, poweroffSignal, rebootSignal, ctrlAltDelSignal, unix.SIGUSR1, unix.SIGPWR)
	power := make(chan powerAction, 1)

	ctx, cancel := context.WithCancel(ctx)
	var g errgroup.Group
	for _, l := range s.leases {
		g.Go(func() error { return l.Renew(ctx, s.log) })
	}
	if s.announce != nil {
		g.Go(func() error { return s.announce(ctx) })
	}
	btn := watchPowerButton(s.log, power)

	s.backoff = restartBackoffMin
	s.start()
	var restart <-chan time.Time
	var action powerAction
loop:
	for {
		select {
		case sig := <-sigs:
			switch sig {
			case unix.SIGCHLD:
				if s.reap() {
					restart = time.After(s.nextBackoff())
				}
			case rebootSignal, ctrlAltDelSignal:
				action = actionReboot
				break loop
			default:
				action = actionPoweroff
				break loop
			}
		case action = <-power:
			break loop
		case <-restart:
			restart = nil
			s.start()
		}
	}
	s.log.Info("shutting down", "action", action)
	for _, f := range btn {
		_ = f.Close()
	}
	cancel()
	_ = g.Wait()
	s.stopAll(sigs)
	s.finish(action)
}

// start starts `nodectl up`; it is not waited for with exec's Wait: reap
// collects it along with every orphan.
func (s *supervisor) start() {
	exe, err := os.Executable()
	if err != nil {
		exe = "/init"
	}
	attr := &os.ProcAttr{Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}, Env: append(os.Environ(), "HOME=/root", "PATH=/usr/sbin:/usr/bin:/sbin:/bin")}
	p, err := os.StartProcess(exe, append([]string{"nodectl"}, s.args...), attr)
	if err != nil {
		s.log.Error("start nodectl up", "err", err)
		s.pid = 0
		return
	}
	s.pid, s.started = p.Pid, time.Now()
	_ = p.Release()
	s.log.Info("nodectl up started", "pid", s.pid, "args", strings.Join(node.ShownArgs(s.args), " "))
}

// reap collects every exited child. It reports whether the supervised
// child was among them.
func (s *supervisor) reap() bool {
	ours := false
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return ours
		}
		if pid == s.pid && s.pid != 0 {
			ours = true
			s.pid = 0
			s.log.Warn("nodectl up exited", "status", exitStatus(ws), "ran", time.Since(s.started).Round(time.Second))
		}
	}
}

func exitStatus(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return "exit " + strconv.Itoa(ws.ExitStatus())
}

// nextBackoff is the wait before the next restart: doubling from the
// minimum, capped, and reset after a child that ran a while.
func (s *supervisor) nextBackoff() time.Duration {
	if time.Since(s.started) >= restartStableAfter {
		s.backoff = restartBackoffMin
	}
	d := s.backoff
	s.backoff = min(2*s.backoff, restartBackoffMax)
	s.log.Info("restarting nodectl up", "in", d)
	return d
}

// stopAll stops the child with SIGTERM (its staged shutdown leaves
// containers running), then every other process with SIGTERM and SIGKILL.
func (s *supervisor) stopAll(sigs chan os.Signal) {
	if s.pid != 0 {
		_ = unix.Kill(s.pid, unix.SIGTERM)
		deadline := time.After(node.ShutdownBudget + 10*time.Second)
	wait:
		for s.pid != 0 {
			select {
			case sig := <-sigs:
				if sig == unix.SIGCHLD {
					s.reap()
				}
			case <-deadline:
				s.log.Warn("nodectl up did not stop in time; killing it", "grace", node.ShutdownBudget+10*time.Second)
				_ = unix.Kill(s.pid, unix.SIGKILL)
				break wait
			}
		}
	}
	signal.Stop(sigs)
	_ = unix.Kill(-1, unix.SIGTERM)
	deadline := time.Now().Add(killOthersGrace)
	for time.Now().Before(deadline) {
		pid, _ := unix.Wait4(-1, nil, unix.WNOHANG, nil)
		if pid < 0 { // ECHILD: none left
			return
		}
		if pid == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	_ = unix.Kill(-1, unix.SIGKILL)
	for i := 0; i < 100; i++ {
		if pid, _ := unix.Wait4(-1, nil, unix.WNOHANG, nil); pid < 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// finish unmounts every disk-backed filesystem, newest first, syncs, and
// powers off or reboots.
func (s *supervisor) finish(action powerAction) {
	unix.Sync()
	for _, m := range diskMounts() {
		if err := unix.Unmount(m, 0); err != nil {
			if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
				s.log.Warn("unmount", "target", m, "err", err)
			}
		}
	}
	unix.Sync()
	s.log.Info("bye", "action", action)
	cmd := unix.LINUX_REBOOT_CMD_POWER_OFF
	if action == actionReboot {
		cmd = unix.LINUX_REBOOT_CMD_RESTART
	}
	for {
		_ = unix.Reboot(cmd)
		time.Sleep(time.Second)
	}
}

// diskMounts lists mount points that are not kernel or memory filesystems
// (the data disk, container rootfs overlays on it), last mounted first.
func diskMounts() []string {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return nil
	}
	defer f.Close()
	virtual := map[string]bool{"proc": true, "sysfs": true, "devtmpfs": true, "devpts": true, "tmpfs": true, "cgroup2": true, "rootfs": true, "ramfs": true, "mqueue": true}
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[1] == "/" {
			continue
		}
		if !virtual[fields[2]] || strings.HasPrefix(fields[1], applianceWorkDir+"/") {
			out = append(out, fields[1])
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// Linux input events (linux/input.h): a 24-byte struct on 64-bit.
const (
	evKey       = 0x01
	keyPower    = 116
	inputEvSize = 24
)

// watchPowerButton reads the ACPI power button's input device (the ACPI
// button driver reports presses through evdev) and asks for a power-off
// on a press. It returns the files to close to stop it.
func watchPowerButton(log *slog.Logger, power chan<- powerAction) []*os.File {
	names, _ := filepath.Glob("/sys/class/input/event*/device/name")
	sort.Strings(names)
	var files []*os.File
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil || strings.TrimSpace(string(b)) != "Power Button" {
			continue
		}
		dev := "/dev/input/" + filepath.Base(filepath.Dir(filepath.Dir(n)))
		f, err := os.Open(dev)
		if err != nil {
			log.Warn("power button", "dev", dev, "err", err)
			continue
		}
		files = append(files, f)
		go readPowerButton(f, power) // ends when run closes f
	}
	if len(files) == 0 {
		log.Warn("no ACPI power button found; power off with nodectl poweroff")
	}
	return files
}

func readPowerButton(f *os.File, power chan<- powerAction) {
	buf := make([]byte, inputEvSize*16)
	for {
		n, err := f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				time.Sleep(time.Second)
			}
			if errors.Is(err, os.ErrClosed) || errors.Is(err, syscall.ENODEV) {
				return
			}
			continue
		}
		for off := 0; off+inputEvSize <= n; off += inputEvSize {
			ev := buf[off : off+inputEvSize]
			typ := binary.LittleEndian.Uint16(ev[16:])
			code := binary.LittleEndian.Uint16(ev[18:])
			val := int32(binary.LittleEndian.Uint32(ev[20:]))
			if typ == evKey && code == keyPower && val == 1 {
				select {
				case power <- actionPoweroff:
				default:
				}
			}
		}
	}
}
