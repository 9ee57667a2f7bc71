package storage

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Every schema version N has a database file testdata/vN.db, written by
// the schema of version N with the rows of fixtureRows[N] (raw SQL for that
// version, so the fixture does not follow later changes to the Go API).
// Today's code must open each one, migrate it, and load it strictly into
// testdata/vN.state.golden.
//
// When adding migration N: add fixtureRows[N] and run
//
//	go test ./storage -run 'TestMigrationFixtures|TestSchema' -args -update
//
// -update writes vN.db only where it is missing: the files of released
// versions stand for databases in the field and are never regenerated
// (delete one first if it really must be). Goldens are always rewritten.
const v1Rows = `
INSERT INTO agent (id, agent_id, info, boot_id, config_fingerprint)
	VALUES (1, 'agent-1', CAST('{"hostname":"node-1"}' AS BLOB), 'boot-1', 'fp-1');
INSERT INTO resources (id, body) VALUES (1, CAST('[{"name":"disk","role":"db"}]' AS BLOB));
INSERT INTO frameworks VALUES ('marathon', CAST('{"name":"marathon","checkpoint":true}' AS BLOB), 1);
INSERT INTO frameworks VALUES ('batch', CAST('{"name":"batch"}' AS BLOB), 0);
INSERT INTO executors VALUES ('ctr-1', 'marathon', 'web.1', '/w/sandbox/web.1', CAST('{"executor_id":"web.1"}' AS BLOB),
	1700000000000000000, 0, 0);
INSERT INTO executors VALUES ('ctr-2', 'batch', 'job.1', '/w/sandbox/job.1', CAST('{"executor_id":"job.1"}' AS BLOB),
	1700000001000000000, 1, 1700000009000000000);
INSERT INTO tasks VALUES ('marathon', 'web.1', 'web.1', 'ctr-1', CAST('{"task_id":"web.1"}' AS BLOB), 'TASK_RUNNING', 0, 0, 1);
INSERT INTO tasks VALUES ('batch', 'job.1', 'job.1', 'ctr-2', CAST('{"task_id":"job.1"}' AS BLOB), 'TASK_FINISHED', 1, 1, 2);
INSERT INTO updates VALUES ('marathon', 'web.1', 1, x'01', 'TASK_STARTING', 0, CAST('{"state":"TASK_STARTING"}' AS BLOB),
	1700000000100000000, 1700000000200000000);
INSERT INTO updates VALUES ('marathon', 'web.1', 2, x'02', 'TASK_RUNNING', 0, CAST('{"state":"TASK_RUNNING"}' AS BLOB),
	1700000000300000000, NULL);
INSERT INTO updates VALUES ('batch', 'job.1', 1, x'03', 'TASK_STARTING', 0, CAST('{"state":"TASK_STARTING"}' AS BLOB),
	1700000001100000000, 1700000001200000000);
INSERT INTO updates VALUES ('batch', 'job.1', 2, x'04', 'TASK_FINISHED', 1, CAST('{"state":"TASK_FINISHED"}' AS BLOB),
	1700000008000000000, 1700000008500000000);
`

var fixtureRows = map[int]string{
	1: v1Rows,
	2: v1Rows + `
INSERT INTO volumes VALUES ('db', 'pg#data#1', '/w/volumes/roles/db/pg#data#1', 10485760, 0, 1700000002000000000);
INSERT INTO volumes VALUES ('db', 'pg#data#2', '/w/volumes/roles/db/pg#data#2', 10485760, 1, 1700000003000000000);
`,
	3: v3Rows,
}

// v3Rows: v2's rows with the tasks' ids explicit and updates keyed by them.
const v3Rows = `
INSERT INTO agent (id, agent_id, info, boot_id, config_fingerprint)
	VALUES (1, 'agent-1', CAST('{"hostname":"node-1"}' AS BLOB), 'boot-1', 'fp-1');
INSERT INTO resources (id, body) VALUES (1, CAST('[{"name":"disk","role":"db"}]' AS BLOB));
INSERT INTO frameworks VALUES ('marathon', CAST('{"name":"marathon","checkpoint":true}' AS BLOB), 1);
INSERT INTO frameworks VALUES ('batch', CAST('{"name":"batch"}' AS BLOB), 0);
INSERT INTO executors VALUES ('ctr-1', 'marathon', 'web.1', '/w/sandbox/web.1', CAST('{"executor_id":"web.1"}' AS BLOB),
	1700000000000000000, 0, 0);
INSERT INTO executors VALUES ('ctr-2', 'batch', 'job.1', '/w/sandbox/job.1', CAST('{"executor_id":"job.1"}' AS BLOB),
	1700000001000000000, 1, 1700000009000000000);
INSERT INTO tasks VALUES (1, 'marathon', 'web.1', 'web.1', 'ctr-1', CAST('{"task_id":"web.1"}' AS BLOB), 'TASK_RUNNING', 0, 0, 1);
INSERT INTO tasks VALUES (2, 'batch', 'job.1', 'job.1', 'ctr-2', CAST('{"task_id":"job.1"}' AS BLOB), 'TASK_FINISHED', 1, 1, 2);
INSERT INTO updates VALUES (1, 1, x'01', 'TASK_STARTING', 0, CAST('{"state":"TASK_STARTING"}' AS BLOB),
	1700000000100000000, 1700000000200000000);
INSERT INTO updates VALUES (1, 2, x'02', 'TASK_RUNNING', 0, CAST('{"state":"TASK_RUNNING"}' AS BLOB),
	1700000000300000000, NULL);
INSERT INTO updates VALUES (2, 1, x'03', 'TASK_STARTING', 0, CAST('{"state":"TASK_STARTING"}' AS BLOB),
	1700000001100000000, 1700000001200000000);
INSERT INTO updates VALUES (2, 2, x'04', 'TASK_FINISHED', 1, CAST('{"state":"TASK_FINISHED"}' AS BLOB),
	1700000008000000000, 1700000008500000000);
INSERT INTO volumes VALUES ('db', 'pg#data#1', '/w/volumes/roles/db/pg#data#1', 10485760, 0, 1700000002000000000);
INSERT INTO volumes VALUES ('db', 'pg#data#2', '/w/volumes/roles/db/pg#data#2', 10485760, 1, 1700000003000000000);
`

