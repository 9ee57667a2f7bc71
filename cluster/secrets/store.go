package secrets

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster/api"
)

// Prefix is the etcd prefix of the store: Prefix + path without its
// leading "/" is one secret.
const Prefix = "/nodectl/secrets/"

// Info is the AEAD purpose the key is derived for (pki.Authority.AEAD).
const Info = "nodectl secret store v1"

// MaxValue bounds a secret's value (DC/OS' store takes up to 1 MB; etcd
// values should stay small).
const MaxValue = 64 << 10

// storeTimeout bounds one etcd operation.
const storeTimeout = 5 * time.Second

// Errors of the store.
var (
	ErrNotFound = api.ErrSecretMissing
	ErrBadPath  = api.Kind(api.ErrValidation, "invalid secret path")
	ErrBadValue = api.Kind(api.ErrValidation, "invalid secret value")
	// ErrCorrupt: a stored value does not open under the cluster key.
	ErrCorrupt = errors.New("secret cannot be unsealed (wrong cluster secret or corrupted record)")
)

// segment is one path segment: Marathon-app-id-like characters, never
// "." or ".." (a segment starts with a letter or digit).
var segment = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// CleanPath validates a secret path and returns its canonical form with
// one leading "/" ("db/password" and "/db/password" are the same secret).
func CleanPath(p string) (string, error) {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return "", fmt.Errorf("%w: empty", ErrBadPath)
	}
	if len(p) > 255 {
		return "", fmt.Errorf("%w: longer than 255 characters", ErrBadPath)
	}
	for _, s := range strings.Split(p, "/") {
		if !segment.MatchString(s) {
			return "", fmt.Errorf("%w: %q: each segment is letters, digits, '.', '_', '-', starting with a letter or digit", ErrBadPath, "/"+p)
		}
	}
	return "/" + p, nil
}

// record is one secret as stored.
type record struct {
	Sealed  []byte    `json:"sealed"` // nonce || AES-GCM ciphertext, the path as AAD
	Updated time.Time `json:"updated"`
}

// Entry is a secret as listed: its path and when it was last written.
type Entry struct {
	Path    string    `json:"path"`
	Updated time.Time `json:"updated"`
}

// Store is the secret store over etcd.
type Store struct {
	cli  *clientv3.Client
	aead cipher.AEAD
	now  func() time.Time
}

// NewStore returns a store in cli sealing with aead.
func NewStore(cli *clientv3.Client, aead cipher.AEAD) (*Store, error) {
	if cli == nil || aead == nil {
		return nil, errors.New("secrets: an etcd client and an AEAD are required")
	}
	return &Store{cli: cli, aead: aead, now: time.Now}, nil
}

func key(path string) string { return Prefix + strings.TrimPrefix(path, "/") }

// Put creates or replaces the secret at path; created says which.
func (s *Store) Put(ctx context.Context, path string, value []byte) (created bool, err error) {
	path, err = CleanPath(path)
	if err != nil {
		return false, err
	}
	switch {
	case len(value) == 0:
		return false, fmt.Errorf("%w: empty", ErrBadValue)
	case len(value) > MaxValue:
		return false, fmt.Errorf("%w: %d bytes, more than %d", ErrBadValue, len(value), MaxValue)
	}
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	rec, err := json.Marshal(record{Sealed: s.aead.Seal(nonce, nonce, value, []byte(path)), Updated: s.now().UTC()})
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	resp, err := s.cli.Put(ctx, key(path), string(rec), clientv3.WithPrevKV())
	if err != nil {
		return false, fmt.Errorf("store secret %s: %w", path, err)
	}
	return resp.PrevKv == nil, nil
}

// Get returns the value of the secret at path (ErrNotFound if none).
func (s *Store) Get(ctx context.Context, path string) ([]byte, error) {
	path, err := CleanPath(path)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	resp, err := s.cli.Get(ctx, key(path))
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", path, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, ErrNotFound
	}
	var rec record
	if err := json.Unmarshal(resp.Kvs[0].Value, &rec); err != nil || len(rec.Sealed) < s.aead.NonceSize() {
		return nil, ErrCorrupt
	}
	n := s.aead.NonceSize()
	v, err := s.aead.Open(nil, rec.Sealed[:n], rec.Sealed[n:], []byte(path))
	if err != nil {
		return nil, ErrCorrupt
	}
	return v, nil
}

// Delete removes the secret at path (ErrNotFound if none).
func (s *Store) Delete(ctx context.Context, path string) error {
	path, err := CleanPath(path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	resp, err := s.cli.Delete(ctx, key(path))
	if err != nil {
		return fmt.Errorf("delete secret %s: %w", path, err)
	}
	if resp.Deleted == 0 {
		return ErrNotFound
	}
	return nil
}

// List returns every secret's path and update time, sorted by path;
// never a value.
func (s *Store) List(ctx context.Context) ([]Entry, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	resp, err := s.cli.Get(ctx, Prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	out := make([]Entry, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var rec record
		_ = json.Unmarshal(kv.Value, &rec)
		out = append(out, Entry{Path: "/" + strings.TrimPrefix(string(kv.Key), Prefix), Updated: rec.Updated})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}
