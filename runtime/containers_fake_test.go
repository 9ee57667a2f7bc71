package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"time"

	"nodectl/runtime/internal/container"
)

// fakeDriver is an in-memory containers: a container "runs" until the test
// ends it (exit) or the agent kills it, with the driver's kill semantics
// (SIGTERM, then SIGKILL after the grace period, on the clock, so
// testing/synctest's fake time drives it).
type fakeDriver struct {
	mu      sync.Mutex
	ctrs    map[string]*fakeContainer
	nextPid int
	// startErr, when set, fails every Start.
	startErr error
	// startGate, when set, holds every Start until it is closed or the
	// start's context ends (a container that is slow to come up).
	startGate chan struct{}
	// ignoreTERM makes new containers survive SIGTERM (only SIGKILL ends
	// them).
	ignoreTERM bool
	starts     int // Start calls
}

func newFakeDriver() *fakeDriver {
	return &fakeDriver{ctrs: map[string]*fakeContainer{}, nextPid: 1000}
}

// fakeContainer is one container of a fakeDriver.
type fakeContainer struct {
	d    *fakeDriver
	id   string
	spec container.Spec
	pid  int

	mu         sync.Mutex
	done       chan struct{} // closed at the exit (or loss)
	exit       container.Exit
	lost       bool
	destroyed  bool
	ignoreTERM bool
	signals    []syscall.Signal // as delivered
	graces     []time.Duration  // of each Kill
}

func (d *fakeDriver) Start(ctx context.Context, s container.Spec) (taskContainer, error) {
	d.mu.Lock()
	d.starts++
	err, gate := d.startErr, d.startGate
	d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err() // the real driver destroys what it half made
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return d.add(s.ID, s), nil
}

// add makes a running container (a test's way to leave one from "before
// the restart").
func (d *fakeDriver) add(id string, s container.Spec) *fakeContainer {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nextPid++
	c := &fakeContainer{d: d, id: id, spec: s, pid: d.nextPid, done: make(chan struct{}), ignoreTERM: d.ignoreTERM}
	d.ctrs[id] = c
	return c
}

func (d *fakeDriver) Load(id string) (taskContainer, error) {
	if c := d.get(id); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("load container %s: %w", id, container.ErrNotFound)
}

func (d *fakeDriver) List() ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var ids []string
	for id := range d.ctrs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// ids is List without the error.
func (d *fakeDriver) ids() []string {
	ids, _ := d.List()
	return ids
}

// get is the container with id, nil if none (or destroyed).
func (d *fakeDriver) get(id string) *fakeContainer {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ctrs[id]
}

// only is the driver's single container, nil unless there is exactly one.
func (d *fakeDriver) only() *fakeContainer {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.ctrs) != 1 {
		return nil
	}
	for _, c := range d.ctrs {
		return c
	}
	return nil
}

func (c *fakeContainer) ID() string           { return c.id }
func (c *fakeContainer) Pid() int             { return c.pid }
func (c *fakeContainer) Spec() container.Spec { return c.spec }

func (c *fakeContainer) Status() (container.Status, error) {
	select {
	case <-c.done:
	default:
		return container.Running, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost {
		return container.Lost, nil
	}
	return container.Exited, nil
}

// exitWith ends the container's init with code (a signal when sig != 0).
func (c *fakeContainer) exitWith(code int, sig syscall.Signal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.done:
		return
	default:
	}
	c.exit = container.Exit{Code: code, Signal: int(sig), FinishedAt: time.Now()}
	if sig != 0 {
		c.exit.Code = 128 + int(sig)
	}
	close(c.done)
}

// loseMonitor ends the container without an exit record (the monitor was
// killed).
func (c *fakeContainer) loseMonitor() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lost = true
	close(c.done)
}

func (c *fakeContainer) Wait(ctx context.Context) (container.Exit, error) {
	select {
	case <-c.done:
	case <-ctx.Done():
		return container.Exit{}, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost {
		return container.Exit{}, fmt.Errorf("wait for container %s: %w", c.id, container.ErrLost)
	}
	return c.exit, nil
}

func (c *fakeContainer) signal(sig syscall.Signal) {
	c.mu.Lock()
	c.signals = append(c.signals, sig)
	ignore := sig == syscall.SIGTERM && c.ignoreTERM
	c.mu.Unlock()
	if !ignore {
		c.exitWith(0, sig)
	}
}

// Kill is the real driver's: SIGTERM, SIGKILL once grace has passed
// without an exit, then wait for the exit.
func (c *fakeContainer) Kill(ctx context.Context, grace time.Duration) error {
	c.mu.Lock()
	c.graces = append(c.graces, grace)
	c.mu.Unlock()
	if st, _ := c.Status(); st != container.Running {
		return nil
	}
	if grace > 0 {
		c.signal(syscall.SIGTERM)
		tm := time.NewTimer(grace)
		defer tm.Stop()
		select {
		case <-c.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-tm.C:
		}
	}
	c.signal(syscall.SIGKILL)
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *fakeContainer) Destroy(ctx context.Context) error {
	if err := c.Kill(ctx, 0); err != nil {
		return err
	}
	c.mu.Lock()
	c.destroyed = true
	c.mu.Unlock()
	c.d.mu.Lock()
	if c.d.ctrs[c.id] == c {
		delete(c.d.ctrs, c.id)
	}
	c.d.mu.Unlock()
	return nil
}

// OpenGate: the fake runs no network, so no container of it waits at a
// gate.
func (c *fakeContainer) OpenGate(context.Context) error { return nil }

func (c *fakeContainer) Stats() (container.Stats, error) {
	return container.Stats{Timestamp: float64(time.Now().Unix()), Processes: 1, MemRSSBytes: 1 << 20}, nil
}

func (c *fakeContainer) Exec(ctx context.Context, s container.ExecSpec) (container.Exit, []byte, error) {
	if st, _ := c.Status(); st != container.Running {
		return container.Exit{}, nil, container.ErrNotRunning
	}
	return container.Exit{}, nil, nil
}

func (c *fakeContainer) StartSession(ctx context.Context, s container.SessionSpec) (execSession, error) {
	return nil, errors.New("fake containers have no sessions")
}

// killedWith is the signals the container got and the grace of each Kill.
func (c *fakeContainer) killedWith() ([]syscall.Signal, []time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.signals), slices.Clone(c.graces)
}

func (c *fakeContainer) isDestroyed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.destroyed
}
