package container

import (
	"context"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"nodectl/runtime/internal/container/internal/shimapi"
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

// spareShim is a shim started ahead of its container.
type spareShim struct {
	pid   int
	pidfd *os.File
	reply *os.File // read end of its reply pipe
	claim *os.File // write end of its claim pipe
}

// spares holds at most one spare shim.
type spares struct {
	mu       sync.Mutex
	ready    *spareShim
	starting bool
}

// claimSpare hands dir to the spare shim, if there is one alive, and
// returns it as execShim would have. ok is false when there was none.
func (d *Driver) claimSpare(dir string) (pid int, pidfd, reply *os.File, ok bool) {
	d.spares.mu.Lock()
	sp := d.spares.ready
	d.spares.ready = nil
	d.spares.mu.Unlock()
	if sp == nil {
		return 0, nil, nil, false
	}
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

// refillSpare starts a new spare shim in the background unless one is
// ready or starting.
func (d *Driver) refillSpare() {
	d.spares.mu.Lock()
	if d.spares.ready != nil || d.spares.starting {
		d.spares.mu.Unlock()
		return
	}
	d.spares.starting = true
	d.spares.mu.Unlock()
	go func() {
		sp, err := d.forkSpare()
		d.spares.mu.Lock()
		d.spares.starting = false
		if err == nil && d.spares.ready == nil {
			d.spares.ready, sp = sp, nil
		}
		d.spares.mu.Unlock()
		if err != nil {
			d.log.Warn("start a spare shim; containers start with their own", "err", err)
		}
		if sp != nil {
			d.discardSpare(sp)
		}
	}()
}

// forkSpare starts `nodectl-shim spare <root>`: no gate (GateFD closed),
// the read end of its claim pipe as ClaimFD.
func (d *Driver) forkSpare() (*spareShim, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	extra := make([]*os.File, shimapi.ClaimFD-shimapi.ReplyFD) // fds 4 .. ClaimFD
	extra[len(extra)-1] = r
	pid, pidfd, reply, err := d.forkShim([]string{ShimName, "spare", d.cfg.Root}, nil, extra)
	if err != nil {
		w.Close()
		return nil, err
	}
	return &spareShim{pid: pid, pidfd: pidfd, reply: reply, claim: w}, nil
}

// discardSpare kills a spare shim that was not claimed and reaps it.
func (d *Driver) discardSpare(sp *spareShim) {
	sp.claim.Close()
	_ = unix.PidfdSendSignal(int(sp.pidfd.Fd()), unix.SIGKILL, nil, 0)
	_ = waitFD(context.Background(), sp.pidfd)
	d.reap(sp.pid)
	sp.pidfd.Close()
	sp.reply.Close()
}
