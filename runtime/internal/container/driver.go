package container

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"

	"nodectl/runtime/internal/container/internal/hostroot"
	"nodectl/runtime/internal/container/internal/shimapi"
	"nodectl/runtime/internal/container/internal/warmdir"
)

// DefaultCgroupParent is where container cgroups go when Config leaves it
// empty: /nodectl/<id> in every hierarchy (like Mesos' /mesos).
const DefaultCgroupParent = "/nodectl"

// Config configures a Driver.
type Config struct {
	// Root is the driver's state directory (required, absolute). It holds
	// libcontainer's state (Root/runc/<id>) and the run directories
	// (Root/containers/<id>). Put it on a tmpfs (the agent mounts one
	// there, runtime/runtimedir.go): after a reboot every container is
	// gone, and so should their records be.
	Root string
	// ShimPath is the nodectl-shim binary (required): InstallShim's result,
	// or a test build (containertest.BuildShim).
	ShimPath string
	// MonitorPath is the nodectl-monitor binary the shim turns into once
	// its container runs. Default: MonitorName next to ShimPath.
	MonitorPath string
	// SeccompHelperPath is the nodectl-seccomp binary that loads a
	// container's seccomp filter, compiled once per profile and kept in
	// Root/seccomp, instead of libcontainer compiling it in every
	// container's init. Default: SeccompHelperName next to ShimPath.
	SeccompHelperPath string
	// CgroupParent is the absolute cgroup path under which each container
	// gets <CgroupParent>/<id>. Default DefaultCgroupParent.
	CgroupParent string
	// WarmContainers has the driver make the next command task's
	// container ahead (spare.go): a task like the last one started takes
	// it over.
	WarmContainers bool
	// WarmRootfs, with WarmContainers, has the driver make warm containers
	// of image tasks too: it makes and releases their roots (the agent's
	// image store). Nil: only command tasks get warm containers.
	WarmRootfs WarmRootfs
	// HiddenPaths are host paths (glob patterns allowed) hidden from command
	// tasks besides Root and the shim's list of host secrets (/etc/shadow,
	// /root, ...): the agent's work dir and the operator's paths.
	HiddenPaths []string
	// ViewRoot is where the driver mounts the command tasks' view of the
	// host root while starts copy it (hostroot/view.go): a directory of its
	// own (the agent's is <runtime dir>/views). Empty: no views, command
	// tasks bind the host's top-level entries themselves.
	ViewRoot string
	// SeccompDir is Mesos' --seccomp_config_dir: where the profiles a
	// Spec or SeccompProfile names are (OCI LinuxSeccomp JSON files).
	SeccompDir string
	// SeccompProfile is Mesos' --seccomp_profile_name: the profile in
	// SeccompDir that replaces the built-in default for every container
	// whose Spec names none. Checked by New.
	SeccompProfile string
	// Logger defaults to a discarding logger.
	Logger *slog.Logger
}

// Driver creates and finds containers. It keeps no per-container state in
// memory: everything lives under Config.Root, so a new Driver (after an
// agent restart) sees the same containers. Safe for concurrent use.
type Driver struct {
	cfg Config
	log *slog.Logger

	mu sync.Mutex
	// children are the shims (later monitors) this process forked and has
	// not reaped yet; any handle on their containers reaps them. An
	// unreaped child's pid cannot be reused, so the pid is enough. Guarded
	// by mu.
	children map[int]bool

	// rootMu guards the command tasks' root skeleton (hostRoot): rootDir,
	// made when "/" looked like rootStat.
	rootMu   sync.Mutex
	rootDir  string
	rootStat unix.Stat_t
	// rootEntries is the listing rootDir mirrors. view is the view of it
	// (hostroot/view.go) mounted while starts copy it; noView is why views
	// cannot be made here (command tasks then bind the host's entries
	// themselves).
	rootEntries []hostroot.Entry
	view        viewState
	noView      error

	spares spares // spare.go
}

