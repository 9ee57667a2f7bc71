package embed

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// ErrBadSnapshot wraps every reason a snapshot file is refused.
var ErrBadSnapshot = errors.New("bad snapshot")

// KeyValue is one live key of a snapshot.
type KeyValue struct {
	Key, Value []byte
	// Leased keys belonged to a session (an election entry, a master's
	// presence); they are meaningless after a restore.
	Leased bool
}

// SnapshotInfo describes a verified snapshot.
type SnapshotInfo struct {
	Size     int64 `json:"size"`
	Keys     int   `json:"keys"`     // live keys
	Revision int64 `json:"revision"` // highest revision in the file
}

// revision keys in the "key" bucket: 8 bytes main, '_', 8 bytes sub, and
// a trailing 't' on a deletion (tombstone).
const (
	revBytesLen   = 8 + 1 + 8
	markTombstone = 't'
)

// VerifySnapshot checks a snapshot written by etcd's maintenance API: the
// SHA-256 trailer etcd appends must match, and the database must open and
// decode. It returns what the snapshot holds.
func VerifySnapshot(path string) (SnapshotInfo, error) {
	kvs, info, err := readSnapshot(path)
	if err != nil {
		return SnapshotInfo{}, err
	}
	info.Keys = len(kvs)
	return info, nil
}

// ReadSnapshot returns the live keys of a verified snapshot, in key order.
func ReadSnapshot(path string) ([]KeyValue, error) {
	kvs, _, err := readSnapshot(path)
	return kvs, err
}

func readSnapshot(path string) ([]KeyValue, SnapshotInfo, error) {
	var info SnapshotInfo
	f, err := os.Open(path)
	if err != nil {
		return nil, info, fmt.Errorf("open snapshot: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, info, fmt.Errorf("stat snapshot: %w", err)
	}
	info.Size = st.Size()
	// etcd pads the database to whole pages and appends the SHA-256 of it.
	if info.Size%512 != sha256.Size || info.Size < 512 {
		return nil, info, fmt.Errorf("%w: %s: size %d has no SHA-256 trailer", ErrBadSnapshot, path, info.Size)
	}
	n := info.Size - sha256.Size
	// The database without its trailer goes to a private copy: bbolt wants
	// a file it may map, and the original stays untouched.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".verify-*.db")
	if err != nil {
		tmp, err = os.CreateTemp("", "nodectl-verify-*.db")
		if err != nil {
			return nil, info, fmt.Errorf("verify snapshot: %w", err)
		}
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(f, n)); err != nil {
		return nil, info, fmt.Errorf("copy snapshot: %w", err)
	}
	want := make([]byte, sha256.Size)
	if _, err := io.ReadFull(f, want); err != nil {
		return nil, info, fmt.Errorf("read snapshot trailer: %w", err)
	}
	if !bytes.Equal(h.Sum(nil), want) {
		return nil, info, fmt.Errorf("%w: %s: SHA-256 mismatch (corrupted or truncated)", ErrBadSnapshot, path)
	}
	if err := tmp.Close(); err != nil {
		return nil, info, fmt.Errorf("verify snapshot: %w", err)
	}
	db, err := bolt.Open(tmp.Name(), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return nil, info, fmt.Errorf("%w: %s: %w", ErrBadSnapshot, path, err)
	}
	defer db.Close()
	live := map[string]KeyValue{}
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("key"))
		if b == nil {
			return errors.New("no key bucket")
		}
		// Revisions sort byte-wise in order, so the last write of a key wins.
		return b.ForEach(func(k, v []byte) error {
			if len(k) < revBytesLen {
				return fmt.Errorf("revision key of %d bytes", len(k))
			}
			var kv mvccpb.KeyValue
			if err := proto.Unmarshal(v, &kv); err != nil {
				return fmt.Errorf("decode revision: %w", err)
			}
			info.Revision = max(info.Revision, kv.ModRevision)
			if len(k) > revBytesLen && k[revBytesLen] == markTombstone {
				delete(live, string(kv.Key))
				return nil
			}
			live[string(kv.Key)] = KeyValue{Key: kv.Key, Value: kv.Value, Leased: kv.Lease != 0}
			return nil
		})
	})
	if err != nil {
		return nil, info, fmt.Errorf("%w: %s: %w", ErrBadSnapshot, path, err)
	}
	out := make([]KeyValue, 0, len(live))
	for _, kv := range live {
		out = append(out, kv)
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].Key, out[j].Key) < 0 })
	return out, info, nil
}
