package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"nodectl/runtime/internal/container/internal/shimapi"
)

// A container started with Spec.WaitBeforeExec is created by its shim —
// namespaces, mounts, cgroups, the init waiting on libcontainer's exec
// fifo — and then waits at a gate, a pipe whose write end the Container
// holds (shimapi.GateFD), before its process runs: runc's create and
// start, with the agent's work in between (CNI ADD on the network
// namespace the container has joined already). OpenGate lets the process
// run. Closing the gate instead (Kill, Destroy, Close, or this process
// dying) makes the shim destroy the created container and exit, so a
// container never runs without its go, and a gated container whose agent
// died leaves no process: only its run directory, which the agent's
// recovery finds without a monitor (Lost) and destroys.

// gate is a gated container's side of the gate: the pipe's write end and
// the reply pipe, on which the shim's second Reply comes.
type gate struct {
	w   *os.File
	r   *os.File
	dec *json.Decoder
}

// takeGate returns the container's gate, if it still has one, and forgets
// it.
func (c *Container) takeGate() *gate {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.gate
	c.gate = nil
	return g
}

// OpenGate lets the process of a container started with
// Spec.WaitBeforeExec run, and returns once it runs (nil at once for a
// container without a gate, or whose gate was opened already). On error,
// or when ctx ends first, the caller destroys the container.
func (c *Container) OpenGate(ctx context.Context) error {
	g := c.takeGate()
	if g == nil {
		return nil
	}
	defer g.r.Close()
	if err := ctx.Err(); err != nil {
		g.w.Close()
		return err
	}
	_, werr := g.w.Write([]byte{1})
	g.w.Close()
	if werr != nil {
		return fmt.Errorf("start container %s: open the gate: %w", c.id, werr)
	}
	stop := context.AfterFunc(ctx, func() { _ = g.r.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var reply shimapi.Reply
	rerr := g.dec.Decode(&reply)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if rerr != nil || (reply.Error == "" && reply.InitPid == 0) {
		return fmt.Errorf("start container %s: shim exited without a reply (%v): %s", c.id, rerr, c.d.shimLogTail(c.dir))
	}
	if reply.Error != "" {
		return fmt.Errorf("start container %s: %w", c.id, errors.New(reply.Error))
	}
	c.d.log.Info("container gate opened", "container_id", c.id, "pid", c.initPid)
	return nil
}

// closeGate closes a gated container's gate, if it still has one: its
// shim destroys the created container and exits, and is waited for.
func (c *Container) closeGate(ctx context.Context) error {
	g := c.takeGate()
	if g == nil {
		return nil
	}
	g.w.Close()
	g.r.Close()
	f, err := c.dupMonitor()
	if err != nil || f == nil {
		return err
	}
	defer f.Close()
	if err := waitFD(ctx, f); err != nil {
		return fmt.Errorf("close the gate of container %s: wait for its shim: %w", c.id, err)
	}
	c.reap()
	return nil
}
