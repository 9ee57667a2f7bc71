package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
)

// Config configures a Store. Zero values are the documented defaults.
type Config struct {
	// Path is the database file; required. Its directory is created.
	Path string
	// Logger; default slog.Default().
	Logger *slog.Logger
	// BusyTimeout is how long a statement waits for a lock another
	// process holds; default 5s.
	BusyTimeout time.Duration
	// MaxBatch is the most writes one group commit holds; default 512.
	MaxBatch int
	// DiscardCorrupt moves a damaged database file aside (renamed to
	// <Path>.corrupt-<unix time>) and starts with an empty one, instead of
	// failing Open. The agent sets it for --no-strict.
	DiscardCorrupt bool
}

// Store is an open checkpoint database. Its methods are safe for
// concurrent use.
type Store struct {
	path string
	log  *slog.Logger
	db   *sql.DB   // readers use the pool
	wc   *sql.Conn // the one writer connection, owned by writeLoop after Open

	// stmts are prepared on wc; used only by whoever owns wc. Close
	// closes them but keeps the map (tests read its keys).
	stmts map[string]*sql.Stmt

	mu     sync.RWMutex // guards closed and sending on ops
	closed bool
	ops    chan *op
	wdone  chan struct{} // closed when writeLoop has exited

	maxBatch int
	commits  atomic.Int64
	writes   atomic.Int64
}

// Stats counts group commits.
type Stats struct {
	Commits int64 // transactions committed (each one fsync)
	Writes  int64 // write calls those transactions carried
}

// Stats reports how many writes were committed in how many transactions.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.commits.Load(), Writes: s.writes.Load()}
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Open opens (creating if needed) the database at cfg.Path, checks it,
// and migrates it to the current schema.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	return openWith(ctx, cfg, migrations)
}

func openWith(ctx context.Context, cfg Config, migs []migration) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("storage config: Path is required")
	}
	if strings.ContainsAny(cfg.Path, "?#") {
		return nil, fmt.Errorf("storage config: path %q must not contain '?' or '#'", cfg.Path)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BusyTimeout <= 0 {
		cfg.BusyTimeout = 5 * time.Second
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 512
	}
	log := cfg.Logger.With("subsystem", "storage")
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o700); err != nil {
		return nil, fmt.Errorf("open checkpoint store: %w", err)
	}
	s, err := open(ctx, cfg, log, migs)
	if err == nil || !cfg.DiscardCorrupt || !errors.Is(err, ErrCorrupt) {
		return s, err
	}
	aside := fmt.Sprintf("%s.corrupt-%d", cfg.Path, time.Now().Unix())
	if rerr := moveAside(cfg.Path, aside); rerr != nil {
		return nil, fmt.Errorf("%w; moving it aside: %v", err, rerr)
	}
	log.Warn("checkpoint database damaged; moved aside, starting fresh", "path", cfg.Path, "moved_to", aside, "err", err)
	return open(ctx, cfg, log, migs)
}

// walAutocheckpoint (pages) and cacheKiB are the store's WAL checkpoint
// interval and page cache per connection; see open.
const (
	walAutocheckpoint = 8000
	cacheKiB          = 8000
)

