package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// rawExec changes a closed store's database behind its back, with foreign
// keys and CHECK constraints off, the way a bug or a bad disk could.
func rawExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range append([]string{"PRAGMA foreign_keys = OFF", "PRAGMA ignore_check_constraints = ON"}, stmts...) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// badRowsFixture: fw has t1 (STARTING, RUNNING) and t2 (STARTING); fw2
// has t3 (STARTING). It returns the closed database's path.
func badRowsFixture(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "agent.db")
	s := openAt(t, path)
	if err := s.PutAgent(context.Background(), Agent{ID: "a1", Info: []byte(`{}`), BootID: "b1"}); err != nil {
		t.Fatal(err)
	}
	mustLaunch(t, s, "fw", "t1")
	mustAppend(t, s, updateOf("fw", "t1", "TASK_RUNNING", false))
	mustLaunch(t, s, "fw", "t2")
	mustLaunch(t, s, "fw2", "t3")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadStateBadRecords(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sql     []string
		table   string // of the first error
		problem string // in the first error
		errs    int    // records a lenient load skips
		tasks   string // tasks a lenient load keeps
		agent   bool   // a lenient load keeps the agent
	}{
		{"task info not JSON", []string{`UPDATE tasks SET info = x'7b22' WHERE task_id = 't1'`},
			"tasks", "task info is not valid JSON", 3, "t2 t3", true},
		{"framework row gone", []string{`DELETE FROM frameworks WHERE framework_id = 'fw2'`},
			"executors", `its framework "fw2" is not checkpointed`, 3, "t1 t2", true},
		{"bad framework skips its runs", []string{`UPDATE frameworks SET checkpoint = 7 WHERE framework_id = 'fw2'`},
			"frameworks", "column checkpoint: want 0 or 1, have 7", 4, "t1 t2", true},
		{"update body garbage", []string{`UPDATE updates SET body = x'00ff' WHERE task = (SELECT id FROM tasks WHERE task_id = 't1') AND seq = 2`},
			"updates", "update body is not valid JSON", 2, "t2 t3", true},
		{"task id not UTF-8", []string{`UPDATE tasks SET task_id = CAST(x'ff' AS TEXT) WHERE task_id = 't2'`},
			"tasks", "column task_id: text is not valid UTF-8", 2, "t1 t3", true},
		{"state differs from newest update", []string{`UPDATE tasks SET state = 'TASK_KILLED' WHERE task_id = 't1'`},
			"tasks", "differs from its newest update 2", 1, "t2 t3", true},
		{"acknowledged out of order", []string{`UPDATE updates SET acked_at = 5 WHERE task = (SELECT id FROM tasks WHERE task_id = 't1') AND seq = 2`},
			"tasks", "update 2 is acknowledged, but acknowledgements end at update 0", 1, "t2 t3", true},
		{"acknowledgements end too late", []string{`UPDATE tasks SET acked_seq = 1 WHERE task_id = 't2'`},
			"tasks", "update 1 is not acknowledged, but acknowledgements reach update 1", 1, "t1 t3", true},
		{"done but not terminal", []string{`UPDATE tasks SET done = 1 WHERE task_id = 't2'`},
			"tasks", "done, but state TASK_STARTING is not terminal", 2, "t1 t3", true},
		{"done with pending updates", []string{
			`UPDATE tasks SET done = 1, terminal = 1, state = 'TASK_FAILED' WHERE task_id = 't2'`,
			`UPDATE updates SET state = 'TASK_FAILED', terminal = 1 WHERE task = (SELECT id FROM tasks WHERE task_id = 't2')`},
			"tasks", "done, but updates are pending", 1, "t1 t3", true},
		{"acked at time zero", []string{`UPDATE updates SET acked_at = 0 WHERE task = (SELECT id FROM tasks WHERE task_id = 't3')`},
			"updates", "column acked_at: want NULL or a time", 1, "t1 t2 t3", true},
		{"update of no task", []string{`INSERT INTO updates VALUES (99, 1, x'01', 'TASK_RUNNING', 0, x'7b7d', 1, NULL)`},
			"updates", `its task row is not checkpointed`, 1, "t1 t2 t3", true},
		{"update of a skipped task", []string{`UPDATE tasks SET info = x'7b22' WHERE task_id = 't2'`},
			"tasks", "task info is not valid JSON", 2, "t1 t3", true},
		{"two agent records", []string{`INSERT INTO agent (id, agent_id) VALUES (2, 'a2')`},
			"agent", "more than one agent record", 1, "t1 t2 t3", true},
		{"agent info not JSON", []string{`UPDATE agent SET info = x'5b'`},
			"agent", "agent info is not valid JSON", 1, "t1 t2 t3", false},
		{"resources not JSON", []string{`INSERT INTO resources VALUES (1, x'7b')`},
			"resources", "resources is not valid JSON", 1, "t1 t2 t3", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := badRowsFixture(t)
			rawExec(t, path, tc.sql...)
			s := openAt(t, path)
			ctx := context.Background()

			_, err := s.LoadState(ctx, true)
			var re *RecordError
			if !errors.Is(err, ErrBadRecord) || !errors.As(err, &re) {
				t.Fatalf("strict load: %v, want a *RecordError", err)
			}
			if re.Table != tc.table || !strings.Contains(re.Problem, tc.problem) || (re.RowID == 0) != (tc.table == "updates") || re.Key == "" && tc.table != "resources" {
				t.Errorf("strict load: %+v, want table %s, problem %q", re, tc.table, tc.problem)
			}
			for _, want := range []string{path, "table " + tc.table, "--no-strict"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("strict error %q does not mention %q", err, want)
				}
			}

			st, err := s.LoadState(ctx, false)
			if err != nil {
				t.Fatalf("lenient load: %v", err)
			}
			if len(st.Errors) != tc.errs {
				t.Errorf("lenient load skipped %d records, want %d: %v", len(st.Errors), tc.errs, st.Errors)
			}
			var tasks []string
			for _, task := range st.Tasks {
				tasks = append(tasks, task.TaskID)
			}
			if got := strings.Join(tasks, " "); got != tc.tasks {
				t.Errorf("lenient load kept tasks %q, want %q", got, tc.tasks)
			}
			if (st.Agent != nil) != tc.agent {
				t.Errorf("lenient load agent = %+v, want kept=%v", st.Agent, tc.agent)
			}
			// What a lenient load keeps is consistent on its own.
			if again := assemble(rowsOf(st)); len(again.Errors) > 0 {
				t.Errorf("lenient result is inconsistent: %v", again.Errors)
			}
		})
	}
}

