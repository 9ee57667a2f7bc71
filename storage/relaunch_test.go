package storage

import (
	"context"
	"errors"
	"testing"
	"time"
)

// RelaunchTask moves a task to a new run: the task keeps its id and its
// stream, the old run is completed (and pruned once old enough: no task
// points at it any more), the new one is live. Unknown and done tasks, a
// run of another executor and malformed runs are refused.
func TestRelaunchTask(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	l := mustLaunch(t, s, "fw", "web")
	mustAppend(t, s, updateOf("fw", "web", "TASK_RUNNING", false))
	k := TaskKey{FrameworkID: "fw", TaskID: "web"}
	next := Executor{ExecutorID: "web", ContainerID: "ctr-new", Sandbox: "/work/sandbox/web-2", Info: l.Executor.Info}
	if err := s.RelaunchTask(ctx, k, next); err != nil {
		t.Fatal(err)
	}
	st := mustLoad(t, s)
	if len(st.Tasks) != 1 || st.Tasks[0].ContainerID != "ctr-new" || st.Tasks[0].State != "TASK_RUNNING" || len(st.Tasks[0].Updates) != 2 {
		t.Fatalf("task after relaunch: %+v", st.Tasks)
	}
	runs := map[string]bool{}
	for _, e := range st.Executors {
		runs[e.ContainerID] = e.Completed
	}
	if done, ok := runs[l.Executor.ContainerID]; !ok || !done {
		t.Errorf("old run: present %v completed %v, want a completed run", ok, done)
	}
	if done, ok := runs["ctr-new"]; !ok || done {
		t.Errorf("new run: present %v completed %v, want a live run", ok, done)
	}
	gone, err := s.Prune(ctx, time.Now().Add(time.Hour))
	if err != nil || len(gone) != 1 || gone[0].ContainerID != l.Executor.ContainerID {
		t.Fatalf("prune: %v %+v, want the old run only", err, gone)
	}
	if st := mustLoad(t, s); len(st.Tasks) != 1 {
		t.Fatalf("prune took the relaunched task: %+v", st.Tasks)
	}

	for name, tc := range map[string]struct {
		k    TaskKey
		e    Executor
		want error
	}{
		"unknown task":    {TaskKey{"fw", "nope"}, Executor{ExecutorID: "nope", ContainerID: "c1", Sandbox: "/s", Info: l.Executor.Info}, ErrNotFound},
		"other executor":  {k, Executor{ExecutorID: "other", ContainerID: "c2", Sandbox: "/s", Info: l.Executor.Info}, ErrInvalid},
		"no container id": {k, Executor{ExecutorID: "web", Sandbox: "/s", Info: l.Executor.Info}, ErrInvalid},
		"completed run":   {k, Executor{ExecutorID: "web", ContainerID: "c3", Sandbox: "/s", Info: l.Executor.Info, Completed: true}, ErrInvalid},
		"existing run":    {k, Executor{ExecutorID: "web", ContainerID: "ctr-new", Sandbox: "/s", Info: l.Executor.Info}, nil},
	} {
		err := s.RelaunchTask(ctx, tc.k, tc.e)
		if tc.want == nil {
			if err == nil {
				t.Errorf("%s: accepted", name)
			}
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	mustAppend(t, s, updateOf("fw", "web", "TASK_FINISHED", true))
	for _, tk := range mustLoad(t, s).Tasks {
		for _, u := range tk.Pending() {
			if _, err := s.Ack(ctx, tk.Key(), u.UUID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.RelaunchTask(ctx, k, Executor{ExecutorID: "web", ContainerID: "c4", Sandbox: "/s", Info: l.Executor.Info}); !errors.Is(err, ErrInvalid) {
		t.Errorf("done task: %v, want ErrInvalid", err)
	}
}
