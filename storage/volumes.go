package storage

import (
	"context"
	"fmt"
	"time"
)

// schemaV2 adds the agent's persistent volumes: one row per volume
// directory, so that a restart knows which directories are volumes and can
// finish a DESTROY that a crash interrupted (destroying = 1: the master no
// longer has the volume and the directory is being removed).
const schemaV2 = `
CREATE TABLE volumes (
	role           TEXT NOT NULL CHECK (role <> ''),
	persistence_id TEXT NOT NULL CHECK (persistence_id <> ''),
	path           TEXT NOT NULL CHECK (path <> ''),
	size_bytes     INTEGER NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
	destroying     INTEGER NOT NULL DEFAULT 0 CHECK (destroying IN (0, 1)),
	created_at     INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (role, persistence_id)
) STRICT;
`

var volumeCols = []string{"role", "persistence_id", "path", "size_bytes", "destroying", "created_at"}

// Volume is one persistent volume directory of the agent.
type Volume struct {
	Role          string
	PersistenceID string
	Path          string // host directory
	SizeBytes     int64
	Destroying    bool
	CreatedAt     time.Time
}

func (v Volume) check() error {
	return firstErr(checkID("volume role", v.Role), checkID("persistence id", v.PersistenceID),
		checkID("volume path", v.Path), nonNegative("volume size", v.SizeBytes))
}

func nonNegative(what string, n int64) error {
	if n < 0 {
		return fmt.Errorf("%s %d is negative", what, n)
	}
	return nil
}

// PutVolume inserts a volume or replaces its record.
func (s *Store) PutVolume(ctx context.Context, v Volume) error {
	if err := v.check(); err != nil {
		return fmt.Errorf("put volume: %w: %v", ErrInvalid, err)
	}
	return s.write(ctx, func(w *wtx) error {
		return w.exec(`INSERT INTO volumes (role, persistence_id, path, size_bytes, destroying, created_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (role, persistence_id) DO UPDATE SET path = excluded.path, size_bytes = excluded.size_bytes,
				destroying = excluded.destroying`,
			v.Role, v.PersistenceID, v.Path, v.SizeBytes, v.Destroying, toNanos(v.CreatedAt))
	})
}

// DeleteVolume forgets a volume whose directory is gone.
func (s *Store) DeleteVolume(ctx context.Context, role, persistenceID string) error {
	return s.write(ctx, func(w *wtx) error {
		return w.exec(`DELETE FROM volumes WHERE role = ? AND persistence_id = ?`, role, persistenceID)
	})
}

// assembleVolumes decodes the volumes table.
func assembleVolumes(rows []rawRow, bad func(rawRow, string, error)) []Volume {
	var out []Volume
	for _, r := range rows {
		d := &rowDec{cols: volumeCols, r: r}
		v := Volume{Role: d.text(0), PersistenceID: d.text(1), Path: d.text(2), SizeBytes: d.int(3),
			Destroying: d.bool(4), CreatedAt: fromNanos(d.time(5))}
		if err := firstErr(d.err, v.check()); err != nil {
			bad(r, key(volumeCols, r, 0, 1), err)
			continue
		}
		out = append(out, v)
	}
	return out
}
