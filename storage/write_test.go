package storage

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// stripTimes zeroes the times the store stamps, for comparisons.
func stripTimes(st State) State {
	for i := range st.Executors {
		st.Executors[i].LaunchedAt, st.Executors[i].CompletedAt = time.Time{}, time.Time{}
	}
	for i := range st.Tasks {
		for j := range st.Tasks[i].Updates {
			u := &st.Tasks[i].Updates[j]
			u.CreatedAt = time.Time{}
			if u.Acked() {
				u.AckedAt = time.Unix(1, 0)
			}
		}
	}
	return st
}

func TestRoundTrip(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	agent := Agent{ID: "agent-1", Info: []byte(`{"hostname":"h"}`), BootID: "boot-1", ConfigFingerprint: "fp"}
	if err := s.PutAgent(ctx, agent); err != nil {
		t.Fatal(err)
	}
	if err := s.SetBootID(ctx, "boot-2"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutResources(ctx, []byte(`[{"name":"disk"}]`)); err != nil {
		t.Fatal(err)
	}
	l := mustLaunch(t, s, "fw", "t1")
	running := updateOf("fw", "t1", "TASK_RUNNING", false)
	if seq := mustAppend(t, s, running); seq != 2 {
		t.Fatalf("seq = %d, want 2", seq)
	}
	if _, err := s.Ack(ctx, TaskKey{"fw", "t1"}, l.Update.UUID); err != nil {
		t.Fatal(err)
	}
	launched := time.Unix(100, 0).UTC()
	l2 := launchOf("fw", "t2")
	l2.Executor.LaunchedAt = launched
	l2.Update = nil
	if err := s.LaunchTask(ctx, l2); err != nil {
		t.Fatal(err)
	}

	got := mustLoad(t, s)
	if got.Executors[1].LaunchedAt != launched {
		t.Errorf("launched at %v, want %v", got.Executors[1].LaunchedAt, launched)
	}
	agent.BootID = "boot-2"
	want := State{
		Agent:      &agent,
		Resources:  []byte(`[{"name":"disk"}]`),
		Frameworks: []Framework{l.Framework},
		Executors:  []Executor{l.Executor, l2.Executor},
		Tasks: []Task{
			{FrameworkID: "fw", TaskID: "t1", ExecutorID: "t1", ContainerID: "ctr-fw-t1", Info: l.Task.Info, State: "TASK_RUNNING",
				Updates: []Update{
					{FrameworkID: "fw", TaskID: "t1", Seq: 1, UUID: l.Update.UUID, State: "TASK_STARTING", Body: l.Update.Body, AckedAt: time.Unix(1, 0)},
					{FrameworkID: "fw", TaskID: "t1", Seq: 2, UUID: running.UUID, State: "TASK_RUNNING", Body: running.Body},
				}},
			{FrameworkID: "fw", TaskID: "t2", ExecutorID: "t2", ContainerID: "ctr-fw-t2", Info: l2.Task.Info, State: "TASK_STAGING"},
		},
	}
	want.Executors[0].FrameworkID, want.Executors[1].FrameworkID = "fw", "fw"
	if got, want := stripTimes(got), stripTimes(want); !reflect.DeepEqual(got, want) {
		t.Fatalf("state:\n got %+v\nwant %+v", got, want)
	}
	if p := got.Tasks[0].Pending(); len(p) != 1 || p[0].Seq != 2 {
		t.Errorf("pending = %+v, want update 2", p)
	}
}

func TestLaunchTask(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		before func(*Store)
		launch func() Launch
		err    error
		tasks  int // tasks stored afterwards
	}{
		{"first launch", nil, func() Launch { return launchOf("fw", "t1") }, nil, 1},
		{"without first update", nil, func() Launch { l := launchOf("fw", "t1"); l.Update = nil; return l }, nil, 1},
		{"duplicate task", func(s *Store) { mustLaunch(t, s, "fw", "t1") },
			func() Launch { l := launchOf("fw", "t1"); l.Executor.ContainerID = "other"; return l }, ErrTaskExists, 1},
		{"second task in the same run (task group)", func(s *Store) { mustLaunch(t, s, "fw", "t1") },
			func() Launch { l := launchOf("fw", "t2"); l.Executor = launchOf("fw", "t1").Executor; return l }, nil, 2},
		{"run of another executor", func(s *Store) { mustLaunch(t, s, "fw", "t1") },
			func() Launch {
				l := launchOf("fw", "t2")
				l.Executor.ContainerID = "ctr-fw-t1"
				return l
			}, ErrInvalid, 1},
		{"completed run", func(s *Store) {
			mustLaunch(t, s, "fw", "t1")
			if err := s.CompleteExecutor(ctx, "ctr-fw-t1", time.Time{}); err != nil {
				t.Fatal(err)
			}
		}, func() Launch { l := launchOf("fw", "t2"); l.Executor = launchOf("fw", "t1").Executor; return l }, ErrInvalid, 1},
		{"conflicting ids", nil, func() Launch { l := launchOf("fw", "t1"); l.Task.FrameworkID = "other"; return l }, ErrInvalid, 0},
		{"bad task JSON", nil, func() Launch { l := launchOf("fw", "t1"); l.Task.Info = []byte("{"); return l }, ErrInvalid, 0},
		{"no framework id", nil, func() Launch { l := launchOf("fw", "t1"); l.Framework.ID = ""; return l }, ErrInvalid, 0},
		{"no sandbox", nil, func() Launch { l := launchOf("fw", "t1"); l.Executor.Sandbox = ""; return l }, ErrInvalid, 0},
		{"update without uuid", nil, func() Launch { l := launchOf("fw", "t1"); l.Update.UUID = nil; return l }, ErrInvalid, 0},
		{"no state", nil, func() Launch { l := launchOf("fw", "t1"); l.Update = nil; l.Task.State = ""; return l }, ErrInvalid, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			if tc.before != nil {
				tc.before(s)
			}
			l := tc.launch()
			// A failed launch must not even replace the framework info.
			l.Framework.Info = []byte(`{"changed":true}`)
			err := s.LaunchTask(ctx, l)
			if !errors.Is(err, tc.err) {
				t.Fatalf("launch: %v, want %v", err, tc.err)
			}
			st := mustLoad(t, s)
			if len(st.Tasks) != tc.tasks {
				t.Fatalf("%d tasks stored, want %d", len(st.Tasks), tc.tasks)
			}
			changed := len(st.Frameworks) > 0 && bytes.Equal(st.Frameworks[0].Info, l.Framework.Info)
			if changed != (tc.err == nil) {
				t.Fatalf("framework info replaced = %v after launch error %v", changed, err)
			}
		})
	}
}

