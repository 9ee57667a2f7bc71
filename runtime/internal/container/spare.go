package container

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"nodectl/runtime/internal/container/internal/shimapi"
	"nodectl/runtime/internal/container/internal/warmdir"
)

// A container start used to begin with the exec of the shim and its Go
// start-up: ~3 ms of a ~25 ms command-task start on the 2-core dev box
// (docs/performance.md, "Where a task start's time goes"). The driver
// keeps one shim started ahead, a spare, waiting on shimapi.ClaimFD for
// the run directory of the next container; once claimed it is a shim like
// any other (`nodectl-shim run`), with the same session, reply pipe and
// monitor. A start that needs the gate (Spec.WaitBeforeExec) execs its own
// shim. The spare holds nothing of a task before its claim, and ends by
// itself when the driver's process does (end of file on its claim pipe).

//
// With Config.WarmContainers the spare also makes a container ahead of its
// task (a warm container, see the shim's warm.go), from the request of a
// recent command task with its root, user and seccomp profile: the next
// such task takes it over and skips libcontainer's create and start. Up to
// maxWarm of them wait, one per kind of task seen last (a framework's
// command and image tasks as root and `nodectl execute`'s as nobody,
// taking turns, all find theirs).
//
// With Config.WarmRootfs image tasks get warm containers too, made on a
// root of their own of the last image task's image (Spec.Image). The
// image task that takes one over takes its root first (ClaimWarm), before
// its container is started: the agent moves the root to the task's
// container directory and names the warm container in the task's Spec
// (Spec.Warm); the warm container's slot is bound where the sandbox goes
// (/mnt/mesos/sandbox), and the task's sandbox is bound onto it.

// warmDelay is how long the spares wait after a start before they make
// warm containers. A framework that launches its tasks one after another,
// the next once the last runs, launches the next within a few
// milliseconds; a warm container being made meanwhile would compete with
// its start for the CPU and the kernel's mount and cgroup locks (and be
// ended, takeSpare, to be made again). make bench's task start rows (a
// command task, an image task right after it, then `nodectl execute`):
// `execute` 1.42–1.56× `runc run -d` without the wait, 1.30–1.50× with it.
const warmDelay = 10 * time.Millisecond

// maxWarm is how many warm containers wait at most (each a spare shim of
// ~3.9 MB and a stub of ~2.3 MB resident): three kinds of task taking
// turns (a framework's command and image tasks, `nodectl execute`'s as
// nobody) all find theirs.
const maxWarm = 3

// WarmRootfs makes and releases the roots of warm containers of image
// tasks (the agent's image store, Config.WarmRootfs).
type WarmRootfs interface {
	// Prepare gives warm container id a root of its own made of image
	// (a Spec.Image), as for a task's container, and returns its path.
	Prepare(image, id string) (string, error)
	// Release undoes Prepare once the warm container is gone.
	Release(id string)
}

// spareShim is a shim started ahead of its container.
type spareShim struct {
	pid   int
	pidfd *os.File
	reply *os.File // read end of its reply pipe
	claim *os.File // write end of its claim pipe
	// warm is the request of its warm container (in warm.RunDir), nil
	// for a spare without one.
	warm *shimapi.Request
	// claimed: its warm container's root is an image task's (ClaimWarm),
	// not the driver's to release.
	claimed bool
}

// spares holds the spare shims: one plain one, or a warm one per model.
type spares struct {
	mu       sync.Mutex
	pool     []*spareShim
	starting bool
	closed   bool
	// inflight counts the starts under way (Start).
	inflight int
	// models are the requests of the last command tasks of different
	// kinds (no warm container of one fits the other) that a warm
	// container could have been made for, the most recent first, at most
	// maxWarm: the warm containers wanted.
	models []*shimapi.Request
	// claimed are the spares whose warm container an image task claimed
	// (ClaimWarm), by warm container id, until it starts (Start) or lets
	// go (Unclaim).
	claimed map[string]*spareShim
	// forks are the spares being started (refillSpare), which Close
	// waits for.
	forks sync.WaitGroup
	// lastStart is when the last start ended; warmLater is set while a
	// refill waits for warmDelay to have passed since.
	lastStart time.Time
	warmLater bool
}

