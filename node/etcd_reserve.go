package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// etcd's space reserve (docs/runtime.md "Disk").
//
// An etcd member that cannot write its WAL, snapshot or database stops
// the process: etcd treats a failed write of its own log as fatal (it logs
// "failed to save Raft hard state and entries" and exits). On a node whose
// work dir also holds the agent's sandboxes and logs, a task may fill the
// filesystem. A master therefore keeps a reserve file next to etcd's data
// (<work-dir>/etcd.reserve), fallocate'd at start when space allows. When
// the filesystem's free space drops below low, the reserve is
// released (truncated and removed) so etcd keeps writing into the space
// it gave back, and one WARN line says so; the reserve is made again once
// free space is back above low plus its size. The node's agent calls the
// disk full below that same mark (keep), so it launches nothing into the
// space meant for etcd.
//
// A filesystem can also fill faster than check runs, and a writer that
// keeps writing takes the released space as soon as etcd does. So what
// etcd writes next must not need new blocks at all: its WAL segments are
// preallocated by etcd, and its database file is padded (padDB): every
// block up to its end (bbolt grows the file with ftruncate, which leaves
// holes its next commits write into) and as much as the reserve past it
// (FALLOC_FL_KEEP_SIZE) are allocated while space allows. The padding
// belongs to the file, so no other writer can take it; it is redone
// whenever the file grows or is replaced (a defragmentation), and right
// after a release, so the released space goes to etcd's database first.

const (
	reserveMaxBytes = 64 << 20 // at most 64 MiB
	reserveFraction = 0.05     // at most 5% of the filesystem
)

// reserveCheckInterval is how often free space is measured: statfs is
// one cheap system call, and a filesystem fills quickly.
const reserveCheckInterval = 100 * time.Millisecond

// spaceReserve is the reserve file of one filesystem.
type spaceReserve struct {
	path   string
	log    *slog.Logger
	size   uint64 // of the reserve, bytes
	held   bool   // the file exists with size bytes
	db     string // etcd's database file
	padded dbFile // the database file when last padded
	err    error  // the last measuring or creating error, logged once
}

// newSpaceReserve sizes the reserve of workDir's filesystem and makes it
// if space allows. A reserve left by an earlier run is released first:
// its space is counted as free.
func newSpaceReserve(workDir, dbDir string, log *slog.Logger) (*spaceReserve, error) {
	r, err := sizeSpaceReserve(workDir, dbDir, log)
	if err != nil {
		return nil, err
	}
	return r, r.start()
}

// sizeSpaceReserve sizes the reserve of workDir's filesystem (its size
// depends on the filesystem's, not on what is free); start makes it.
func sizeSpaceReserve(workDir, dbDir string, log *slog.Logger) (*spaceReserve, error) {
	r := &spaceReserve{path: filepath.Join(workDir, "etcd.reserve"), db: etcdDBPath(dbDir), log: log}
	var st unix.Statfs_t
	if err := unix.Statfs(workDir, &st); err != nil {
		return nil, fmt.Errorf("measure the work dir's filesystem: %w", err)
	}
	r.size = min(reserveMaxBytes, uint64(reserveFraction*float64(st.Blocks*uint64(st.Bsize))))
	return r, nil
}

// start releases a reserve left by an earlier run (its space then counts
// as free) and makes it again if space allows.
func (r *spaceReserve) start() error {
	if err := r.release(); err != nil {
		return err
	}
	r.check()
	return nil
}

// low is the free space under which the reserve is released.
func (r *spaceReserve) low() uint64 { return r.size }

// keep is the free space a node's agent leaves to etcd: it refuses
// launches below it (0 without a reserve: the node runs no master).
func (r *spaceReserve) keep() uint64 {
	if r == nil {
		return 0
	}
	return r.low() + r.size
}

// check measures free space and releases or makes the reserve.
func (r *spaceReserve) check() {
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(r.path), &st); err != nil {
		r.fail("measure the work dir's filesystem", err)
		return
	}
	avail := st.Bavail * uint64(st.Bsize)
	switch {
	case r.held && avail < r.low():
		if err := r.release(); err != nil {
			r.fail("release etcd's space reserve", err)
			return
		}
		r.padded = dbFile{} // hand the released space to the database first
		r.padDB()
		r.log.Warn("work-dir filesystem almost full: released etcd's space reserve so etcd keeps writing",
			"reserve", r.path, "reserve_bytes", r.size, "free_bytes_before", avail)
	case !r.held && avail >= r.low()+r.size:
		if err := r.make(); err != nil {
			r.fail("make etcd's space reserve", err)
			return
		}
		r.log.Info("etcd's space reserve made", "reserve", r.path, "reserve_bytes", r.size, "free_bytes", avail-r.size)
	}
	r.padDB()
	r.err = nil
}

// dbFile identifies one version of etcd's database file.
type dbFile struct {
	ino  uint64
	size int64
}

// padDB allocates every block of etcd's database file up to its end and
// size bytes past it (FALLOC_FL_KEEP_SIZE: its size stays). The database
// grows by extending the file and writing into the new pages; pages
// allocated beforehand need no free space, so a filesystem filled at
// once (faster than check sees it) does not fail etcd's next commit.
// A failure (no space) is retried at the next check.
func (r *spaceReserve) padDB() {
	// The usual case, ten times a second: nothing changed since the last
	// padding, which a stat tells without opening the file.
	var st unix.Stat_t
	if unix.Stat(r.db, &st) == nil && (dbFile{ino: st.Ino, size: st.Size}) == r.padded {
		return
	}
	f, err := os.OpenFile(r.db, os.O_WRONLY, 0)
	if err != nil {
		return // not created yet, or moved by a restore: padded next time
	}
	defer f.Close()
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return
	}
	cur := dbFile{ino: st.Ino, size: st.Size}
	if cur == r.padded {
		return
	}
	// The holes below the end first: the next commit writes there.
	if st.Size > 0 && unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, 0, st.Size) != nil {
		return
	}
	if unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, st.Size, int64(r.size)) == nil {
		r.padded = cur
	}
}

// fail logs err once per run of failures.
func (r *spaceReserve) fail(what string, err error) {
	if r.err == nil {
		r.log.Warn("etcd space reserve: "+what, "reserve", r.path, "err", err)
	}
	r.err = err
}

// make creates the reserve file with its blocks allocated.
func (r *spaceReserve) make() error {
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = unix.Fallocate(int(f.Fd()), 0, 0, int64(r.size))
	if errors.Is(err, unix.EOPNOTSUPP) {
		err = writeZeros(f, r.size) // a filesystem without fallocate
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(r.path)
		return err
	}
	r.held = true
	return nil
}

func writeZeros(f *os.File, n uint64) error {
	buf := make([]byte, 1<<20)
	for n > 0 {
		k := min(n, uint64(len(buf)))
		if _, err := f.Write(buf[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// release truncates and removes the reserve file (truncating first
// frees its blocks even if something holds it open).
func (r *spaceReserve) release() error {
	if err := os.Truncate(r.path, 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Remove(r.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	r.held = false
	return nil
}

// run checks every reserveCheckInterval until ctx ends. The reserve is
// left in place: the next start releases and remakes it.
func (r *spaceReserve) run(ctx context.Context) {
	tick := time.NewTicker(reserveCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			r.check()
		}
	}
}

// etcdDBPath is the path of etcd's database (bbolt) in its data dir.
func etcdDBPath(dataDir string) string {
	return filepath.Join(dataDir, "member", "snap", "db")
}