func TestAppendUpdate(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		before func(*Store) *Update // returns an update already stored, if any
		update func(prev *Update) Update
		err    error
	}{
		{"next in stream", nil, func(*Update) Update { return *updateOf("fw", "t1", "TASK_RUNNING", false) }, nil},
		{"unknown task", nil, func(*Update) Update { return *updateOf("fw", "nope", "TASK_RUNNING", false) }, ErrNotFound},
		{"duplicate uuid", func(s *Store) *Update {
			u := updateOf("fw", "t1", "TASK_RUNNING", false)
			mustAppend(t, s, u)
			return u
		}, func(prev *Update) Update { u := *prev; u.State = "TASK_FAILED"; return u }, ErrDuplicateUpdate},
		{"stream closed", func(s *Store) *Update {
			fin := updateOf("fw", "t1", "TASK_FINISHED", true)
			mustAppend(t, s, fin)
			for _, u := range [][]byte{launchUUID, fin.UUID} {
				if _, err := s.Ack(ctx, TaskKey{"fw", "t1"}, u); err != nil {
					t.Fatal(err)
				}
			}
			return nil
		}, func(*Update) Update { return *updateOf("fw", "t1", "TASK_RUNNING", false) }, ErrStreamClosed},
		{"terminal not yet acked", func(s *Store) *Update {
			mustAppend(t, s, updateOf("fw", "t1", "TASK_LOST", true))
			return nil
		}, func(*Update) Update { return *updateOf("fw", "t1", "TASK_RUNNING", false) }, nil},
		{"bad body", nil, func(*Update) Update {
			u := *updateOf("fw", "t1", "TASK_RUNNING", false)
			u.Body = []byte("nope")
			return u
		}, ErrInvalid},
		{"no state", nil, func(*Update) Update { u := *updateOf("fw", "t1", "", false); return u }, ErrInvalid},
		{"uuid too long", nil, func(*Update) Update {
			u := *updateOf("fw", "t1", "TASK_RUNNING", false)
			u.UUID = make([]byte, maxUUID+1)
			return u
		}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			l := launchOf("fw", "t1")
			l.Update.UUID = launchUUID
			if err := s.LaunchTask(ctx, l); err != nil {
				t.Fatal(err)
			}
			var prev *Update
			if tc.before != nil {
				prev = tc.before(s)
			}
			before := mustLoad(t, s).Tasks[0]
			u := tc.update(prev)
			seq, err := s.AppendUpdate(ctx, u)
			if !errors.Is(err, tc.err) {
				t.Fatalf("append: %v, want %v", err, tc.err)
			}
			after := mustLoad(t, s).Tasks[0]
			if tc.err != nil {
				if !reflect.DeepEqual(before, after) {
					t.Fatalf("failed append changed the task:\n%+v\n%+v", before, after)
				}
				return
			}
			if seq != int64(len(after.Updates)) || after.State != u.State || after.Terminal != u.Terminal {
				t.Fatalf("seq %d; task after append: %+v", seq, after)
			}
		})
	}
}