// reap collects pid's exit status if it is an exited child of this process.
func (d *Driver) reap(pid int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.children[pid] {
		return
	}
	var ws unix.WaitStatus
	got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	if got == pid || errors.Is(err, unix.ECHILD) {
		delete(d.children, pid)
	}
}

// New validates cfg and returns a Driver. It creates Root if needed.
func New(cfg Config) (*Driver, error) {
	if cfg.Root == "" || !filepath.IsAbs(cfg.Root) {
		return nil, fmt.Errorf("new container driver: Root must be an absolute path, got %q", cfg.Root)
	}
	if cfg.ShimPath == "" {
		return nil, fmt.Errorf("new container driver: ShimPath is required")
	}
	if cfg.MonitorPath == "" {
		cfg.MonitorPath = filepath.Join(filepath.Dir(cfg.ShimPath), MonitorName)
	}
	if cfg.SeccompHelperPath == "" {
		cfg.SeccompHelperPath = filepath.Join(filepath.Dir(cfg.ShimPath), SeccompHelperName)
	}
	for _, b := range []struct{ what, path string }{{"shim", cfg.ShimPath}, {"monitor", cfg.MonitorPath}, {"seccomp helper", cfg.SeccompHelperPath}} {
		if st, err := os.Stat(b.path); err != nil {
			return nil, fmt.Errorf("new container driver: stat %s: %w", b.what, err)
		} else if st.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("new container driver: %s %s is not executable", b.what, b.path)
		}
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = DefaultCgroupParent
	}
	if !filepath.IsAbs(cfg.CgroupParent) {
		return nil, fmt.Errorf("new container driver: CgroupParent must be absolute, got %q", cfg.CgroupParent)
	}
	if cfg.SeccompProfile != "" {
		if _, err := LoadSeccompProfile(cfg.SeccompDir, cfg.SeccompProfile); err != nil {
			return nil, fmt.Errorf("new container driver: %w", err)
		}
	}
	cfg.Root = filepath.Clean(cfg.Root)
	if cfg.ViewRoot != "" {
		cfg.ViewRoot = filepath.Clean(cfg.ViewRoot)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Driver{cfg: cfg, log: log.With("component", "container"), children: map[int]bool{}}
	for _, dir := range []string{d.stateRoot(), d.runRoot()} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("new container driver: %w", err)
		}
	}
	d.view.dir = filepath.Join(cfg.ViewRoot, "root")
	if cfg.ViewRoot != "" {
		// A killed driver's view. The directory stays: containers made from
		// it start their processes there.
		if err := hostroot.Detach(d.view.dir); err != nil {
			log.Warn("detach host root view", "dir", d.view.dir, "err", err)
		}
	}
	d.sweepHostRoots()
	d.sweepWarm()
	return d, nil
}

func (d *Driver) hostRootParent() string { return filepath.Join(d.cfg.Root, "hostroot") }

// viewState is the view of the host root: always in one directory, as a
// container's root must exist as long as the container (libcontainer
// starts its processes there), mounted while starts copy it.
type viewState struct {
	dir     string
	mounted bool
	current bool     // starts may take it (else it goes with its last user)
	users   int      // starts copying it
	foreign []string // the host mounts it shows (hostroot.Foreign)
}

// hostRoot returns the root skeleton of command tasks (package hostroot),
// making a new one when "/" changed since the last was made.
func (d *Driver) hostRoot() (string, error) {
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		return "", fmt.Errorf("stat host root: %w", err)
	}
	d.rootMu.Lock()
	defer d.rootMu.Unlock()
	if d.rootDir != "" && st.Ino == d.rootStat.Ino && st.Mtim == d.rootStat.Mtim && st.Ctim == d.rootStat.Ctim {
		return d.rootDir, nil
	}
	entries, err := hostroot.List()
	if err != nil {
		return "", err
	}
	dir, err := hostroot.Ensure(d.hostRootParent(), entries)
	if err != nil {
		return "", err
	}
	if dir != d.rootDir {
		d.log.Info("command tasks' root skeleton", "dir", dir, "entries", len(entries))
	}
	d.rootDir, d.rootStat, d.rootEntries = dir, st, entries
	d.retireView()
	return dir, nil
}

