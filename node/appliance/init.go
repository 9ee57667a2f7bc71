package appliance

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The appliance's fixed paths (the ISO builder, node/internal/mkiso, puts
// files where these say).
const (
	initStageEnv      = "NODECTL_INIT_STAGE" // set to "2" once running in the switched root
	initNewRoot       = "/newroot"
	applianceWorkDir  = "/var/lib/nodectl"
	applianceRunDir   = "/run/nodectl"
	embeddedConfig    = "/etc/nodectl/nodectl.yaml"
	preloadImagesDir  = "/usr/share/nodectl/images"
	dataLabel         = "NODECTL_DATA"
	configLabel       = "NODECTL_CFG"
	poweroffSignal    = unix.SIGUSR2 // busybox init's convention: USR2 powers off, TERM reboots
	rebootSignal      = unix.SIGTERM
	ctrlAltDelSignal  = unix.SIGINT // with reboot(CAD_OFF) the kernel sends it on Ctrl-Alt-Del
	applianceConsole  = "/dev/console"
	applianceCfgMount = "/run/nodectl/cfg"
)

// Node is what PID 1 needs from the node it boots: nodectl's own
// packages stay out of the appliance's, which only starts `nodectl up`
// and supervises it.
type Node struct {
	// IsUpFlag tells whether name is a spelling of an `up` flag.
	IsUpFlag func(name string) bool
	// ShownArgs is args with secret flag values masked, for the log.
	ShownArgs func(args []string) []string
	// CreateAgentToken makes an agent join token with the admin
	// credential `up` wrote into workDir: the master's URL, the token and
	// the ready-to-paste join command.
	CreateAgentToken func(ctx context.Context, workDir string) (url, token, joinCommand string, err error)
	// ShutdownBudget bounds `up`'s staged shutdown.
	ShutdownBudget time.Duration
	// Version is nodectl's (what an install from the CD records for slot A).
	Version string
}

// node is the running PID 1's Node (set once by Run).
var node Node

// PowerOff asks the appliance's PID 1 to stop the node cleanly and power
// the machine off, or reboot it.
func PowerOff(reboot bool) error {
	comm, _ := os.ReadFile("/proc/1/comm")
	if string(comm) != "init\n" && string(comm) != "nodectl\n" {
		return fmt.Errorf("PID 1 is not nodectl (%s); use the host's poweroff", string(comm[:max(0, len(comm)-1)]))
	}
	sig := poweroffSignal
	if reboot {
		sig = rebootSignal
	}
	if err := unix.Kill(1, sig); err != nil {
		return fmt.Errorf("signal PID 1: %w", err)
	}
	return nil
}

// StartedAsInit tells whether this process is the machine's init: PID 1
// run under the name init (/init, /sbin/init). The name check keeps
// `nodectl up` as PID 1 of a container from trying to boot a machine; the
// kernel passes init unknown command-line words as arguments, so the
// arguments themselves say nothing.
func StartedAsInit(args []string) bool {
	return os.Getpid() == 1 && len(args) > 0 && filepath.Base(args[0]) == "init"
}

// Run is PID 1 (`nodectl init`, or nodectl started as /init). It never returns: the machine powers off or reboots.
// Stage 1 runs in the initramfs and moves everything into a tmpfs root
// (containers cannot pivot_root out of an initramfs), then re-executes
// itself there as stage 2, which boots the node.
func Run(n Node) {
	node = n
	setupConsole()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("component", "init")
	if os.Getenv(initStageEnv) != "2" {
		err := switchRoot()
		// Only returns on failure: carry on in the initramfs, with containers
		// that cannot start, rather than leave a machine without its API.
		log.Error("switch root failed; staying in the initramfs", "err", err)
	}
	_ = os.Unsetenv(initStageEnv)
	boot(log)
}

// setupConsole gives PID 1 the console as stdin/stdout/stderr when the
// kernel could not (the initramfs has no /dev/console node).
func setupConsole() {
	if _, err := unix.FcntlInt(2, unix.F_GETFD, 0); err == nil {
		return
	}
	_ = os.MkdirAll("/dev", 0o755)
	_ = unix.Mount("devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755")
	fd, err := unix.Open(applianceConsole, unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return
	}
	for i := 0; i < 3; i++ {
		_ = unix.Dup2(fd, i)
	}
	if fd > 2 {
		_ = unix.Close(fd)
	}
}

// switchRoot copies the initramfs into a fresh tmpfs, frees the
// initramfs, moves the tmpfs onto / and re-executes /init there. It only
// returns on failure.
func switchRoot() error {
	if err := os.MkdirAll(initNewRoot, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", initNewRoot, "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("mount tmpfs: %w", err)
	}
	var rootSt unix.Stat_t
	if err := unix.Stat("/", &rootSt); err != nil {
		return err
	}
	err := filepath.Walk("/", func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if p == "/" {
			return nil
		}
		st := fi.Sys().(*syscall.Stat_t)
		dst := filepath.Join(initNewRoot, p)
		if p == initNewRoot || st.Dev != rootSt.Dev {
			// Another filesystem (the new root, /dev): only its mount point.
			if err := os.MkdirAll(dst, fi.Mode().Perm()); err != nil {
				return err
			}
			return filepath.SkipDir
		}
		return copyEntry(p, dst, fi)
	})
	if err != nil {
		return fmt.Errorf("copy initramfs: %w", err)
	}
	// /dev is a mount only if setupConsole had to mount it.
	var devSt unix.Stat_t
	if unix.Stat("/dev", &devSt) == nil && devSt.Dev != rootSt.Dev {
		if err := unix.Mount("/dev", filepath.Join(initNewRoot, "dev"), "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move /dev: %w", err)
		}
	}
	// Free the initramfs: it stays mounted under the new root, empty.
	entries, _ := os.ReadDir("/")
	for _, e := range entries {
		p := "/" + e.Name()
		var st unix.Stat_t
		if p == initNewRoot || unix.Lstat(p, &st) != nil || st.Dev != rootSt.Dev {
			continue
		}
		_ = os.RemoveAll(p)
	}
	if err := unix.Chdir(initNewRoot); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move new root onto /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	env := append(os.Environ(), initStageEnv+"=2")
	return fmt.Errorf("exec /init: %w", unix.Exec("/init", []string{"/init"}, env))
}

// copyEntry copies one file, directory or symlink of the initramfs.
func copyEntry(src, dst string, fi os.FileInfo) error {
	switch {
	case fi.IsDir():
		return os.MkdirAll(dst, fi.Mode().Perm())
	case fi.Mode()&os.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(target, dst)
	case fi.Mode().IsRegular():
		in, err := os.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, fi.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	}
	return nil // device nodes and the like: devtmpfs provides them
}
