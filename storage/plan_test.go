package storage

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestQueryPlans runs a workload, then asks sqlite how it executes every
// statement the writer prepared: per-task work must seek, never scan a
// table, or throughput would fall as the checkpoint grows.
func TestQueryPlans(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	l := mustLaunch(t, s, "fw", "t1")
	run := updateOf("fw", "t1", "TASK_RUNNING", false)
	mustAppend(t, s, run)
	for _, u := range [][]byte{l.Update.UUID, []byte("wrong")} {
		s.Ack(ctx, TaskKey{"fw", "t1"}, u)
	}
	s.CompleteExecutor(ctx, "ctr-fw-t1", time.Time{})
	s.Prune(ctx, time.Now())
	s.RemoveTask(ctx, TaskKey{"fw", "t1"})
	s.RemoveExecutor(ctx, "x")
	s.RemoveFramework(ctx, "x")
	s.PutAgent(ctx, Agent{})
	s.SetBootID(ctx, "b")
	s.ResetAgent(ctx)
	s.PutResources(ctx, []byte("{}"))
	if err := s.Close(); err != nil { // the writer's statements are ours now
		t.Fatal(err)
	}

	s2 := openTest(t)
	// Whole-table statements, scanning by design: GC and reset are rare.
	scans := []string{"completed = 1 AND completed_at < ?", "DELETE FROM frameworks`", "UPDATE agent SET"}
	n := 0
	for q := range s.stmts {
		rows, err := s2.db.Query("EXPLAIN QUERY PLAN "+q, make([]any, strings.Count(q, "?"))...)
		if err != nil {
			t.Fatalf("explain %q: %v", q, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		n++
		for _, step := range plan {
			if !strings.HasPrefix(step, "SCAN ") || strings.HasPrefix(step, "SCAN CONSTANT") {
				continue
			}
			allowed := false
			for _, a := range scans {
				allowed = allowed || strings.Contains(q+"`", a)
			}
			if !allowed {
				t.Errorf("%s\n  plan: %s", q, strings.Join(plan, "; "))
			}
		}
	}
	if n < 15 {
		t.Fatalf("only %d statements seen", n)
	}
}