// hostRootView returns a view of the skeleton dir (hostroot/view.go): the
// host's top-level entries bound already, for a command task's container
// to copy with its root instead of binding them itself, and the function
// to call once the container's init has copied it. A view is mounted only
// while starts copy it (a walk of the work dir, du or a backup, meets the
// host's root only then), made again when the host's mounts a task could
// see changed. ok is false where no view can be had (the kernel, or the
// view it replaces still being copied): the container then binds the
// entries itself.
func (d *Driver) hostRootView(skeleton string) (dir string, ok bool, release func()) {
	if d.cfg.ViewRoot == "" {
		return "", false, nil
	}
	d.rootMu.Lock()
	defer d.rootMu.Unlock()
	if d.noView != nil || skeleton != d.rootDir {
		return "", false, nil
	}
	v := &d.view
	if v.current {
		// The host's mounts a task could see, read at every start (~30 µs
		// for 20 mounts; poll(2)'s change flag on /proc/self/mountinfo
		// missed changes another thread made now and then).
		foreign, err := hostroot.Foreign(d.viewHidden())
		if err != nil || !slices.Equal(foreign, v.foreign) || !hostroot.IsMount(v.dir) {
			d.retireView()
		}
	}
	if !v.current && !v.mounted {
		d.makeView()
	}
	if !v.current {
		return "", false, nil // the replaced view is still being copied
	}
	v.users++
	return v.dir, true, func() {
		d.rootMu.Lock()
		defer d.rootMu.Unlock()
		if v.users--; v.users == 0 {
			v.current = false
			d.detachView()
		}
	}
}

// makeView mounts a view of rootEntries (none is mounted). Where views
// cannot be made it says so once and sets noView. Called with rootMu held.
func (d *Driver) makeView() {
	v := &d.view
	err := hostroot.MountViewRoot(d.cfg.ViewRoot)
	var foreign []string
	if err == nil {
		foreign, err = hostroot.Foreign(d.viewHidden())
	}
	if err == nil {
		err = os.MkdirAll(v.dir, 0o755)
	}
	if err == nil {
		err = hostroot.MountView(v.dir, d.rootEntries)
	}
	if err != nil {
		d.noView = err
		d.log.Warn("command tasks bind the host's root themselves", "err", err)
		return
	}
	v.mounted, v.current, v.foreign = true, true, foreign
}

// retireView makes the view a former one, detached at once if no start
// copies it. Called with rootMu held.
func (d *Driver) retireView() {
	d.view.current = false
	if d.view.users == 0 {
		d.detachView()
	}
}

// detachView detaches the view (its directory stays: containers made from
// it start their processes there). Called with rootMu held.
func (d *Driver) detachView() {
	v := &d.view
	if !v.mounted {
		return
	}
	if err := hostroot.Detach(v.dir); err != nil {
		d.log.Warn("detach host root view", "dir", v.dir, "err", err)
		return
	}
	v.mounted, v.foreign = false, nil
}

// viewHidden are the host paths whose mounts tasks cannot see (the
// driver's root, the agent's work dir, the operator's literal paths): a
// mount there leaves the view as it is.
func (d *Driver) viewHidden() []string {
	hidden := []string{d.cfg.Root, d.cfg.ViewRoot}
	for _, p := range d.cfg.HiddenPaths {
		if filepath.IsAbs(p) && !strings.ContainsAny(p, "*?[") {
			hidden = append(hidden, filepath.Clean(p))
		}
	}
	return hidden
}

