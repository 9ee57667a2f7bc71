package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/crypto/argon2"

	"nodectl/cluster/api"
)

// etcd keys of users and sessions.
const (
	keyUsersPrefix    = "/nodectl/auth/users/"
	keySessionsPrefix = "/nodectl/auth/sessions/"
)

// Errors of the user store.
var (
	ErrUserExists  = api.Kind(api.ErrConflict, "user exists")
	ErrNoUser      = api.Kind(api.ErrNotFound, "no such user")
	ErrInvalidUser = api.Kind(api.ErrValidation, "invalid user")
)

// User is a principal kept in etcd. Its secret is stored only as an
// argon2id hash (RFC 9106), never in clear.
type User struct {
	Principal string    `json:"principal"`
	Hash      string    `json:"hash,omitempty"`
	Apps      []string  `json:"apps,omitempty"`
	Superuser bool      `json:"superuser,omitempty"`
	Created   time.Time `json:"created"`
}

// UserView is a user as the API shows it: no hash.
type UserView struct {
	Principal string    `json:"principal"`
	Apps      []string  `json:"apps,omitempty"`
	Superuser bool      `json:"superuser,omitempty"`
	Created   time.Time `json:"created"`
}

// View is u without its hash.
func (u User) View() UserView {
	return UserView{Principal: u.Principal, Apps: u.Apps, Superuser: u.Superuser, Created: u.Created}
}

