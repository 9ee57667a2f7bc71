package runtime

import (
	"context"
	"time"

	"nodectl/runtime/internal/container"
)

// containers is the container driver as the agent uses it: start a task's
// container, find the ones a previous run left (recovery, orphans). The
// agent runs on runc through runcDriver; unit tests run the same agent
// logic on an in-memory fake (containers_fake_test.go).
type containers interface {
	// Start creates and starts a container; when ctx ends before it
	// runs, the half-made container is destroyed.
	Start(ctx context.Context, s container.Spec) (taskContainer, error)
	// Load reattaches to a container by id; container.ErrNotFound when
	// there is none.
	Load(id string) (taskContainer, error)
	// List names every container the driver holds, running or not.
	List() ([]string, error)
}

// taskContainer is one task's container (task.ctr).
type taskContainer interface {
	ID() string
	// Pid is the container's init process on the host.
	Pid() int
	// Spec is what the container was started with.
	Spec() container.Spec
	Status() (container.Status, error)
	// Wait blocks until the container's init exits (or ctx ends);
	// container.ErrLost when it ended unrecorded.
	Wait(ctx context.Context) (container.Exit, error)
	// Kill sends SIGTERM to the container, then SIGKILL after grace (at
	// once when grace is 0), and returns once it has stopped.
	Kill(ctx context.Context, grace time.Duration) error
	// Destroy removes a stopped container and everything it held.
	Destroy(ctx context.Context) error
	// OpenGate lets the process of a container started with
	// Spec.WaitBeforeExec run (container.Container.OpenGate).
	OpenGate(ctx context.Context) error
	Stats() (container.Stats, error)
	// Exec runs a command in the container (COMMAND health checks).
	Exec(ctx context.Context, s container.ExecSpec) (container.Exit, []byte, error)
	// StartSession runs an interactive process in it (exec sessions).
	StartSession(ctx context.Context, s container.SessionSpec) (execSession, error)
}

// execSession is a running interactive process (container.Session).
type execSession interface {
	Resize(rows, cols uint16) error
	Wait() (container.Exit, error)
}

// runcDriver is the production driver: runc through the shim.
type runcDriver struct{ *container.Driver }

func (d runcDriver) Start(ctx context.Context, s container.Spec) (taskContainer, error) {
	c, err := d.Driver.Start(ctx, s)
	if err != nil {
		return nil, err // never a typed nil: callers test ctr != nil
	}
	return runcContainer{c}, nil
}

func (d runcDriver) Load(id string) (taskContainer, error) {
	c, err := d.Driver.Load(id)
	if err != nil {
		return nil, err
	}
	return runcContainer{c}, nil
}

// runcContainer is a runc container as a taskContainer.
type runcContainer struct{ *container.Container }

func (c runcContainer) StartSession(ctx context.Context, s container.SessionSpec) (execSession, error) {
	sess, err := c.Container.StartSession(ctx, s)
	if err != nil {
		return nil, err
	}
	return sess, nil
}
