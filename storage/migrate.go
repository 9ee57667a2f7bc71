package storage

import (
	"context"
	"database/sql"
	"fmt"
)

// A migration moves the schema from version i to i+1, where i is its index
// in migrations; PRAGMA user_version holds the version. The rule: append
// only. A released migration is never edited or reordered, because
// databases in the field already went through it; each one has a database
// file in testdata/ (v<N>.db, written by the schema of version N) that the
// current code must open (see migrate_test.go).
type migration struct {
	name string
	up   func(ctx context.Context, c *sql.Conn) error
}

func sqlStep(stmts string) func(context.Context, *sql.Conn) error {
	return func(ctx context.Context, c *sql.Conn) error {
		_, err := c.ExecContext(ctx, stmts)
		return err
	}
}

var migrations = []migration{
	{"initial schema", sqlStep(schemaV1)},
	{"persistent volumes", sqlStep(schemaV2)},
	{"updates keyed by task row", migrateV3},
}

// schemaV1: the tables of Mesos' meta/ checkpoint. Ids are TEXT, opaque
// agent records are BLOBs of JSON, times are unix nanoseconds (0 = unset),
// booleans are 0/1.
const schemaV1 = `
CREATE TABLE agent (
	id                 INTEGER PRIMARY KEY CHECK (id = 1),
	agent_id           TEXT NOT NULL DEFAULT '',
	info               BLOB NOT NULL DEFAULT x'',
	boot_id            TEXT NOT NULL DEFAULT '',
	config_fingerprint TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE resources (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	body BLOB NOT NULL
) STRICT;

CREATE TABLE frameworks (
	framework_id TEXT PRIMARY KEY CHECK (framework_id <> ''),
	info         BLOB NOT NULL,
	checkpoint   INTEGER NOT NULL CHECK (checkpoint IN (0, 1))
) STRICT;

-- One row per executor run (container); completed is executor.sentinel.
CREATE TABLE executors (
	container_id TEXT PRIMARY KEY CHECK (container_id <> ''),
	framework_id TEXT NOT NULL REFERENCES frameworks (framework_id) ON DELETE CASCADE,
	executor_id  TEXT NOT NULL CHECK (executor_id <> ''),
	sandbox      TEXT NOT NULL,
	info         BLOB NOT NULL,
	launched_at  INTEGER NOT NULL,
	completed    INTEGER NOT NULL DEFAULT 0 CHECK (completed IN (0, 1)),
	completed_at INTEGER NOT NULL DEFAULT 0,
	UNIQUE (container_id, framework_id, executor_id)
) STRICT;
CREATE INDEX executors_framework ON executors (framework_id, executor_id);

-- state/terminal mirror the newest update; acked_seq is the end of the
-- acknowledged prefix of the stream (acks come in order); done: the
-- terminal update was acknowledged.
CREATE TABLE tasks (
	framework_id TEXT NOT NULL,
	task_id      TEXT NOT NULL CHECK (task_id <> ''),
	executor_id  TEXT NOT NULL,
	container_id TEXT NOT NULL,
	info         BLOB NOT NULL,
	state        TEXT NOT NULL CHECK (state <> ''),
	terminal     INTEGER NOT NULL CHECK (terminal IN (0, 1)),
	done         INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
	acked_seq    INTEGER NOT NULL DEFAULT 0 CHECK (acked_seq >= 0),
	PRIMARY KEY (framework_id, task_id),
	FOREIGN KEY (container_id, framework_id, executor_id)
		REFERENCES executors (container_id, framework_id, executor_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX tasks_container ON tasks (container_id, framework_id, executor_id);

-- The status-update stream of each task (task.updates); acked_at NULL =
-- pending. Clustered by stream (WITHOUT ROWID): an append writes the
-- stream's page and the uuid index, and every lookup is a seek.
CREATE TABLE updates (
	framework_id TEXT NOT NULL,
	task_id      TEXT NOT NULL,
	seq          INTEGER NOT NULL CHECK (seq > 0),
	uuid         BLOB NOT NULL CHECK (length(uuid) > 0),
	state        TEXT NOT NULL CHECK (state <> ''),
	terminal     INTEGER NOT NULL CHECK (terminal IN (0, 1)),
	body         BLOB NOT NULL,
	created_at   INTEGER NOT NULL,
	acked_at     INTEGER,
	PRIMARY KEY (framework_id, task_id, seq),
	UNIQUE (framework_id, task_id, uuid),
	FOREIGN KEY (framework_id, task_id) REFERENCES tasks (framework_id, task_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
`

// migrate applies the missing migrations, each in its own transaction,
// and returns the version found and the version reached.
func (s *Store) migrate(ctx context.Context, migs []migration) (from, to int, err error) {
	if err := s.wc.QueryRowContext(ctx, "PRAGMA user_version").Scan(&from); err != nil {
		return 0, 0, s.wrapErr("read schema version of", err)
	}
	if err := newerCheck(s.path, from, len(migs)); err != nil {
		return 0, 0, err
	}
	for v := from; v < len(migs); v++ {
		if err := s.migrateStep(ctx, migs, v); err != nil {
			return 0, 0, err
		}
	}
	return from, len(migs), nil
}

func newerCheck(path string, v, known int) error {
	if v > known {
		return fmt.Errorf("checkpoint database %s has schema version %d, this nodectl knows versions up to %d: "+
			"it was written by a newer nodectl; run that version, or remove %s and restart with --no-strict to start fresh: %w", path, v, known, path, ErrNewerSchema)
	}
	return nil
}