// ClaimWarm takes a warm container made of image (a Spec.Image) for an
// image task, if one is ready, and returns its id and root: the root is
// the caller's from now on, to move to the task's container directory
// (the warm container runs on: its root is its own mount) and to start the
// task's container on, with Spec.Warm naming id. Start then takes the warm
// container over, or destroys it first if the task does not fit it. A claim
// that does not reach Start must be given back to Unclaim.
func (d *Driver) ClaimWarm(image string) (id, rootfs string, ok bool) {
	if image == "" {
		return "", "", false
	}
	d.spares.mu.Lock()
	defer d.spares.mu.Unlock()
	for i, sp := range d.spares.pool {
		if sp.warm != nil && sp.warm.Spec.Image == image && sp.warm.Spec.Rootfs != "" && warmReady(sp) {
			d.spares.pool = slices.Delete(d.spares.pool, i, i+1)
			sp.claimed = true
			if d.spares.claimed == nil {
				d.spares.claimed = map[string]*spareShim{}
			}
			d.spares.claimed[sp.warm.Spec.ID] = sp
			return sp.warm.Spec.ID, sp.warm.Spec.Rootfs, true
		}
	}
	return "", "", false
}

// DropWarm ends the warm containers of image tasks made of image (every
// image with "") and waits for them (one being made ends once made):
// their roots are released, and with them their image leases (image
// garbage collection). The next image task makes them again.
func (d *Driver) DropWarm(image string) {
	d.spares.mu.Lock()
	var drop []*spareShim
	d.spares.pool = slices.DeleteFunc(d.spares.pool, func(sp *spareShim) bool {
		if sp.warm == nil || sp.warm.Spec.Image == "" || (image != "" && sp.warm.Spec.Image != image) {
			return false
		}
		drop = append(drop, sp)
		return true
	})
	d.spares.models = slices.DeleteFunc(d.spares.models, func(m *shimapi.Request) bool {
		return m.Spec.Image != "" && (image == "" || m.Spec.Image == image)
	})
	d.spares.mu.Unlock()
	for _, sp := range drop {
		d.discardSpare(sp)
	}
}

// Unclaim ends the warm container a claim (ClaimWarm) took that is not
// started, and returns once it is gone: its root, the caller's, is then
// no container's.
func (d *Driver) Unclaim(id string) {
	if sp := d.takeClaimed(id); sp != nil {
		d.discardSpare(sp)
	}
}

func (d *Driver) takeClaimed(id string) *spareShim {
	d.spares.mu.Lock()
	defer d.spares.mu.Unlock()
	sp := d.spares.claimed[id]
	delete(d.spares.claimed, id)
	return sp
}

// kindFits reports whether the warm container made from warm would fit
// req but for req's root: an image task's comes from the warm container
// it takes over (ClaimWarm), which a model task's cannot.
func kindFits(warm, req *shimapi.Request) bool {
	if warm.Spec.Image != "" {
		r := *req
		r.Spec.Warm = warm.Spec.ID
		req = &r
	}
	return shimapi.WarmCompatible(warm, req) == nil
}

// takeSpare returns the spare shim for the container of req, if there is
// one, for claimSpare: a warm one req fits, else a plain one. Warm ones
// req does not fit are left for the next starts (req's gets a shim of its
// own).
//
// A warm container still being made that req does not fit is ended: its
// making (namespaces, mounts, cgroups, two Go start-ups) competes with
// req's container for the CPU and the kernel's mount and cgroup locks. On
// a 2-core PVM guest an image task started right after a command task took
// 227–302 ms from STAGING to RUNNING beside it, 134–154 ms with it ended
// (docs/performance.md). The next refill makes it again once nothing is
// starting.
func (d *Driver) takeSpare(req *shimapi.Request) *spareShim {
	d.spares.mu.Lock()
	defer d.spares.mu.Unlock()
	pool := d.spares.pool
	for _, warm := range []bool{true, false} {
		for i, sp := range pool {
			if (sp.warm != nil) == warm && (!warm || shimapi.WarmCompatible(sp.warm, req) == nil) {
				d.spares.pool = append(pool[:i:i], pool[i+1:]...)
				return sp
			}
		}
	}
	d.endUnreadyLocked()
	return nil
}