// closeViews detaches the view and the view root (the directories stay:
// containers made from a view start their processes there). Starts must
// be over.
func (d *Driver) closeViews() {
	if d.cfg.ViewRoot == "" {
		return
	}
	d.rootMu.Lock()
	defer d.rootMu.Unlock()
	d.view.current = false
	d.detachView()
	d.view.users = 0
	if err := hostroot.Detach(d.cfg.ViewRoot); err != nil {
		d.log.Warn("detach host root views", "dir", d.cfg.ViewRoot, "err", err)
	}
}

// sweepHostRoots removes the root skeletons no container (by its
// request.json) uses any more: left by an earlier host root. One in use
// must stay: its entries are mount points in the container.
func (d *Driver) sweepHostRoots() {
	// Nothing but the skeleton of today's host root (the usual case):
	// nothing to sweep, and no container's request to read.
	skeletons, err := os.ReadDir(d.hostRootParent())
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) { // else none made yet
			d.log.Warn("sweep root skeletons", "err", err)
		}
		return
	}
	current := ""
	if entries, err := hostroot.List(); err == nil {
		current = hostroot.Name(entries)
	}
	if !slices.ContainsFunc(skeletons, func(e os.DirEntry) bool { return e.Name() != current }) {
		return
	}
	ents, err := os.ReadDir(d.runRoot())
	if err != nil {
		d.log.Warn("sweep root skeletons: list containers", "err", err)
		return
	}
	var keep []string
	for _, e := range ents {
		var req shimapi.Request
		if err := shimapi.ReadJSON(filepath.Join(d.runRoot(), e.Name(), shimapi.RequestFile), &req); err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				d.log.Warn("sweep root skeletons: keeping them all", "container_id", e.Name(), "err", err)
				return // cannot tell what it uses
			}
			continue
		}
		if req.HostRootDir != "" {
			keep = append(keep, filepath.Clean(req.HostRootDir))
		}
	}
	removed, err := hostroot.Sweep(d.hostRootParent(), keep)
	if err != nil {
		d.log.Warn("sweep root skeletons", "err", err)
	}
	if len(removed) > 0 {
		d.log.Info("removed unused root skeletons", "dirs", removed)
	}
}

func (d *Driver) stateRoot() string           { return filepath.Join(d.cfg.Root, "runc") }
func (d *Driver) runRoot() string             { return filepath.Join(d.cfg.Root, "containers") }
func (d *Driver) runDir(id string) string     { return filepath.Join(d.runRoot(), id) }
func (d *Driver) cgroupPath(id string) string { return filepath.Join(d.cfg.CgroupParent, id) }

// validID accepts 1-128 of letters, digits, '_', '.' and '-'. (A
// regexp with {1,128} compiled into 128 copies of its class at every
// nodectl start, CLI commands included.)
func validID(s string) bool { return len(s) <= 128 && idChars.MatchString(s) }