// migrateStep moves the schema from version v to v+1 in one transaction.
// The version is re-read inside it, so two processes opening the same
// file cannot both apply a step.
func (s *Store) migrateStep(ctx context.Context, migs []migration, v int) (err error) {
	m := migs[v]
	if _, err := s.wc.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return s.wrapErr("migrate", err)
	}
	defer func() {
		if err != nil {
			_, _ = s.wc.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	var cur int
	if err := s.wc.QueryRowContext(ctx, "PRAGMA user_version").Scan(&cur); err != nil {
		return s.wrapErr("migrate", err)
	}
	if cur != v {
		if err := newerCheck(s.path, cur, len(migs)); err != nil {
			return err
		}
		_, err := s.wc.ExecContext(ctx, "COMMIT") // another process did this step
		return err
	}
	if err := m.up(ctx, s.wc); err != nil {
		return s.wrapErr(fmt.Sprintf("migrate (to version %d, %s)", v+1, m.name), err)
	}
	// PRAGMA takes no parameters; v+1 is an int we computed.
	if _, err := s.wc.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
		return s.wrapErr("migrate", err)
	}
	if _, err := s.wc.ExecContext(ctx, "COMMIT"); err != nil {
		return s.wrapErr("migrate", err)
	}
	s.log.Info("checkpoint schema migrated", "path", s.path, "version", v+1, "migration", m.name)
	return nil
}

// schemaV3 keys each status update by its task's integer id instead of the
// task's two TEXT ids. A framework id is ~45 bytes (Mesos':
// "<uuid>-<4 digits>"), and it was repeated in every update row and in
// both of the stream's b-trees (its key and the uuid index): appending an
// update compared and wrote those strings in each. With a 45-byte
// framework id, 64 tasks updating at once checkpointed 18.3–19.8k
// updates/s with TEXT keys and 24.1–24.7k with integer ones
// (BenchmarkAppendUpdate, the two taking turns; docs/performance.md). The
// tasks table gets an explicit INTEGER PRIMARY KEY (an implicit rowid may
// change in a VACUUM), its old rowid kept.
//
// Rows that break a CHECK rule are copied as they are (LoadState reports
// them, as before); an update without its task cannot be copied (the
// foreign key made it impossible), and the migration says so.
const schemaV3 = `
CREATE TABLE tasks_v3 (
	id           INTEGER PRIMARY KEY,
	framework_id TEXT NOT NULL,
	task_id      TEXT NOT NULL CHECK (task_id <> ''),
	executor_id  TEXT NOT NULL,
	container_id TEXT NOT NULL,
	info         BLOB NOT NULL,
	state        TEXT NOT NULL CHECK (state <> ''),
	terminal     INTEGER NOT NULL CHECK (terminal IN (0, 1)),
	done         INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
	acked_seq    INTEGER NOT NULL DEFAULT 0 CHECK (acked_seq >= 0),
	UNIQUE (framework_id, task_id),
	FOREIGN KEY (container_id, framework_id, executor_id)
		REFERENCES executors (container_id, framework_id, executor_id) ON DELETE CASCADE
) STRICT;

-- task is tasks.id. Clustered by stream (WITHOUT ROWID): an append writes
-- the stream's page and the uuid index, and every lookup is a seek.
CREATE TABLE updates_v3 (
	task       INTEGER NOT NULL REFERENCES tasks_v3 (id) ON DELETE CASCADE,
	seq        INTEGER NOT NULL CHECK (seq > 0),
	uuid       BLOB NOT NULL CHECK (length(uuid) > 0),
	state      TEXT NOT NULL CHECK (state <> ''),
	terminal   INTEGER NOT NULL CHECK (terminal IN (0, 1)),
	body       BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	acked_at   INTEGER,
	PRIMARY KEY (task, seq),
	UNIQUE (task, uuid)
) STRICT, WITHOUT ROWID;

INSERT INTO tasks_v3 (id, framework_id, task_id, executor_id, container_id, info, state, terminal, done, acked_seq)
	SELECT rowid, framework_id, task_id, executor_id, container_id, info, state, terminal, done, acked_seq FROM tasks;
INSERT INTO updates_v3 (task, seq, uuid, state, terminal, body, created_at, acked_at)
	SELECT t.id, u.seq, u.uuid, u.state, u.terminal, u.body, u.created_at, u.acked_at
	FROM updates u JOIN tasks_v3 t ON t.framework_id = u.framework_id AND t.task_id = u.task_id;
DROP TABLE updates;
DROP TABLE tasks;
ALTER TABLE tasks_v3 RENAME TO tasks;
ALTER TABLE updates_v3 RENAME TO updates;
CREATE INDEX tasks_container ON tasks (container_id, framework_id, executor_id);
`

func migrateV3(ctx context.Context, c *sql.Conn) error {
	var orphans int
	if err := c.QueryRowContext(ctx, `SELECT count(*) FROM updates u
		WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.framework_id = u.framework_id AND t.task_id = u.task_id)`).Scan(&orphans); err != nil {
		return fmt.Errorf("count status updates without their task: %w", err)
	}
	if orphans > 0 {
		return fmt.Errorf("%d status updates belong to no task (the file was changed by hand?)", orphans)
	}
	// Copy rows that break a CHECK rule too: they were stored, and
	// recovery reports them record by record.
	if _, err := c.ExecContext(ctx, "PRAGMA ignore_check_constraints = ON"); err != nil {
		return fmt.Errorf("copy rows as they are: %w", err)
	}
	_, err := c.ExecContext(ctx, schemaV3)
	if _, rerr := c.ExecContext(context.Background(), "PRAGMA ignore_check_constraints = OFF"); err == nil && rerr != nil {
		err = fmt.Errorf("check constraints again: %w", rerr)
	}
	return err
}