var launchUUID = []byte("launch-uuid-0001")

func TestAck(t *testing.T) {
	ctx := context.Background()
	k := TaskKey{"fw", "t1"}
	// The stream: STARTING (launch), RUNNING, then the case's last update.
	for _, tc := range []struct {
		name     string
		last     *Update
		acks     func(run, last []byte) [][]byte // acknowledged in order; the last one is checked
		err      error
		done     bool
		pending  int
		wantTask bool
	}{
		{"head", nil, func(run, last []byte) [][]byte { return [][]byte{launchUUID} }, nil, false, 1, true},
		{"not the head", nil, func(run, last []byte) [][]byte { return [][]byte{run} }, ErrAckMismatch, false, 2, true},
		{"unknown uuid", nil, func(run, last []byte) [][]byte { return [][]byte{[]byte("x")} }, ErrAckMismatch, false, 2, true},
		{"already acknowledged", nil, func(run, last []byte) [][]byte { return [][]byte{launchUUID, launchUUID} }, ErrAckMismatch, false, 1, true},
		{"all acked, not terminal", nil, func(run, last []byte) [][]byte { return [][]byte{launchUUID, run} }, nil, false, 0, true},
		{"nothing pending", nil, func(run, last []byte) [][]byte { return [][]byte{launchUUID, run, run} }, ErrAckMismatch, false, 0, true},
		{"terminal acked last: done", updateOf("fw", "t1", "TASK_FINISHED", true),
			func(run, last []byte) [][]byte { return [][]byte{launchUUID, run, last} }, nil, true, 0, true},
		{"terminal pending: not done", updateOf("fw", "t1", "TASK_FAILED", true),
			func(run, last []byte) [][]byte { return [][]byte{launchUUID, run} }, nil, false, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			l := launchOf("fw", "t1")
			l.Update.UUID = launchUUID
			if err := s.LaunchTask(ctx, l); err != nil {
				t.Fatal(err)
			}
			run := updateOf("fw", "t1", "TASK_RUNNING", false)
			mustAppend(t, s, run)
			var last []byte
			if tc.last != nil {
				mustAppend(t, s, tc.last)
				last = tc.last.UUID
			}
			acks := tc.acks(run.UUID, last)
			var done bool
			var err error
			for i, a := range acks {
				done, err = s.Ack(ctx, k, a)
				if i < len(acks)-1 && err != nil {
					t.Fatalf("ack %d: %v", i, err)
				}
			}
			if !errors.Is(err, tc.err) || done != tc.done {
				t.Fatalf("last ack: done=%v err=%v, want done=%v err=%v", done, err, tc.done, tc.err)
			}
			task := mustLoad(t, s).Tasks[0]
			if len(task.Pending()) != tc.pending || task.Done != tc.done {
				t.Fatalf("task after acks: pending %d done %v, want %d %v", len(task.Pending()), task.Done, tc.pending, tc.done)
			}
		})
	}
	t.Run("unknown task", func(t *testing.T) {
		s := openTest(t)
		if _, err := s.Ack(ctx, k, launchUUID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("ack: %v, want ErrNotFound", err)
		}
	})
}