var idChars = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// normalize validates s and fills its defaults.
func (d *Driver) normalize(s Spec) (Spec, error) {
	bad := func(format string, a ...any) (Spec, error) {
		return Spec{}, fmt.Errorf("%w: %s", ErrInvalidSpec, fmt.Sprintf(format, a...))
	}
	if !validID(s.ID) || s.ID == "." || s.ID == ".." {
		return bad("id %q: want 1-128 of [A-Za-z0-9_.-]", s.ID)
	}
	if len(s.Args) == 0 || s.Args[0] == "" {
		return bad("args: empty")
	}
	if s.Rootfs != "" && !filepath.IsAbs(s.Rootfs) {
		return bad("rootfs %q: not absolute", s.Rootfs)
	}
	if (s.Image != "" || s.Warm != "") && s.Rootfs == "" {
		return bad("image %q, warm container %q: no rootfs", s.Image, s.Warm)
	}
	if s.SandboxDir == "" || !filepath.IsAbs(s.SandboxDir) {
		return bad("sandbox dir %q: not absolute", s.SandboxDir)
	}
	s.SandboxDir = filepath.Clean(s.SandboxDir)
	if s.SandboxDir == d.cfg.Root || strings.HasPrefix(s.SandboxDir, d.cfg.Root+"/") {
		return bad("sandbox dir %q: inside the driver root", s.SandboxDir)
	}
	if st, err := os.Stat(s.SandboxDir); err != nil || !st.IsDir() {
		return bad("sandbox dir %q: not a directory", s.SandboxDir)
	}
	if s.SandboxTarget == "" {
		s.SandboxTarget = s.SandboxDir
		if s.Rootfs != "" {
			s.SandboxTarget = DefaultSandboxTarget
		}
	}
	if s.Cwd == "" {
		s.Cwd = s.SandboxTarget
	}
	for _, p := range []string{s.SandboxTarget, s.Cwd} {
		if !filepath.IsAbs(p) {
			return bad("path %q: not absolute", p)
		}
	}
	for _, m := range s.Mounts {
		if !filepath.IsAbs(m.Source) || !filepath.IsAbs(m.Destination) {
			return bad("mount %s:%s: paths must be absolute", m.Source, m.Destination)
		}
	}
	if s.Rootfs == "" {
		// A command task's root is the read-only host: mount points must
		// already exist there (as in Mesos), except in its private /tmp.
		for _, m := range s.Mounts {
			if _, err := os.Stat(m.Destination); err != nil && !underTmp(m.Destination) {
				return bad("mount destination %q: must exist on the host for a command task", m.Destination)
			}
		}
	}
	if s.CPUs < 0 || s.MemBytes < 0 || s.PidsLimit < 0 {
		return bad("negative resource limit")
	}
	if s.MemBytes > 0 && s.MemBytes < 4<<20 {
		return bad("memory limit %d: below 4 MiB", s.MemBytes)
	}
	if !slices.ContainsFunc(s.Env, func(e string) bool { return strings.HasPrefix(e, "PATH=") }) {
		s.Env = append(slices.Clip(s.Env), defaultPath)
	}
	return s, nil
}

func underTmp(p string) bool {
	p = filepath.Clean(p)
	return p == "/tmp" || strings.HasPrefix(p, "/tmp/")
}

// Start creates and starts a container and returns once its process runs;
// with Spec.WaitBeforeExec, once the container is created, its process
// waiting for OpenGate (gate.go).
// The container is monitored by its own nodectl-shim process, so it keeps
// running when this process exits; Load finds it again. Stdout and stderr go
// to the files "stdout" and "stderr" in SandboxDir (appended).
//
// If ctx ends before the container runs, the half-started container is
// destroyed and ctx's error returned. With Spec.Warm, Start has the claim
// (ClaimWarm) whatever the outcome: the claimed warm container is taken
// over, or ended before the task's container starts on its root.
func (d *Driver) Start(ctx context.Context, s Spec) (*Container, error) {
	warm := s.Warm
	s, err := d.normalize(s)
	if err != nil {
		d.Unclaim(warm) // Start has the claim, whatever the outcome
		return nil, fmt.Errorf("start container %s: %w", s.ID, err)
	}
	d.spares.mu.Lock()
	d.spares.inflight++
	d.spares.mu.Unlock()
	c, req, err := d.start(ctx, s)
	d.spares.mu.Lock()
	d.spares.inflight--
	d.spares.mu.Unlock()
	if err != nil {
		d.refillSpare(nil) // it may have taken the spare
		return nil, fmt.Errorf("start container %s: %w", s.ID, err)
	}
	d.refillSpare(req) // for the next start

	d.log.Info("container started", "container_id", s.ID, "pid", c.initPid, "monitor_pid", c.monitorPid)
	return c, nil
}

