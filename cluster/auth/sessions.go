package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// SessionCookie is the web UI's session cookie.
const SessionCookie = "nodectl_session"

// DefaultSessionTTL is how long a session lives.
const DefaultSessionTTL = 12 * time.Hour

// sessionRecheck is how long a master trusts a session it has checked in
// etcd before it looks again (a logout on another master ends the session
// there within this time; on this master at once).
const sessionRecheck = 5 * time.Second

// session is what etcd keeps of a session, under the SHA-256 of its token
// (the token itself is only in the browser's cookie).
type session struct {
	Principal string    `json:"principal"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
}

type cachedSession struct {
	s       session
	checked time.Time
}

// Sessions are the web UI's sessions, in etcd with a lease each, so any
// master can check them and a logout revokes them everywhere.
type Sessions struct {
	cli *clientv3.Client
	ttl time.Duration

	mu    sync.Mutex
	cache map[string]cachedSession // key hash → session; guarded by mu
}

// NewSessions returns the session store on cli.
func NewSessions(cli *clientv3.Client, ttl time.Duration) *Sessions {
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	return &Sessions{cli: cli, ttl: ttl, cache: map[string]cachedSession{}}
}

func sessionKey(token string) string {
	h := sha256.Sum256([]byte(token))
	return keySessionsPrefix + hex.EncodeToString(h[:])
}

// Create starts a session for principal and returns its token.
func (s *Sessions) Create(ctx context.Context, principal string) (token string, expires time.Time, err error) {
	if s.cli == nil {
		return "", time.Time{}, fmt.Errorf("sessions need etcd")
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", time.Time{}, err
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	now := time.Now().UTC()
	rec := session{Principal: principal, Created: now.Truncate(time.Second), Expires: now.Add(s.ttl).Truncate(time.Second)}
	lease, err := s.cli.Grant(ctx, int64(s.ttl/time.Second)+1)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("create session: %w", err)
	}
	v, _ := json.Marshal(rec)
	if _, err := s.cli.Put(ctx, sessionKey(token), string(v), clientv3.WithLease(lease.ID)); err != nil {
		return "", time.Time{}, fmt.Errorf("create session: %w", err)
	}
	return token, rec.Expires, nil
}

// Lookup returns the principal name of a live session.
func (s *Sessions) Lookup(ctx context.Context, token string) (string, bool) {
	if s.cli == nil || token == "" || len(token) > 128 {
		return "", false
	}
	key := sessionKey(token)
	now := time.Now()
	s.mu.Lock()
	c, hit := s.cache[key]
	s.mu.Unlock()
	if hit && now.Sub(c.checked) < sessionRecheck && now.Before(c.s.Expires) {
		return c.s.Principal, true
	}
	resp, err := s.cli.Get(ctx, key)
	if err != nil || len(resp.Kvs) == 0 {
		s.forget(key)
		return "", false
	}
	var rec session
	if json.Unmarshal(resp.Kvs[0].Value, &rec) != nil || !now.Before(rec.Expires) {
		s.forget(key)
		return "", false
	}
	s.mu.Lock()
	if len(s.cache) > 10000 { // bounded: drop everything, re-check on use
		s.cache = map[string]cachedSession{}
	}
	s.cache[key] = cachedSession{s: rec, checked: now}
	s.mu.Unlock()
	return rec.Principal, true
}

func (s *Sessions) forget(key string) {
	s.mu.Lock()
	delete(s.cache, key)
	s.mu.Unlock()
}

// End revokes a session.
func (s *Sessions) End(ctx context.Context, token string) error {
	key := sessionKey(token)
	s.forget(key)
	if s.cli == nil {
		return nil
	}
	if _, err := s.cli.Delete(ctx, key); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// endSessionsOf revokes every session of principal.
func endSessionsOf(ctx context.Context, cli *clientv3.Client, principal string) error {
	resp, err := cli.Get(ctx, keySessionsPrefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("end sessions of %s: %w", principal, err)
	}
	for _, kv := range resp.Kvs {
		var rec session
		if json.Unmarshal(kv.Value, &rec) == nil && rec.Principal == principal {
			if _, err := cli.Delete(ctx, string(kv.Key)); err != nil {
				return fmt.Errorf("end sessions of %s: %w", principal, err)
			}
		}
	}
	return nil
}
