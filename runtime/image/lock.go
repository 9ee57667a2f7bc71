package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// The store has two flock(2) locks. Each acquisition opens its own file
// description, so they exclude goroutines of one process as well as other
// processes.
//
//	lock        shared: anything that writes blobs or layers, or reads them
//	            (Pull, Load, Import, PrepareRootfs, List, Get)
//	            exclusive: GC, so it never deletes what a writer just wrote
//	index.lock  exclusive, briefly: read-modify-write of index.json
//
// Order: lock before index.lock.
type fileLock struct{ f *os.File }

func (s *Store) lockShared(ctx context.Context) (*fileLock, error) {
	return acquire(ctx, filepath.Join(s.dir, "lock"), unix.LOCK_SH)
}

func (s *Store) lockExclusive(ctx context.Context) (*fileLock, error) {
	return acquire(ctx, filepath.Join(s.dir, "lock"), unix.LOCK_EX)
}

func (s *Store) lockIndex(ctx context.Context) (*fileLock, error) {
	return acquire(ctx, filepath.Join(s.dir, "index.lock"), unix.LOCK_EX)
}

// acquire takes a flock on path, polling so that ctx can cancel the wait.
func acquire(ctx context.Context, path string, how int) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	wait := time.Millisecond
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			return &fileLock{f: f}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
		case <-t.C:
		}
		wait = min(wait*2, 100*time.Millisecond)
	}
}

// unlock releases the lock; closing the file drops the flock.
func (l *fileLock) unlock() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
