package cmdline

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
)

// taskOutput streams a running task's stdout and stderr to execute's own,
// polling the sandbox files until told to stop, then draining them once
// more (so a task's last words before TASK_FINISHED are not lost).
type taskOutput struct {
	stop atomic.Bool
	done chan error
}

// startOutput starts streaming the task's output (once).
func (r *execRun) startOutput(ctx context.Context) {
	if r.output != nil || r.taskID == "" || r.agentID == "" || r.fwID == "" {
		return
	}
	dir := sandboxDir(r.fwID, "", r.taskID)
	streams := []*logStream{
		{f: newSandboxFile(r.m.c, r.agentID, dir, "stdout"), w: r.io.stdout},
		{f: newSandboxFile(r.m.c, r.agentID, dir, "stderr"), w: r.io.stderr},
	}
	o := &taskOutput{done: make(chan error, 1)}
	r.output = o
	go func() { o.done <- pump(ctx, streams, true, o.stop.Load) }()
}

// stopOutput ends the streaming after a last drain and waits for it; a
// failure to read is a warning on the status output.
func (r *execRun) stopOutput(context.Context) {
	o := r.output
	if o == nil || o.stop.Swap(true) {
		return
	}
	if err := <-o.done; err != nil {
		fmt.Fprintf(r.out, "warning: task output: %v\n", err)
	}
}

// printDetached prints a detached task: its id alone (the default, for
// ID=$(nodectl execute --detach ...)), or JSON/YAML with where it runs.
func (r *execRun) printDetached(sandbox string) error {
	if r.spec.output == "" || r.spec.output == "id" {
		_, err := fmt.Fprintln(r.io.stdout, r.taskID)
		return err
	}
	b, err := json.Marshal(map[string]string{
		"id": r.taskID, "framework_id": r.fwID, "agent_id": r.agentID, "sandbox": sandbox,
	})
	if err != nil {
		return err
	}
	return writeFormatted(r.io.stdout, r.spec.output, b)
}