func TestMigrationFixtures(t *testing.T) {
	for v := 1; v <= len(migrations); v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			fixture := filepath.Join("testdata", fmt.Sprintf("v%d.db", v))
			if _, err := os.Stat(fixture); errors.Is(err, os.ErrNotExist) && *update {
				writeFixture(t, v, fixture)
			}
			path := filepath.Join(t.TempDir(), "agent.db")
			b, err := os.ReadFile(fixture)
			if err != nil {
				t.Fatalf("%v (a new migration needs its fixture: see fixtureRows)", err)
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			s := openAt(t, path)
			var got int
			if err := s.db.QueryRow("PRAGMA user_version").Scan(&got); err != nil || got != len(migrations) {
				t.Fatalf("user_version %d (%v), want %d", got, err, len(migrations))
			}
			st := mustLoad(t, s)
			checkGolden(t, filepath.Join("testdata", fmt.Sprintf("v%d.state.golden", v)), renderState(st))

			// Today's writes work on the migrated file.
			ctx := context.Background()
			for _, task := range st.Tasks {
				if p := task.Pending(); len(p) > 0 {
					if _, err := s.Ack(ctx, task.Key(), p[0].UUID); err != nil {
						t.Fatalf("ack on migrated data: %v", err)
					}
				}
			}
			mustLaunch(t, s, "marathon", "web.2")
		})
	}
}

// writeFixture creates a database of schema version v with fixtureRows[v].
func writeFixture(t *testing.T, v int, to string) {
	rows, ok := fixtureRows[v]
	if !ok {
		t.Fatalf("no fixtureRows[%d]", v)
	}
	path := filepath.Join(t.TempDir(), "fixture.db")
	s, err := openWith(context.Background(), Config{Path: path, Logger: testLogger(t)}, migrations[:v])
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	// One self-contained file: no WAL next to it.
	for _, q := range []string{rows, "PRAGMA journal_mode = DELETE", "VACUUM"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("fixture v%d: %v", v, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", to)
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./storage -run %s -args -update)", err, t.Name())
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (go test ./storage -run %s -args -update):\n--- got\n%s\n--- want\n%s", path, t.Name(), got, want)
	}
}

