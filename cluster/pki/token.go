package pki

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// tokenVersion starts every join token: NDCTL1-<ca-sha256-hex>-<id>.<secret>.
const tokenVersion = "NDCTL1"

const tokensKey = keyPrefix + "tokens/"

// Why a token is refused; each has its own message.
var (
	ErrTokenMalformed = errors.New("join token malformed (want NDCTL1-<ca-hash>-<id>.<secret>)")
	ErrTokenUnknown   = errors.New("join token unknown to this cluster")
	ErrTokenSecret    = errors.New("join token secret does not match")
	ErrTokenExpired   = errors.New("join token expired")
	ErrTokenUsedUp    = errors.New("join token used up")
	ErrTokenRevoked   = errors.New("join token revoked")
	ErrTokenRole      = errors.New("join token is for another role")
	ErrWrongCA        = errors.New("join token is for another cluster CA")
)

var tokenRE = regexp.MustCompile(`^` + tokenVersion + `-([0-9a-f]{64})-([0-9a-f]{16})\.([0-9a-f]{32})$`)

// Token is a parsed join token: the CA it pins, its id (public, shown in
// token list) and its secret (stored in etcd only as a SHA-256).
type Token struct {
	CAHash, ID, Secret string
}

// ParseToken parses a token string.
func ParseToken(s string) (Token, error) {
	m := tokenRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Token{}, ErrTokenMalformed
	}
	return Token{CAHash: m[1], ID: m[2], Secret: m[3]}, nil
}

func (t Token) String() string { return tokenVersion + "-" + t.CAHash + "-" + t.ID + "." + t.Secret }

// TokenInfo is a token as stored and listed; the secret is only a hash.
type TokenInfo struct {
	ID          string    `json:"id"`
	Role        string    `json:"role"`
	Description string    `json:"description,omitempty"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires,omitzero"` // zero: never
	Uses        int       `json:"uses"`             // 0: unlimited
	Used        int       `json:"used"`
	Revoked     time.Time `json:"revoked,omitzero"`
	SecretHash  string    `json:"secret_sha256,omitempty"`
}

// State is valid, expired, used up or revoked.
func (ti TokenInfo) State(now time.Time) string {
	switch {
	case !ti.Revoked.IsZero():
		return "revoked"
	case !ti.Expires.IsZero() && !now.Before(ti.Expires):
		return "expired"
	case ti.Uses > 0 && ti.Used >= ti.Uses:
		return "used up"
	}
	return "valid"
}

// usable says why ti cannot be used now for role, or nil.
func (ti TokenInfo) usable(now time.Time, role string) error {
	switch ti.State(now) {
	case "revoked":
		return fmt.Errorf("%w: token %s was revoked at %s", ErrTokenRevoked, ti.ID, ti.Revoked.UTC().Format(time.RFC3339))
	case "expired":
		return fmt.Errorf("%w: token %s expired at %s", ErrTokenExpired, ti.ID, ti.Expires.UTC().Format(time.RFC3339))
	case "used up":
		return fmt.Errorf("%w: token %s has been used %d of %d times", ErrTokenUsedUp, ti.ID, ti.Used, ti.Uses)
	}
	if role != "" && role != ti.Role {
		return fmt.Errorf("%w: token %s is for %s nodes, not %s", ErrTokenRole, ti.ID, ti.Role, role)
	}
	return nil
}

// TokenSpec says what token to create.
type TokenSpec struct {
	Role        string        // RoleMaster or RoleAgent
	TTL         time.Duration // 0: never expires
	Uses        int           // 0: unlimited
	Description string
}

// Tokens is the join-token store in etcd. Any master can serve joins: a
// use is counted with a compare-and-swap transaction, so a token with
// Uses=1 admits one node even when several present it at once.
type Tokens struct {
	cli      *clientv3.Client
	caHash   string
	now      func() time.Time
	onSecret func(secrets ...string)
}

// NewTokens returns the token store of the cluster whose CA has caHash.
func NewTokens(cli *clientv3.Client, caHash string) *Tokens {
	return &Tokens{cli: cli, caHash: caHash, now: time.Now}
}

// NotifySecrets makes t call f with the secret of every token it creates
// or accepts (after the secret matched), so that the node can redact them
// from its logs. It returns t; call it before t is used.
func (t *Tokens) NotifySecrets(f func(secrets ...string)) *Tokens {
	t.onSecret = f
	return t
}

func (t *Tokens) notify(secret string) {
	if t.onSecret != nil {
		t.onSecret(secret)
	}
}

func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Create makes a token and returns it (the only time its secret is shown).
func (t *Tokens) Create(ctx context.Context, spec TokenSpec) (Token, TokenInfo, error) {
	if spec.Role != RoleMaster && spec.Role != RoleAgent {
		return Token{}, TokenInfo{}, fmt.Errorf("token role %q: want master or agent", spec.Role)
	}
	if spec.TTL < 0 || spec.Uses < 0 {
		return Token{}, TokenInfo{}, errors.New("token ttl and uses must not be negative")
	}
	tok := Token{CAHash: t.caHash, ID: randHex(8), Secret: randHex(16)}
	now := t.now().UTC().Truncate(time.Second)
	info := TokenInfo{ID: tok.ID, Role: spec.Role, Description: spec.Description, Created: now, Uses: spec.Uses, SecretHash: hashSecret(tok.Secret)}
	if spec.TTL > 0 {
		info.Expires = now.Add(spec.TTL)
	}
	b, _ := json.Marshal(info)
	key := tokensKey + tok.ID
	resp, err := t.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).Then(clientv3.OpPut(key, string(b))).Commit()
	if err != nil {
		return Token{}, TokenInfo{}, fmt.Errorf("store token: %w", err)
	}
	if !resp.Succeeded {
		return Token{}, TokenInfo{}, errors.New("store token: id collision; try again")
	}
	t.notify(tok.Secret)
	return tok, info.public(), nil
}