func TestCompleteAndPrune(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	for _, task := range []string{"done", "pending", "running"} {
		mustLaunch(t, s, "fw", task)
	}
	mustLaunch(t, s, "other", "done2")
	finish := func(fw, task string, ack bool) {
		st := mustLoad(t, s)
		fin := updateOf(fw, task, "TASK_FINISHED", true)
		mustAppend(t, s, fin)
		if !ack {
			return
		}
		for _, tk := range st.Tasks {
			if tk.TaskID == task {
				for _, u := range append(tk.Pending(), *fin) {
					if _, err := s.Ack(ctx, tk.Key(), u.UUID); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	finish("fw", "done", true)
	finish("fw", "pending", false)
	finish("other", "done2", true)
	at := time.Unix(1000, 0)
	for _, c := range []string{"ctr-fw-done", "ctr-fw-pending", "ctr-other-done2"} {
		if err := s.CompleteExecutor(ctx, c, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CompleteExecutor(ctx, "ctr-fw-done", at.Add(time.Hour)); err != nil {
		t.Fatalf("complete twice: %v", err)
	}
	if err := s.CompleteExecutor(ctx, "nope", at); !errors.Is(err, ErrNotFound) {
		t.Fatalf("complete unknown: %v", err)
	}

	if gone, err := s.Prune(ctx, at); err != nil || len(gone) != 0 {
		t.Fatalf("prune before completion time: %v %+v", err, gone)
	}
	gone, err := s.Prune(ctx, at.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range gone {
		ids = append(ids, e.ContainerID)
		if !e.CompletedAt.Equal(at) || e.Sandbox == "" {
			t.Errorf("pruned run %+v", e)
		}
	}
	if want := []string{"ctr-fw-done", "ctr-other-done2"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("pruned %v, want %v", ids, want)
	}
	st := mustLoad(t, s)
	var tasks []string
	for _, tk := range st.Tasks {
		tasks = append(tasks, tk.TaskID)
	}
	if want := []string{"pending", "running"}; !reflect.DeepEqual(tasks, want) {
		t.Fatalf("tasks left %v, want %v", tasks, want)
	}
	if len(st.Frameworks) != 1 || st.Frameworks[0].ID != "fw" {
		t.Fatalf("frameworks left %+v, want only fw (other has no runs left)", st.Frameworks)
	}
}

func TestRemove(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		remove func(*Store) error
		err    error
		left   [3]int // frameworks, executors, tasks
	}{
		{"task", func(s *Store) error { return s.RemoveTask(ctx, TaskKey{"fw", "t1"}) }, nil, [3]int{1, 2, 1}},
		{"executor", func(s *Store) error { return s.RemoveExecutor(ctx, "ctr-fw-t1") }, nil, [3]int{1, 1, 1}},
		{"framework", func(s *Store) error { return s.RemoveFramework(ctx, "fw") }, nil, [3]int{0, 0, 0}},
		{"unknown task", func(s *Store) error { return s.RemoveTask(ctx, TaskKey{"fw", "x"}) }, ErrNotFound, [3]int{1, 2, 2}},
		{"unknown executor", func(s *Store) error { return s.RemoveExecutor(ctx, "x") }, ErrNotFound, [3]int{1, 2, 2}},
		{"unknown framework", func(s *Store) error { return s.RemoveFramework(ctx, "x") }, ErrNotFound, [3]int{1, 2, 2}},
		{"reset agent", func(s *Store) error { return s.ResetAgent(ctx) }, nil, [3]int{0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			if err := s.PutAgent(ctx, Agent{ID: "a1", Info: []byte(`{}`), BootID: "b", ConfigFingerprint: "f"}); err != nil {
				t.Fatal(err)
			}
			if err := s.PutResources(ctx, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			mustLaunch(t, s, "fw", "t1")
			mustLaunch(t, s, "fw", "t2")
			if err := tc.remove(s); !errors.Is(err, tc.err) {
				t.Fatalf("remove: %v, want %v", err, tc.err)
			}
			st := mustLoad(t, s)
			if got := [3]int{len(st.Frameworks), len(st.Executors), len(st.Tasks)}; got != tc.left {
				t.Fatalf("left %v, want %v", got, tc.left)
			}
			if st.Agent == nil || st.Agent.BootID != "b" || st.Resources == nil {
				t.Fatalf("agent %+v resources %s: boot id and resources must survive", st.Agent, st.Resources)
			}
			if tc.name == "reset agent" && (st.Agent.ID != "" || st.Agent.Info != nil) {
				t.Fatalf("reset kept agent %+v", st.Agent)
			}
			// Cascades leave no orphan updates behind.
			var n int
			if err := s.db.QueryRow(`SELECT count(*) FROM updates WHERE NOT EXISTS
				(SELECT 1 FROM tasks t WHERE t.id = updates.task)`).Scan(&n); err != nil || n != 0 {
				t.Fatalf("orphan updates: %d %v", n, err)
			}
		})
	}
}

func TestPutValidation(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	for name, err := range map[string]error{
		"agent bad info":      s.PutAgent(ctx, Agent{ID: "a", Info: []byte("{")}),
		"agent bad utf8 id":   s.PutAgent(ctx, Agent{ID: "\xff"}),
		"boot id bad utf8":    s.SetBootID(ctx, "\xff"),
		"resources empty":     s.PutResources(ctx, nil),
		"framework no id":     s.PutFramework(ctx, Framework{Info: []byte(`{}`)}),
		"framework bad info":  s.PutFramework(ctx, Framework{ID: "f", Info: []byte(`{]`)}),
		"update no framework": func() error { _, err := s.AppendUpdate(ctx, Update{TaskID: "t"}); return err }(),
	} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if err := s.PutFramework(ctx, Framework{ID: "f", Info: []byte(`{"v":1}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutFramework(ctx, Framework{ID: "f", Info: []byte(`{"v":2}`), Checkpoint: true}); err != nil {
		t.Fatal(err)
	}
	if fw := mustLoad(t, s).Frameworks; len(fw) != 1 || string(fw[0].Info) != `{"v":2}` || !fw[0].Checkpoint {
		t.Fatalf("framework after two puts: %+v", fw)
	}
}