func (d *Driver) start(ctx context.Context, s Spec) (_ *Container, _ *shimapi.Request, err error) {
	dir := d.runDir(s.ID)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, nil, ErrExist
		}
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			if cerr := d.cleanup(s.ID); cerr != nil {
				d.log.Warn("clean up failed start", "container_id", s.ID, "err", cerr)
			}
		}
	}()
	profile, err := d.seccompFor(s)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	var hostRoot string
	if s.Rootfs == "" {
		if hostRoot, err = d.hostRoot(); err != nil {
			return nil, nil, err
		}
	}
	req := shimapi.Request{
		HostRootDir: hostRoot,
		Seccomp:     profile,
		Spec:        s,
		StateRoot:   d.stateRoot(),
		CgroupPath:  d.cgroupPath(s.ID),
		MonitorPath: d.cfg.MonitorPath,
		RunDir:      dir,
		// The cache is the driver's: its Root is hidden from tasks.
		SeccompHelperPath: d.cfg.SeccompHelperPath,
		SeccompCacheDir:   filepath.Join(d.cfg.Root, "seccomp"),
		HiddenPaths:       append([]string{d.cfg.Root}, d.cfg.HiddenPaths...),
	}
	// A spare shim (spare.go) has no gate: a gated start execs its own.
	// Its warm container is for this task if the task fits.
	var sp *spareShim
	defer func() {
		switch {
		case sp != nil && sp.claimed: // its root is this task's
			d.discardSpare(sp)
		case sp != nil: // not handed over: an error came first
			go d.discardSpare(sp)
		}
	}()
	if s.Warm != "" {
		// The root is the claimed warm container's (ClaimWarm): it is
		// taken over, or ended before another container starts on it.
		if sp = d.takeClaimed(s.Warm); sp == nil {
			return nil, nil, fmt.Errorf("%w: warm container %s: not claimed", ErrInvalidSpec, s.Warm)
		}
		if shimapi.WarmCompatible(sp.warm, &req) == nil {
			req.WarmDir = sp.warm.RunDir
			d.endUnready() // out of its way, as in takeSpare
		} else {
			d.discardSpare(sp)
			sp = nil
		}
	} else if !s.WaitBeforeExec {
		if sp = d.takeSpare(&req); sp != nil && sp.warm != nil {
			req.WarmDir = sp.warm.RunDir
		}
	}
	if hostRoot != "" && req.WarmDir == "" {
		// A container of its own: from a view, if there is one.
		if dir, ok, release := d.hostRootView(hostRoot); ok {
			req.HostRootDir, req.HostRootView = dir, true
			defer release() // the container's init has copied it by then
		}
	}
	// No fsync: only the shim we are about to start reads it.
	if err := shimapi.WriteJSONAtomic(filepath.Join(dir, shimapi.RequestFile), &req, false); err != nil {
		return nil, nil, err
	}
	if len(s.SecretEnv) > 0 {
		b, err := json.Marshal(s.SecretEnv)
		if err != nil {
			return nil, nil, err
		}
		if err := shimapi.WriteFileAtomic(filepath.Join(dir, shimapi.SecretEnvFile), b, 0o600, false); err != nil {
			return nil, nil, err
		}
	}

	var gateR, gateW *os.File
	if s.WaitBeforeExec {
		if gateR, gateW, err = os.Pipe(); err != nil {
			return nil, nil, err
		}
		defer func() {
			if err != nil {
				gateW.Close()
			}
		}()
	}
	var (
		pid           int
		pidfd, replyR *os.File
		claimed       bool
	)
	if sp != nil {
		pid, pidfd, replyR, claimed = d.claimSpare(sp, dir)
		sp = nil
	}
	if !claimed {
		pid, pidfd, replyR, err = d.execShim(dir, gateR)
	}
	if gateR != nil {
		gateR.Close() // the shim's now
	}
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil || gateW == nil {
			replyR.Close()
		}
	}()
	c := &Container{d: d, id: s.ID, dir: dir, spec: s, monitorPid: pid, monitor: pidfd}
	defer func() {
		if err != nil {
			// Kill the shim (it destroys nothing half-made if killed, so
			// cleanup does) and reap it.
			_ = unix.PidfdSendSignal(int(pidfd.Fd()), unix.SIGKILL, nil, 0)
			_ = waitFD(context.Background(), pidfd)
			c.reap()
			pidfd.Close()
		}
	}()

	stop := context.AfterFunc(ctx, func() { _ = replyR.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var reply shimapi.Reply
	dec := json.NewDecoder(replyR)
	rerr := dec.Decode(&reply)
	if ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	if rerr != nil || (reply.Error == "" && reply.InitPid == 0) {
		return nil, nil, fmt.Errorf("shim exited without a reply (%v): %s", rerr, d.shimLogTail(dir))
	}
	if reply.Error != "" {
		return nil, nil, errors.New(reply.Error)
	}
	c.initPid = reply.InitPid
	if gateW != nil {
		c.gate = &gate{w: gateW, r: replyR, dec: dec}
	}
	// The request as a warm container for the next start would be made
	// (refillSpare): from the skeleton, never the view.
	req.HostRootDir, req.HostRootView = hostRoot, false
	return c, &req, nil
}

// execShim starts `nodectl-shim run <dir>` in a new session, with the write
// end of a pipe as fd 3 for its Reply and, if not nil, gate as fd 4
// (shimapi.GateFD).
func (d *Driver) execShim(dir string, gate *os.File) (pid int, pidfd *os.File, reply *os.File, err error) {
	log, err := os.OpenFile(filepath.Join(dir, shimapi.ShimLogFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("open shim log: %w", err)
	}
	defer log.Close()
	var extra []*os.File
	if gate != nil {
		extra = append(extra, gate)
	}
	return d.forkShim([]string{ShimName, "run", dir}, log, extra)
}

// forkShim starts the shim with args in a new session: stdin /dev/null,
// stdout and stderr out, the write end of a new pipe as fd 3 (ReplyFD),
// then extra as fds 4, 5, ... (a nil one closed). It returns the shim's
// pid, a pidfd and the reply pipe's read end.
func (d *Driver) forkShim(args []string, out *os.File, extra []*os.File) (pid int, pidfd *os.File, reply *os.File, err error) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		return 0, nil, nil, err
	}
	defer null.Close()
	if out == nil {
		out = null
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, nil, nil, err
	}
	defer w.Close()

	env := []string{defaultPath}
	if v, ok := os.LookupEnv("GOMAXPROCS"); ok {
		env = append(env, "GOMAXPROCS="+v)
	}
	attr := &syscall.ProcAttr{
		Dir:   "/",
		Env:   env,
		Files: []uintptr{null.Fd(), out.Fd(), out.Fd(), w.Fd()},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	}
	for _, f := range extra {
		fd := ^uintptr(0) // closed in the child
		if f != nil {
			fd = f.Fd()
		}
		attr.Files = append(attr.Files, fd)
	}
	pid, err = syscall.ForkExec(d.cfg.ShimPath, args, attr)
	if err != nil {
		r.Close()
		return 0, nil, nil, fmt.Errorf("exec shim: %w", err)
	}
	d.mu.Lock()
	d.children[pid] = true
	d.mu.Unlock()
	// We are its parent and have not reaped it, so pid cannot be reused yet.
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		_ = unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, 0, nil)
		d.mu.Lock()
		delete(d.children, pid)
		d.mu.Unlock()
		r.Close()
		return 0, nil, nil, fmt.Errorf("pidfd_open shim: %w", err)
	}
	return pid, os.NewFile(uintptr(fd), "pidfd"), r, nil
}