// endUnready ends the warm containers still being made (takeSpare): for a
// start that has its own (ClaimWarm).
func (d *Driver) endUnready() {
	d.spares.mu.Lock()
	defer d.spares.mu.Unlock()
	d.endUnreadyLocked()
}

func (d *Driver) endUnreadyLocked() {
	d.spares.pool = slices.DeleteFunc(d.spares.pool, func(sp *spareShim) bool {
		if sp.warm == nil || warmReady(sp) {
			return false
		}
		_ = unix.PidfdSendSignal(int(sp.pidfd.Fd()), unix.SIGKILL, nil, 0)
		go d.discardSpare(sp)
		return true
	})
}

// warmReady reports whether sp's warm container is made.
func warmReady(sp *spareShim) bool {
	_, err := os.Stat(filepath.Join(sp.warm.RunDir, shimapi.WarmReadyFile))
	return err == nil
}

// claimSpare hands dir to the spare shim sp and returns it as execShim
// would have. ok is false when it is gone.
func (d *Driver) claimSpare(sp *spareShim, dir string) (pid int, pidfd, reply *os.File, ok bool) {
	// One write of less than PIPE_BUF: whole or not at all. A spare that
	// died makes it fail (EPIPE).
	_, werr := sp.claim.WriteString(dir + "\n")
	cerr := sp.claim.Close()
	if werr != nil || cerr != nil {
		d.discardSpare(sp)
		return 0, nil, nil, false
	}
	return sp.pid, sp.pidfd, sp.reply, true
}

// modelFits reports whether a warm container made for model would fit req.
func (d *Driver) modelFits(model, req *shimapi.Request) bool {
	w := d.warmRequest(model)
	return w != nil && kindFits(w, req)
}

// refillSpare starts a new spare shim in the background when one is
// missing. last is the request of the container just started (nil after a
// failed start): a command task a warm container could be made for becomes
// the first model, and the least recent of another kind beyond maxWarm
// goes (an image task between two command tasks changes nothing).
//
// A warm container costs more CPU than the container it saves (its stub is
// one more process start, its takeover one more step): worth it for the
// next start after a quiet spell, not amid a burst of starts, where every
// start would go through one. So while other starts are in flight only a
// plain spare is made, when there is no spare at all, and the last start
// of a burst brings the warm ones back: one per model, the plain spare
// making way for them, warm ones no model wants discarded. One spare
// starts at a time; each started one refills again. Warm ones wait for
// warmDelay after the last start.
func (d *Driver) refillSpare(last *shimapi.Request) {
	d.spares.mu.Lock()
	if last != nil {
		d.spares.lastStart = time.Now()
	}
	// Warm containers are made once no start has ended for warmDelay.
	wait := warmDelay - time.Since(d.spares.lastStart)
	if wait > 0 && !d.spares.warmLater && !d.spares.closed {
		d.spares.warmLater = true
		time.AfterFunc(wait, func() {
			d.spares.mu.Lock()
			d.spares.warmLater = false
			d.spares.mu.Unlock()
			d.refillSpare(nil)
		})
	}
	if last != nil && d.warmRequest(last) != nil {
		models := []*shimapi.Request{last}
		for _, m := range d.spares.models {
			if len(models) < maxWarm && !d.modelFits(m, last) {
				models = append(models, m)
			}
		}
		d.spares.models = models
	}
	var warm *shimapi.Request
	var drop []*spareShim
	if d.spares.inflight == 0 && wait <= 0 && len(d.spares.models) > 0 {
		covered := make([]bool, len(d.spares.models))
		var keep []*spareShim
		for _, sp := range d.spares.pool {
			fit := -1 // a plain spare fits no model
			for i, m := range d.spares.models {
				if sp.warm != nil && !covered[i] && kindFits(sp.warm, m) {
					fit = i
					break
				}
			}
			if fit < 0 {
				drop = append(drop, sp)
				continue
			}
			covered[fit] = true
			keep = append(keep, sp)
		}
		for i, m := range d.spares.models {
			if !covered[i] {
				warm = d.warmRequest(m)
				break
			}
		}
		if warm == nil || !d.spares.starting {
			d.spares.pool = keep // a plain spare goes only once a warm one starts
		} else {
			drop = nil
		}
	}
	start := !d.spares.starting && !d.spares.closed && (warm != nil || len(d.spares.pool) == 0)
	if start {
		d.spares.starting = true
		d.spares.forks.Add(1)
	}
	d.spares.mu.Unlock()
	for _, sp := range drop {
		go d.discardSpare(sp)
	}
	if !start {
		return
	}
	go func() {
		defer d.spares.forks.Done()
		sp, err := d.forkSpare(warm)
		d.spares.mu.Lock()
		d.spares.starting = false
		if err == nil && !d.spares.closed && len(d.spares.pool) < maxWarm && d.wantedLocked(sp) {
			d.spares.pool, sp = append(d.spares.pool, sp), nil
		}
		d.spares.mu.Unlock()
		if err != nil {
			d.log.Warn("start a spare shim; containers start with their own", "err", err)
			return
		}
		if sp != nil {
			// Not kept (the pool filled, or its model went meanwhile):
			// refill all the same, or a model that came meanwhile would
			// wait for the next start.
			d.discardSpare(sp)
		}
		d.refillSpare(nil) // the next model's, if one is missing
	}()
}