func (ti TokenInfo) public() TokenInfo {
	ti.SecretHash = ""
	return ti
}

// List returns every token, oldest first, without secret hashes.
func (t *Tokens) List(ctx context.Context) ([]TokenInfo, error) {
	resp, err := t.cli.Get(ctx, tokensKey, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out := make([]TokenInfo, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var ti TokenInfo
		if err := json.Unmarshal(kv.Value, &ti); err != nil {
			return nil, fmt.Errorf("token %s: %w", kv.Key, err)
		}
		out = append(out, ti.public())
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// casAttempts bounds compare-and-swap retries under contention.
const casAttempts = 50

// update applies f to the stored token id with compare-and-swap, retrying
// when another master changed it in between.
func (t *Tokens) update(ctx context.Context, id string, f func(*TokenInfo) error) (TokenInfo, error) {
	key := tokensKey + id
	for range casAttempts {
		resp, err := t.cli.Get(ctx, key)
		if err != nil {
			return TokenInfo{}, fmt.Errorf("read token: %w", err)
		}
		if len(resp.Kvs) == 0 {
			return TokenInfo{}, fmt.Errorf("%w: no token %s", ErrTokenUnknown, id)
		}
		kv := resp.Kvs[0]
		var ti TokenInfo
		if err := json.Unmarshal(kv.Value, &ti); err != nil {
			return TokenInfo{}, fmt.Errorf("token %s: %w", id, err)
		}
		if err := f(&ti); err != nil {
			return TokenInfo{}, err
		}
		b, _ := json.Marshal(ti)
		tx, err := t.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).Then(clientv3.OpPut(key, string(b))).Commit()
		if err != nil {
			return TokenInfo{}, fmt.Errorf("update token: %w", err)
		}
		if tx.Succeeded {
			return ti.public(), nil
		}
	}
	return TokenInfo{}, fmt.Errorf("update token %s: too much contention", id)
}

// Use checks a presented token for role and counts one use. The errors
// say why a token is refused (ErrTokenUnknown, ErrTokenSecret,
// ErrTokenRevoked, ErrTokenExpired, ErrTokenUsedUp, ErrTokenRole, ErrWrongCA).
func (t *Tokens) Use(ctx context.Context, token, role string) (TokenInfo, error) {
	tok, err := ParseToken(token)
	if err != nil {
		return TokenInfo{}, err
	}
	if tok.CAHash != t.caHash {
		return TokenInfo{}, fmt.Errorf("%w: the token pins CA %s…, this cluster's is %s…", ErrWrongCA, tok.CAHash[:16], t.caHash[:16])
	}
	ti, err := t.update(ctx, tok.ID, func(ti *TokenInfo) error {
		if subtle.ConstantTimeCompare([]byte(ti.SecretHash), []byte(hashSecret(tok.Secret))) != 1 {
			return fmt.Errorf("%w: token %s", ErrTokenSecret, tok.ID)
		}
		if err := ti.usable(t.now(), role); err != nil {
			return err
		}
		ti.Used++
		return nil
	})
	if err == nil {
		t.notify(tok.Secret)
	}
	return ti, err
}

// Refund gives back a use counted by Use when the join failed afterwards.
func (t *Tokens) Refund(ctx context.Context, id string) error {
	_, err := t.update(ctx, id, func(ti *TokenInfo) error {
		if ti.Used > 0 {
			ti.Used--
		}
		return nil
	})
	return err
}

// Revoke marks a token revoked; it stays listed, and presenting it says so.
func (t *Tokens) Revoke(ctx context.Context, id string) (TokenInfo, error) {
	return t.update(ctx, id, func(ti *TokenInfo) error {
		if ti.Revoked.IsZero() {
			ti.Revoked = t.now().UTC().Truncate(time.Second)
		}
		return nil
	})
}

// Prune deletes tokens that expired or were revoked more than keep ago
// (they have said "expired" or "revoked" to late users long enough) and
// returns how many. The leader may call it now and then.
func (t *Tokens) Prune(ctx context.Context, keep time.Duration) (int, error) {
	resp, err := t.cli.Get(ctx, tokensKey, clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("prune tokens: %w", err)
	}
	cutoff := t.now().Add(-keep)
	n := 0
	for _, kv := range resp.Kvs {
		var ti TokenInfo
		if json.Unmarshal(kv.Value, &ti) != nil {
			continue
		}
		ended := ti.Revoked
		if ended.IsZero() || (!ti.Expires.IsZero() && ti.Expires.Before(ended)) {
			ended = ti.Expires
		}
		if ended.IsZero() || ended.After(cutoff) {
			continue
		}
		// Delete only the version we judged, in case it changed since.
		tx, err := t.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision)).
			Then(clientv3.OpDelete(string(kv.Key))).Commit()
		if err != nil {
			return n, fmt.Errorf("prune tokens: %w", err)
		}
		if tx.Succeeded {
			n++
		}
	}
	return n, nil
}