// shimLogTail returns the end of the shim's log for error messages.
func (d *Driver) shimLogTail(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, shimapi.ShimLogFile))
	b = bytes.TrimSpace(b)
	if len(b) > 2048 {
		b = b[len(b)-2048:]
	}
	if len(b) == 0 {
		return "(no shim output)"
	}
	return string(b)
}

// cleanup removes what a failed Start or a Destroy leaves: libcontainer's
// state and cgroups, and the run directory.
func (d *Driver) cleanup(id string) error {
	errs := []error{d.destroyLibcontainer(id)}
	// A container made warm has its warm dir here, with the slot its
	// sandbox is bound under: unmounted before anything is removed.
	if err := warmdir.Release(filepath.Join(d.runDir(id), "warm")); err != nil {
		return errors.Join(append(errs, err)...)
	}
	if err := os.RemoveAll(d.runDir(id)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// destroyLibcontainer destroys libcontainer's container id (killing what
// runs in it) or, without its state, the cgroups of that id.
func (d *Driver) destroyLibcontainer(id string) error {
	var errs []error
	if lc, err := loadLibcontainer(d.stateRoot(), id); err == nil {
		// A start cancelled after the init began leaves it running with
		// its shim killed: kill it, or libcontainer refuses to destroy.
		if st, err := lc.Status(); err == nil && st == libcontainer.Running {
			_ = lc.Signal(unix.SIGKILL)
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				if st, err := lc.Status(); err != nil || st == libcontainer.Stopped {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		if err := lc.Destroy(); err != nil {
			errs = append(errs, err)
		}
	} else if errors.Is(err, ErrNotFound) {
		// Killed before libcontainer saved its state, the shim may have
		// left the cgroups (and a stage of runc init) behind.
		if err := destroyCgroup(d.cgroupPath(id)); err != nil {
			errs = append(errs, err)
		}
	} else {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// destroyCgroup kills whatever runs in the cgroup path and removes it from
// every hierarchy. A missing cgroup is fine.
func destroyCgroup(path string) error {
	m, err := manager.New(&cgroups.Cgroup{Path: path, Resources: &cgroups.Resources{}})
	if err != nil {
		return fmt.Errorf("destroy cgroup %s: %w", path, err)
	}
	if pids, err := m.GetAllPids(); err == nil {
		for _, pid := range pids {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
	if err := m.Destroy(); err != nil {
		return fmt.Errorf("destroy cgroup %s: %w", path, err)
	}
	return nil
}

// Load returns a handle on an existing container, for instance one started
// before an agent restart. It verifies that the recorded monitor is still the
// same process (pid, start time and boot id) before trusting it.
func (d *Driver) Load(id string) (*Container, error) {
	if !validID(id) {
		return nil, fmt.Errorf("load container %s: %w", id, ErrNotFound)
	}
	dir := d.runDir(id)
	var req shimapi.Request
	if err := shimapi.ReadJSON(filepath.Join(dir, shimapi.RequestFile), &req); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("load container %s: %w", id, ErrNotFound)
		}
		return nil, fmt.Errorf("load container %s: %w", id, err)
	}
	c := &Container{d: d, id: id, dir: dir, spec: req.Spec}
	var m shimapi.Monitor
	switch err := shimapi.ReadJSON(filepath.Join(dir, shimapi.MonitorFile), &m); {
	case err == nil:
		c.initPid = m.InitPid
		c.monitorPid = m.Pid
		c.monitor = openMonitor(m)
	case errors.Is(err, os.ErrNotExist):
		// Start never finished: no monitor was ever recorded.
	default:
		return nil, fmt.Errorf("load container %s: %w", id, err)
	}
	return c, nil
}

// openMonitor returns a pidfd for the recorded monitor if that process still
// exists, or nil. A pid alone could have been reused: the process start time
// and the boot id must match too. Once the pidfd is open it refers to that
// process even if the pid is later reused.
func openMonitor(m shimapi.Monitor) *os.File {
	if m.Pid <= 0 {
		return nil
	}
	if boot, err := shimapi.BootID(); err != nil || boot != m.BootID {
		return nil
	}
	fd, err := unix.PidfdOpen(m.Pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return nil
	}
	if st, err := shimapi.ProcStartTime(m.Pid); err != nil || st != m.StartTime {
		unix.Close(fd)
		return nil
	}
	return os.NewFile(uintptr(fd), "pidfd")
}

// List returns the ids of all containers under the driver's root, running or
// not, in lexical order.
func (d *Driver) List() ([]string, error) {
	ents, err := os.ReadDir(d.runRoot())
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() && validID(e.Name()) {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}