// corruptFixture writes enough tasks to span many pages and closes the
// store; it returns the path and the database's page size and count, and
// the page number of the tasks table's root.
func corruptFixture(t *testing.T) (path string, pageSize, pages, tasksRoot int64) {
	path = filepath.Join(t.TempDir(), "agent.db")
	s := openAt(t, path)
	for i := range 300 {
		mustLaunch(t, s, "fw", fmt.Sprintf("task-%03d", i))
	}
	if err := s.db.QueryRow("PRAGMA page_size").Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRow("SELECT rootpage FROM sqlite_schema WHERE name = 'tasks'").Scan(&tasksRoot); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		t.Fatalf("WAL left after close (%d bytes): corrupting the main file would not be seen", fi.Size())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if pages = fi.Size() / pageSize; pages < 20 {
		t.Fatalf("only %d pages", pages)
	}
	return path, pageSize, pages, tasksRoot
}

func overwrite(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func fill(n int64, c byte) []byte { return []byte(strings.Repeat(string(c), int(n))) }

// checkCorruptErr wants an operator-worded *CorruptError about path.
func checkCorruptErr(t *testing.T, err error, path string) {
	t.Helper()
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Path != path {
		t.Fatalf("err = %v, want a *CorruptError for %s", err, path)
	}
	msg := err.Error()
	for _, want := range []string{path, "--no-strict", "remove " + path, "start fresh"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if !strings.Contains(msg, "malformed") && !strings.Contains(msg, "not a database") && !strings.Contains(msg, "integrity check") {
		t.Errorf("error %q does not say what sqlite found", msg)
	}
}

func TestCorruptFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, path string, pageSize, pages int64)
	}{
		{"truncated to half", func(t *testing.T, path string, pageSize, pages int64) {
			if err := os.Truncate(path, pages/2*pageSize); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated mid-page", func(t *testing.T, path string, pageSize, pages int64) {
			if err := os.Truncate(path, pages/2*pageSize+pageSize/3); err != nil {
				t.Fatal(err)
			}
		}},
		{"header overwritten", func(t *testing.T, path string, pageSize, pages int64) {
			overwrite(t, path, 0, []byte("this is not an sqlite header, it is garbage from a bad disk.."))
		}},
		{"page overwritten", func(t *testing.T, path string, pageSize, pages int64) {
			overwrite(t, path, pages/2*pageSize, fill(pageSize, 0xff))
		}},
		{"last page zeroed", func(t *testing.T, path string, pageSize, pages int64) {
			overwrite(t, path, (pages-1)*pageSize, fill(pageSize, 0))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, pageSize, pages, _ := corruptFixture(t)
			tc.corrupt(t, path, pageSize, pages)
			ctx := context.Background()
			s, err := Open(ctx, Config{Path: path, Logger: testLogger(t)})
			if err == nil {
				// Whatever Open's check let through, the recovery read must catch.
				_, err = s.LoadState(ctx, false)
				s.Close()
			}
			checkCorruptErr(t, err, path)

			// --no-strict: moved aside, a fresh store in its place.
			s, err = Open(ctx, Config{Path: path, Logger: testLogger(t), DiscardCorrupt: true})
			if err != nil {
				t.Fatalf("open with DiscardCorrupt: %v", err)
			}
			defer s.Close()
			if st := mustLoad(t, s); !reflect.DeepEqual(st, State{}) {
				t.Fatalf("fresh store not empty: %+v", st)
			}
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) == 0 {
				t.Fatalf("damaged file not kept aside")
			}
		})
	}
}

// TestLoadStateCorruptPage damages a page after Open's check passed: the
// recovery read itself must report the file, not a generic error.
func TestLoadStateCorruptPage(t *testing.T) {
	path, pageSize, _, root := corruptFixture(t)
	s := openAt(t, path)
	// LoadState reads on a fresh pool connection, so from disk.
	overwrite(t, path, (root-1)*pageSize, fill(pageSize, 0xff))
	_, err := s.LoadState(context.Background(), false)
	checkCorruptErr(t, err, path)
}