// renderState is State as readable JSON: blobs inline, uuids in hex.
func renderState(st State) []byte {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	raw := func(b []byte) json.RawMessage {
		if len(b) == 0 {
			return json.RawMessage("null")
		}
		return b
	}
	type m = map[string]any
	out := m{"errors": len(st.Errors), "resources": raw(st.Resources)}
	if a := st.Agent; a != nil {
		out["agent"] = m{"id": a.ID, "info": raw(a.Info), "boot_id": a.BootID, "config_fingerprint": a.ConfigFingerprint}
	}
	var fws, exs, tasks []m
	for _, f := range st.Frameworks {
		fws = append(fws, m{"id": f.ID, "info": raw(f.Info), "checkpoint": f.Checkpoint})
	}
	for _, e := range st.Executors {
		exs = append(exs, m{"framework_id": e.FrameworkID, "executor_id": e.ExecutorID, "container_id": e.ContainerID,
			"sandbox": e.Sandbox, "info": raw(e.Info), "launched_at": ts(e.LaunchedAt), "completed": e.Completed,
			"completed_at": ts(e.CompletedAt)})
	}
	for _, task := range st.Tasks {
		var us []m
		for _, u := range task.Updates {
			us = append(us, m{"seq": u.Seq, "uuid": hex.EncodeToString(u.UUID), "state": u.State, "terminal": u.Terminal,
				"body": raw(u.Body), "created_at": ts(u.CreatedAt), "acked_at": ts(u.AckedAt)})
		}
		tasks = append(tasks, m{"framework_id": task.FrameworkID, "task_id": task.TaskID, "executor_id": task.ExecutorID,
			"container_id": task.ContainerID, "info": raw(task.Info), "state": task.State, "terminal": task.Terminal,
			"done": task.Done, "updates": us, "pending": len(task.Pending())})
	}
	var vols []m
	for _, v := range st.Volumes {
		vols = append(vols, m{"role": v.Role, "persistence_id": v.PersistenceID, "path": v.Path, "size_bytes": v.SizeBytes,
			"destroying": v.Destroying, "created_at": ts(v.CreatedAt)})
	}
	out["frameworks"], out["executors"], out["tasks"], out["volumes"] = fws, exs, tasks, vols
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// TestSchema keeps the current schema in a golden file, so that every
// schema change shows up in review.
func TestSchema(t *testing.T) {
	s := openTest(t)
	rows, err := s.db.Query(`SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY type DESC, name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "-- schema version %d (generated by TestSchema; do not edit)\n", len(migrations))
	for rows.Next() {
		var q string
		if err := rows.Scan(&q); err != nil {
			t.Fatal(err)
		}
		b.WriteString(q + ";\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, filepath.Join("testdata", "schema.golden"), []byte(b.String()))
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	rawExec(t, path, "CREATE TABLE future (x)", fmt.Sprintf("PRAGMA user_version = %d", len(migrations)+1))
	s, err := Open(context.Background(), Config{Path: path, Logger: testLogger(t)})
	if !errors.Is(err, ErrNewerSchema) {
		s.Close()
		t.Fatalf("open: %v, want ErrNewerSchema", err)
	}
	for _, want := range []string{path, "newer nodectl", fmt.Sprintf("schema version %d", len(migrations)+1)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestMigrationStepAtomic: a migration that fails halfway leaves the
// database at the previous version with none of its changes; a good one
// is applied on the next Open.
func TestMigrationStepAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	ctx := context.Background()
	cfg := Config{Path: path, Logger: testLogger(t)}
	s := openAt(t, path)
	mustLaunch(t, s, "fw", "t1")
	s.Close()

	broken := append(migrations[:len(migrations):len(migrations)], migration{"broken", func(ctx context.Context, c *sql.Conn) error {
		if _, err := c.ExecContext(ctx, "CREATE TABLE half (x); ALTER TABLE tasks ADD COLUMN extra TEXT"); err != nil {
			return err
		}
		return errors.New("boom")
	}})
	if s, err := openWith(ctx, cfg, broken); err == nil || !strings.Contains(err.Error(), "broken") {
		s.Close()
		t.Fatalf("open with a broken migration: %v", err)
	}
	s = openAt(t, path)
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'half'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("half-applied migration left table half (%d, %v)", n, err)
	}
	s.Close()

	good := append(migrations[:len(migrations):len(migrations)], migration{"add column", sqlStep("ALTER TABLE tasks ADD COLUMN extra TEXT")})
	s, err := openWith(ctx, cfg, good)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var v int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(good) {
		t.Fatalf("user_version %d (%v), want %d", v, err, len(good))
	}
	if st := mustLoad(t, s); len(st.Tasks) != 1 {
		t.Fatalf("data lost in migration: %+v", st)
	}
}

// TestMigrateV3 takes a version 2 file through the step that keys updates
// by their task's integer id: a row that breaks a CHECK rule is copied
// (recovery reports it, as before the step), and an update whose task is
// gone stops the step with a message saying so.
func TestMigrateV3(t *testing.T) {
	v2 := func(t *testing.T, stmts ...string) string {
		b, err := os.ReadFile(filepath.Join("testdata", "v2.db"))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "agent.db")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		rawExec(t, path, stmts...)
		return path
	}
	t.Run("bad row kept", func(t *testing.T) {
		path := v2(t, `UPDATE updates SET terminal = 7 WHERE task_id = 'web.1' AND seq = 2`)
		s := openAt(t, path)
		_, err := s.LoadState(context.Background(), true)
		var re *RecordError
		if !errors.As(err, &re) || re.Table != "updates" || !strings.Contains(re.Problem, "terminal") || !strings.Contains(re.Key, `"web.1"`) {
			t.Fatalf("strict load after the step: %v, want the update row with terminal 7 reported", err)
		}
		st, err := s.LoadState(context.Background(), false)
		if err != nil || len(st.Errors) != 2 || len(st.Tasks) != 1 || st.Tasks[0].TaskID != "job.1" {
			t.Fatalf("lenient load: %d errors, tasks %+v, %v; want web.1 and its update skipped", len(st.Errors), st.Tasks, err)
		}
	})
	t.Run("update without its task", func(t *testing.T) {
		path := v2(t, `INSERT INTO updates VALUES ('marathon', 'ghost', 1, x'09', 'TASK_RUNNING', 0, x'7b7d', 1, NULL)`)
		_, err := Open(context.Background(), Config{Path: path, Logger: testLogger(t)})
		if err == nil || !strings.Contains(err.Error(), "1 status updates belong to no task") || !strings.Contains(err.Error(), "version 3") {
			t.Fatalf("open: %v, want the step refused for the update without its task", err)
		}
		// Nothing of the step is left: the file is still version 2.
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var v int
		if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != 2 {
			t.Fatalf("user_version %d (%v), want 2", v, err)
		}
	})
}