// wantedLocked reports whether sp is still wanted: a plain spare, or a
// warm one some model fits (DropWarm may have dropped its model while it
// started).
func (d *Driver) wantedLocked(sp *spareShim) bool {
	if sp.warm == nil {
		return true
	}
	for _, m := range d.spares.models {
		if kindFits(sp.warm, m) {
			return true
		}
	}
	return false
}

// forkSpare starts `nodectl-shim spare <root> [<warm dir>]`: no gate
// (GateFD closed), the read end of its claim pipe as ClaimFD. With warm,
// it first writes warm to its warm dir (warm.RunDir).
func (d *Driver) forkSpare(warm *shimapi.Request) (_ *spareShim, err error) {
	args := []string{ShimName, "spare", d.cfg.Root}
	if warm != nil {
		if warm.Spec.Image != "" {
			if warm.Spec.Rootfs, err = d.cfg.WarmRootfs.Prepare(warm.Spec.Image, warm.Spec.ID); err != nil {
				return nil, fmt.Errorf("root of a warm container: %w", err)
			}
			defer func() {
				if err != nil {
					d.cfg.WarmRootfs.Release(warm.Spec.ID)
				}
			}()
		}
		if err := os.MkdirAll(warm.RunDir, 0o700); err != nil {
			return nil, err
		}
		if err := shimapi.WriteJSONAtomic(filepath.Join(warm.RunDir, shimapi.RequestFile), warm, false); err != nil {
			_ = os.RemoveAll(warm.RunDir)
			return nil, err
		}
		args = append(args, warm.RunDir)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	extra := make([]*os.File, shimapi.ClaimFD-shimapi.ReplyFD) // fds 4 .. ClaimFD
	extra[len(extra)-1] = r
	pid, pidfd, reply, err := d.forkShim(args, nil, extra)
	if err != nil {
		w.Close()
		if warm != nil {
			_ = os.RemoveAll(warm.RunDir)
		}
		return nil, err
	}
	return &spareShim{pid: pid, pidfd: pidfd, reply: reply, claim: w, warm: warm}, nil
}

// discardSpare ends a spare shim that was not claimed and reaps it: end of
// file on its claim pipe ends it (destroying its warm container); a kill
// after a minute.
func (d *Driver) discardSpare(sp *spareShim) {
	sp.claim.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := waitFD(ctx, sp.pidfd); err != nil {
		_ = unix.PidfdSendSignal(int(sp.pidfd.Fd()), unix.SIGKILL, nil, 0)
		_ = waitFD(context.Background(), sp.pidfd)
	}
	d.reap(sp.pid)
	sp.pidfd.Close()
	sp.reply.Close()
	if sp.warm != nil { // what it left if it was killed before it could clean up
		if err := d.destroyLibcontainer(sp.warm.Spec.ID); err != nil {
			d.log.Warn("destroy a discarded spare's warm container", "dir", sp.warm.RunDir, "err", err)
			return
		}
		_ = warmdir.Release(sp.warm.RunDir)
		if sp.warm.Spec.Image != "" && !sp.claimed {
			d.cfg.WarmRootfs.Release(sp.warm.Spec.ID)
		}
	}
}

// Close ends the driver's spare shim and its warm container, waiting for
// them. Containers keep running. Starts after Close make no spare.
func (d *Driver) Close() {
	d.spares.mu.Lock()
	d.spares.closed = true
	pool := d.spares.pool
	d.spares.pool = nil
	for _, sp := range d.spares.claimed { // a start under way, which fails
		pool = append(pool, sp)
	}
	clear(d.spares.claimed)
	d.spares.mu.Unlock()
	for _, sp := range pool {
		d.discardSpare(sp)
	}
	d.spares.forks.Wait() // a spare that started meanwhile is discarded
	d.closeViews()
}

func (d *Driver) warmRoot() string { return filepath.Join(d.cfg.Root, "warm") }

// warmRequest is the request of a warm container like last's, or nil when
// warm containers are off or last's container cannot be made ahead (one
// with mounts, a gate or namespaces of its own; an image task without
// Config.WarmRootfs or Spec.Image): a command task's root or a root of the
// same image, hidden paths, seccomp profile, user and hostname, no
// resources yet; the shim fills in its process. An image task's root is
// made when its spare starts (forkSpare).
func (d *Driver) warmRequest(last *shimapi.Request) *shimapi.Request {
	if !d.cfg.WarmContainers || last == nil {
		return nil
	}
	if last.Spec.Rootfs != "" && (d.cfg.WarmRootfs == nil || last.Spec.Image == "") {
		return nil
	}
	w := *last
	w.Spec = shimapi.Spec{
		ID: "warm-" + rand.Text()[:16], SandboxDir: last.Spec.SandboxDir, SandboxTarget: last.Spec.SandboxTarget,
		Hostname: last.Spec.Hostname, UID: last.Spec.UID, GID: last.Spec.GID, Groups: last.Spec.Groups,
		PidsLimit: last.Spec.PidsLimit, Image: last.Spec.Image,
	}
	w.RunDir = filepath.Join(d.warmRoot(), w.Spec.ID)
	w.Slot = filepath.Join(w.RunDir, "slot")
	w.CgroupPath = d.cgroupPath(w.Spec.ID)
	w.WarmDir = ""
	if !kindFits(&w, last) {
		return nil
	}
	return &w
}

// sweepWarm removes the warm containers no spare shim holds (their lock is
// free): left by a shim killed before it could clean up.
func (d *Driver) sweepWarm() {
	ents, err := os.ReadDir(d.warmRoot())
	if err != nil {
		return // none made yet
	}
	for _, e := range ents {
		dir := filepath.Join(d.warmRoot(), e.Name())
		if f, err := os.Open(filepath.Join(dir, "lock")); err == nil {
			held := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil
			f.Close()
			if held {
				continue // its shim is alive and cleans up itself
			}
		}
		if validID(e.Name()) {
			if err := d.destroyLibcontainer(e.Name()); err != nil {
				d.log.Warn("sweep warm container", "dir", dir, "err", err)
				continue
			}
		}
		var req shimapi.Request
		_ = shimapi.ReadJSON(filepath.Join(dir, shimapi.RequestFile), &req)
		if err := warmdir.Release(dir); err != nil {
			d.log.Warn("sweep warm container", "dir", dir, "err", err)
			continue
		}
		if req.Spec.Image != "" && req.Spec.ID == e.Name() && d.cfg.WarmRootfs != nil {
			d.cfg.WarmRootfs.Release(req.Spec.ID)
		}
	}
}