// principalRE is a principal's characters; ValidPrincipal bounds its
// length (a {0,127} in the regexp compiled 127 copies of its class at
// every nodectl start, CLI commands included).
var principalRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]*$`)

// ValidPrincipal checks a principal's name.
func ValidPrincipal(name string) error {
	if len(name) > 128 || !principalRE.MatchString(name) {
		return fmt.Errorf("%w: principal %q: 1-128 of letters, digits, '.', '_', '@', '-', starting with a letter or digit", ErrInvalidUser, name)
	}
	return nil
}

// MinSecretLen is the shortest secret a user may have.
const MinSecretLen = 12

// ValidApps checks app id prefixes ("/team-a", "/team-a/*").
func ValidApps(apps []string) error {
	for _, a := range apps {
		if !strings.HasPrefix(a, "/") || strings.Contains(a, "//") || strings.ContainsAny(a, " \t\n") {
			return fmt.Errorf("%w: app prefix %q must be an absolute group path like /team-a", ErrInvalidUser, a)
		}
	}
	return nil
}

// argon2id parameters (RFC 9106's second recommended option, sized for
// a login per request being cached: see verifyCache).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
)

// HashSecret returns the encoded argon2id hash of secret.
func HashSecret(secret string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	k := argon2.IDKey([]byte(secret), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(k)), nil
}

// checkHash reports whether secret matches an encoded argon2id hash.
func checkHash(encoded, secret string) bool {
	f := strings.Split(encoded, "$")
	if len(f) != 6 || f[1] != "argon2id" {
		return false
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(f[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(f[4])
	want, err2 := b64.DecodeString(f[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(secret), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked against for unknown principals, so that a wrong
// principal costs as much as a wrong secret. It is a constant, made once
// with HashSecret and today's parameters (TestDummyHashParameters keeps
// them in step): computing it at package init cost every nodectl process,
// each CLI command included, an argon2id hash (19 MiB, tens of ms) at
// start-up. Its secret matching is of no use: the result is ignored.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$00K6LfmeW6kJWvt93RyZCQ$qRXbtKpeo/Up9ErvLfHWn09q839AQlsNKTL7OA3Cx0o"

// Users is the user store: users in etcd, mirrored in memory by a watch
// (Run), with verified secrets cached so that HTTP Basic does not pay an
// argon2id hash per request.
type Users struct {
	cli *clientv3.Client

	mu     sync.Mutex
	users  map[string]User     // guarded by mu
	loaded bool                // guarded by mu
	ok     map[string][32]byte // principal → sha256(secret) verified against the current hash; guarded by mu
}

// NewUsers returns a store on cli (nil: no users, as in tests without etcd).
func NewUsers(cli *clientv3.Client) *Users {
	return &Users{cli: cli, users: map[string]User{}, ok: map[string][32]byte{}}
}

// Run loads the users and follows changes until ctx ends.
func (u *Users) Run(ctx context.Context) error {
	if u.cli == nil {
		<-ctx.Done()
		return nil
	}
	for ctx.Err() == nil {
		rev, err := u.load(ctx)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		wch := u.cli.Watch(clientv3.WithRequireLeader(ctx), keyUsersPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for resp := range wch {
			if resp.Err() != nil {
				break
			}
			u.mu.Lock()
			for _, ev := range resp.Events {
				name := strings.TrimPrefix(string(ev.Kv.Key), keyUsersPrefix)
				delete(u.ok, name)
				if ev.Type == clientv3.EventTypeDelete {
					delete(u.users, name)
					continue
				}
				var x User
				if json.Unmarshal(ev.Kv.Value, &x) == nil {
					u.users[name] = x
				}
			}
			u.mu.Unlock()
		}
	}
	return nil
}

func (u *Users) load(ctx context.Context) (int64, error) {
	resp, err := u.cli.Get(ctx, keyUsersPrefix, clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("load users: %w", err)
	}
	m := map[string]User{}
	for _, kv := range resp.Kvs {
		var x User
		if json.Unmarshal(kv.Value, &x) == nil {
			m[x.Principal] = x
		}
	}
	u.mu.Lock()
	u.users, u.ok, u.loaded = m, map[string][32]byte{}, true
	u.mu.Unlock()
	return resp.Header.Revision, nil
}

// lookup returns the user named name; it reads etcd when the mirror has
// not loaded yet or does not know the name: a user created a moment ago
// (on this master or another) authenticates at once, before the watch
// brings it into the mirror. Unknown principals then cost one etcd read
// beside the dummy hash check they already pay.
func (u *Users) lookup(ctx context.Context, name string) (User, bool) {
	u.mu.Lock()
	x, ok := u.users[name]
	u.mu.Unlock()
	if ok || u.cli == nil {
		return x, ok
	}
	return u.read(ctx, name)
}

// read returns user name as etcd has it now.
func (u *Users) read(ctx context.Context, name string) (User, bool) {
	var x User
	resp, err := u.cli.Get(ctx, keyUsersPrefix+name)
	if err != nil || len(resp.Kvs) == 0 {
		return User{}, false
	}
	if json.Unmarshal(resp.Kvs[0].Value, &x) != nil {
		return User{}, false
	}
	return x, true
}

// check verifies a principal's secret: known says whether the user
// exists. Unknown users cost one hash too.
func (u *Users) check(ctx context.Context, name, secret string) (x User, known, ok bool) {
	x, known = u.lookup(ctx, name)
	if !known {
		checkHash(dummyHash, secret)
		return User{}, false, false
	}
	d := sha256.Sum256([]byte(secret))
	u.mu.Lock()
	cached, hit := u.ok[name]
	u.mu.Unlock()
	if hit && subtle.ConstantTimeCompare(cached[:], d[:]) == 1 {
		return x, true, true
	}
	if !checkHash(x.Hash, secret) {
		// The mirror may hold a hash the secret was changed from a
		// moment ago: check against etcd's when it differs.
		if u.cli == nil {
			return x, true, false
		}
		fresh, still := u.read(ctx, name)
		if !still || fresh.Hash == x.Hash || !checkHash(fresh.Hash, secret) {
			return x, true, false
		}
		x = fresh
	}
	u.mu.Lock()
	if cur, still := u.users[name]; !u.loaded || still && cur.Hash == x.Hash {
		u.ok[name] = d
	}
	u.mu.Unlock()
	return x, true, true
}

// List returns every user.
func (u *Users) List(ctx context.Context) ([]User, error) {
	resp, err := u.cli.Get(ctx, keyUsersPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	var out []User
	for _, kv := range resp.Kvs {
		var x User
		if err := json.Unmarshal(kv.Value, &x); err != nil {
			return nil, fmt.Errorf("user %s: %w", kv.Key, err)
		}
		out = append(out, x)
	}
	return out, nil
}

// Add creates a user; ErrUserExists if the principal is taken.
func (u *Users) Add(ctx context.Context, x User, secret string) error {
	if err := validUser(x); err != nil {
		return err
	}
	if len(secret) < MinSecretLen {
		return fmt.Errorf("%w: a secret needs at least %d characters", ErrInvalidUser, MinSecretLen)
	}
	h, err := HashSecret(secret)
	if err != nil {
		return err
	}
	x.Hash = h
	return u.create(ctx, x)
}

// AddHashed creates user x whose x.Hash is HashSecret's of its secret
// (made ahead: the hash costs tens of milliseconds of CPU).
func (u *Users) AddHashed(ctx context.Context, x User) error {
	if err := validUser(x); err != nil {
		return err
	}
	if !strings.HasPrefix(x.Hash, "$argon2id$") {
		return fmt.Errorf("%w: no argon2id hash of a secret", ErrInvalidUser)
	}
	return u.create(ctx, x)
}

func validUser(x User) error {
	if err := ValidPrincipal(x.Principal); err != nil {
		return err
	}
	return ValidApps(x.Apps)
}

// create stores the valid, hashed user x unless its principal is taken.
func (u *Users) create(ctx context.Context, x User) error {
	if x.Created.IsZero() {
		x.Created = time.Now().UTC().Truncate(time.Second)
	}
	b, _ := json.Marshal(x)
	key := keyUsersPrefix + x.Principal
	resp, err := u.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).Then(clientv3.OpPut(key, string(b))).Commit()
	if err != nil {
		return fmt.Errorf("add user: %w", err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%w: %s", ErrUserExists, x.Principal)
	}
	return nil
}

// Update changes a user's secret (when secret != "") and app prefixes
// (when apps != nil); a new secret ends the user's sessions.
func (u *Users) Update(ctx context.Context, name, secret string, apps *[]string) error {
	key := keyUsersPrefix + name
	resp, err := u.cli.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return fmt.Errorf("%w: %s", ErrNoUser, name)
	}
	var x User
	if err := json.Unmarshal(resp.Kvs[0].Value, &x); err != nil {
		return fmt.Errorf("user %s: %w", name, err)
	}
	if secret != "" {
		if len(secret) < MinSecretLen {
			return fmt.Errorf("%w: a secret needs at least %d characters", ErrInvalidUser, MinSecretLen)
		}
		if x.Hash, err = HashSecret(secret); err != nil {
			return err
		}
	}
	if apps != nil {
		if err := ValidApps(*apps); err != nil {
			return err
		}
		x.Apps = *apps
	}
	b, _ := json.Marshal(x)
	t, err := u.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision)).Then(clientv3.OpPut(key, string(b))).Commit()
	if err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	if !t.Succeeded {
		return fmt.Errorf("update user %s: changed meanwhile; retry", name)
	}
	if secret != "" {
		return endSessionsOf(ctx, u.cli, name)
	}
	return nil
}

// Remove deletes a user and ends its sessions.
func (u *Users) Remove(ctx context.Context, name string) error {
	resp, err := u.cli.Delete(ctx, keyUsersPrefix+name)
	if err != nil {
		return fmt.Errorf("remove user: %w", err)
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("%w: %s", ErrNoUser, name)
	}
	return endSessionsOf(ctx, u.cli, name)
}

// Exists reports whether any user exists (first start creates the admin).
func (u *Users) Exists(ctx context.Context, name string) (bool, error) {
	resp, err := u.cli.Get(ctx, keyUsersPrefix+name, clientv3.WithCountOnly())
	if err != nil {
		return false, err
	}
	return resp.Count > 0, nil
}