func open(ctx context.Context, cfg Config, log *slog.Logger, migs []migration) (_ *Store, err error) {
	s := &Store{path: cfg.Path, log: log, stmts: map[string]*sql.Stmt{}, maxBatch: cfg.MaxBatch}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	// The WAL is copied back into the database every walAutocheckpoint
	// pages instead of sqlite's 1,000: a page written by many commits
	// (the tasks table's, the update streams' inner pages) is copied once
	// per checkpoint, and the checkpoint's fsync is paid an eighth as often.
	// The writer's page cache (cacheKiB, set below) keeps the streams'
	// pages that every update reads and rewrites out of pread. With both,
	// the group commit of 64 tasks updating at once went 15.4k → 19.6k
	// updates/s (make bench, docs/performance.md).
	// https://www.sqlite.org/pragma.html#pragma_wal_autocheckpoint
	dsn := fmt.Sprintf("%s?_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"+
		"&_pragma=wal_autocheckpoint(%d)",
		cfg.Path, cfg.BusyTimeout.Milliseconds(), walAutocheckpoint)
	if s.db, err = sql.Open("sqlite", dsn); err != nil {
		return nil, fmt.Errorf("open checkpoint store %s: %w", cfg.Path, err)
	}
	// One writer connection plus a few readers; keep them all open so the
	// per-connection pragmas run once.
	s.db.SetMaxOpenConns(4)
	s.db.SetMaxIdleConns(4)
	if s.wc, err = s.db.Conn(ctx); err != nil {
		return nil, s.wrapErr("open", err)
	}
	var mode string
	if err := s.wc.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return nil, s.wrapErr("read journal mode of", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return nil, fmt.Errorf("open checkpoint store %s: journal_mode is %q, want wal", cfg.Path, mode)
	}
	if err := s.quickCheck(ctx); err != nil {
		return nil, err
	}
	from, to, err := s.migrate(ctx, migs)
	if err != nil {
		return nil, err
	}
	// Only the writer gets the big page cache, and only now: quick_check
	// read every page through it, which stayed cached (and, freed, in
	// sqlite's allocator) for the node's life; readers (LoadState at a
	// restart, the operator endpoints) keep sqlite's 2 MB. The node's idle
	// RSS after make bench's churn: 41.3–41.6 MiB with every connection at
	// cacheKiB, 39.5–40.0 MiB so (docs/performance.md).
	for _, q := range []string{"PRAGMA shrink_memory", fmt.Sprintf("PRAGMA cache_size(-%d)", cacheKiB)} {
		if _, err := s.wc.ExecContext(ctx, q); err != nil {
			return nil, s.wrapErr("set the page cache of", err)
		}
	}
	s.ops = make(chan *op, cfg.MaxBatch)
	s.wdone = make(chan struct{})
	go s.writeLoop()
	log.Info("checkpoint store open", "path", cfg.Path, "schema_version", to, "migrated_from", from)
	return s, nil
}

// quickCheck runs PRAGMA quick_check: a damaged file is reported at Open,
// before the agent acts on anything read from it. quick_check also
// reports rows that break a CHECK, NOT NULL or column type rule; those are
// bad records, not a damaged file, and LoadState deals with them one by
// one (strict: an error naming the row; lenient: skipped).
func (s *Store) quickCheck(ctx context.Context) error {
	rows, err := s.wc.QueryContext(ctx, "PRAGMA quick_check(100)")
	if err != nil {
		return s.wrapErr("check", err)
	}
	defer rows.Close()
	var damage, bad []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return s.wrapErr("check", err)
		}
		switch {
		case m == "ok":
		case rowLevel(m):
			bad = append(bad, m)
		default:
			damage = append(damage, m)
		}
	}
	if err := rows.Err(); err != nil {
		return s.wrapErr("check", err)
	}
	if len(damage) > 0 {
		return &CorruptError{Path: s.path, Detail: "integrity check: " + strings.Join(damage[:min(len(damage), 5)], "; ")}
	}
	if len(bad) > 0 {
		s.log.Warn("checkpoint has records that break the schema's rules; recovery will report them",
			"path", s.path, "problems", bad)
	}
	return nil
}

// rowLevel tells quick_check's messages about single rows' values from
// those about the file's structure.
func rowLevel(msg string) bool {
	for _, p := range []string{"CHECK constraint failed", "NULL value in ", "non-"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// SQLite result codes that mean the file itself is damaged.
const (
	sqliteCorrupt = 11 // SQLITE_CORRUPT: database disk image is malformed
	sqliteNotADB  = 26 // SQLITE_NOTADB: file is not a database
	// SQLITE_CONSTRAINT_UNIQUE (https://www.sqlite.org/rescode.html#constraint_unique)
	sqliteConstraintUnique = 2067
)

// wrapErr names the file and turns sqlite's corruption codes into a
// *CorruptError.
func (s *Store) wrapErr(verb string, err error) error {
	if c := s.classify(err); c != err {
		return c
	}
	return fmt.Errorf("%s checkpoint store %s: %w", verb, s.path, err)
}

// classify turns sqlite's corruption codes into a *CorruptError and
// leaves other errors alone.
func (s *Store) classify(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		if c := se.Code() & 0xff; c == sqliteCorrupt || c == sqliteNotADB {
			return &CorruptError{Path: s.path, Detail: se.Error(), Err: err}
		}
	}
	return err
}

// Close waits for queued writes, then closes the database. It works on a
// half-open store and may be called more than once.
func (s *Store) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	already := s.closed
	s.closed = true
	if !already && s.ops != nil {
		close(s.ops)
	}
	s.mu.Unlock()
	if already {
		return nil
	}
	if s.wdone != nil {
		<-s.wdone
	}
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	if s.wc != nil {
		errs = append(errs, s.wc.Close())
	}
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close checkpoint store %s: %w", s.path, err)
	}
	return nil
}

// moveAside renames the database and its WAL and shared-memory files.
func moveAside(path, to string) error {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		err := os.Rename(path+suffix, to+suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}
