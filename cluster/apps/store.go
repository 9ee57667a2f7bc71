package apps

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster"
)

// etcd layout, all under /nodectl/apps/:
//
//	framework-id              the framework id the master gave us
//	apps/<id with / → _>      the current definition of an app
//	versions/<id>/<version>   every stored version of an app
//	deployments/<uuid>        a running deployment
//	tasks/<task id>           a launched task (what we meant), until terminal
//
// App ids cannot contain "_", so the key escape is unambiguous.
const (
	prefix            = "/nodectl/apps/"
	keyFrameworkID    = prefix + "framework-id"
	prefixApps        = prefix + "apps/"
	prefixVersions    = prefix + "versions/"
	prefixDeployments = prefix + "deployments/"
	prefixTasks       = prefix + "tasks/"
)

// storeTimeout bounds one etcd operation. On a saturated machine (make
// test-under-load, load average 20, fsyncs queued behind other writers) a
// one-member etcd took over 5 s for a transaction, and the framework then
// resubscribed (clients got 503) although nothing was wrong: a write
// that is fenced by the term can take its time.
const storeTimeout = 15 * time.Second

func appKey(id string) string { return prefixApps + escapeID(id) }
func versionKey(id, v string) string {
	return prefixVersions + escapeID(id) + "/" + v
}
func escapeID(id string) string { return strings.ReplaceAll(strings.TrimPrefix(id, "/"), "/", "_") }

// store persists the framework's state; a nil client keeps everything in
// memory only (unit tests).
//
// With fenced set, every write is one etcd transaction If(term fence):
// the fence of the master's term in which this framework loaded its
// state (cluster.Master.Fence). Once another master leads, the compare
// fails and nothing of the write is committed (ErrLostLeadership); the
// store then calls lost, which ends the framework's term.
type store struct {
	cli    *clientv3.Client
	fenced bool
	meter  *cluster.TxnMeter // counts the writes; nil: none

	mu   sync.Mutex // guards the fields below
	cmp  *clientv3.Cmp
	lost func()
}

// setTerm starts (cmp non-nil) or ends (nil) a term's writes.
func (s *store) setTerm(cmp *clientv3.Cmp, lost func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmp, s.lost = cmp, lost
}

// commit writes ops in one transaction, fenced by the term.
func (s *store) commit(ops ...clientv3.Op) error {
	if len(ops) == 0 {
		return nil
	}
	s.meter.Record(ops) // every attempt, refused ones too
	if s.cli == nil {
		return nil
	}
	s.mu.Lock()
	cmp, lost := s.cmp, s.lost
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	txn := s.cli.Txn(ctx)
	if s.fenced {
		if cmp == nil {
			return fmt.Errorf("apps state write outside a term: %w", cluster.ErrLostLeadership)
		}
		txn = txn.If(*cmp)
	}
	resp, err := txn.Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("etcd txn: %w", err)
	}
	if !resp.Succeeded {
		if lost != nil {
			lost()
		}
		return fmt.Errorf("apps state write refused: %w", cluster.ErrLostLeadership)
	}
	return nil
}

// putOp is a put of v, JSON-encoded.
func putOp(key string, v any) (clientv3.Op, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return clientv3.Op{}, fmt.Errorf("encode %s: %w", key, err)
	}
	return clientv3.OpPut(key, string(b)), nil
}

func (s *store) put(key string, v any) error {
	op, err := putOp(key, v)
	if err != nil {
		return err
	}
	return s.commit(op)
}

func (s *store) putRaw(key, v string) error {
	return s.commit(clientv3.OpPut(key, v))
}

func (s *store) del(key string, opts ...clientv3.OpOption) error {
	return s.commit(clientv3.OpDelete(key, opts...))
}

// list returns the values under p, by key.
func (s *store) list(ctx context.Context, p string) (map[string][]byte, error) {
	out := map[string][]byte{}
	if s.cli == nil {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	resp, err := s.cli.Get(ctx, p, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", p, err)
	}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = kv.Value
	}
	return out, nil
}

// DefaultMaxVersions is how many versions of an app are kept by
// default, Marathon's --zk_max_versions default ("Limit the number of
// versions, stored for one entity", Marathon docs: command-line flags).
// Older ones are deleted as new ones are stored.
const DefaultMaxVersions = 50

// maxDropsPerWrite bounds the old versions one app write deletes in its
// transaction (etcd refuses transactions of more than 128 operations by
// default); a larger backlog (--max-versions lowered) is pruned on load.
const maxDropsPerWrite = 64

// appOps store app as the current definition and as version v, and
// delete the versions in drop: committed in one transaction (with the
// app's deployment), the version count is bounded whenever a version is
// added.
func appOps(app *App, v string, drop []string) ([]clientv3.Op, error) {
	b, err := json.Marshal(app)
	if err != nil {
		return nil, fmt.Errorf("encode app %s: %w", app.ID, err)
	}
	ops := []clientv3.Op{clientv3.OpPut(appKey(app.ID), string(b)), clientv3.OpPut(versionKey(app.ID, v), string(b))}
	for _, old := range drop {
		ops = append(ops, clientv3.OpDelete(versionKey(app.ID, old)))
	}
	return ops, nil
}

// splitVersions sorts vs (oldest first) and splits off the oldest beyond
// the newest keep; keep < 1 keeps everything.
func splitVersions(vs []string, keep int) (kept, drop []string) {
	sort.Strings(vs) // timestamps of one width: lexical is chronological
	if keep < 1 || len(vs) <= keep {
		return vs, nil
	}
	n := len(vs) - keep
	return vs[n:], vs[:n]
}

// pruneVersions deletes, per app, the versions beyond the newest keep
// (deletes are allowed even while etcd's NOSPACE alarm is raised) and
// returns what is left and how many it deleted.
func (s *store) pruneVersions(ctx context.Context, versions map[string][]string, keep int) (map[string][]string, int, error) {
	out := make(map[string][]string, len(versions))
	deleted := 0
	for id, vs := range versions {
		kept, drop := splitVersions(vs, keep)
		out[id] = kept
		if s.cli == nil {
			continue
		}
		for len(drop) > 0 {
			n := min(len(drop), 100)
			ops := make([]clientv3.Op, 0, n)
			for _, v := range drop[:n] {
				ops = append(ops, clientv3.OpDelete(versionKey(id, v)))
			}
			if err := s.commit(ops...); err != nil {
				return versions, deleted, fmt.Errorf("prune versions of %s: %w", id, err)
			}
			deleted += n
			drop = drop[n:]
		}
	}
	return out, deleted, nil
}

// listVersions lists every app's stored versions (keys only: the bodies
// may be large).
func (s *store) listVersions(ctx context.Context) (map[string][]string, error) {
	out := map[string][]string{}
	if s.cli == nil {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	resp, err := s.cli.Get(ctx, prefixVersions, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefixVersions, err)
	}
	for _, kv := range resp.Kvs {
		addVersion(out, string(kv.Key))
	}
	return out, nil
}

// addVersion adds a version key's app id and version to m.
func addVersion(m map[string][]string, key string) {
	esc, ver, ok := strings.Cut(strings.TrimPrefix(key, prefixVersions), "/")
	if ok {
		id := "/" + strings.ReplaceAll(esc, "_", "/")
		m[id] = append(m[id], ver)
	}
}

// PruneVersions deletes the stored app versions beyond the newest keep
// per app, straight in etcd: the recovery of a full database uses it
// before compacting (a leader also prunes when it loads the state). It
// returns how many versions it deleted.
func PruneVersions(ctx context.Context, cli *clientv3.Client, keep int) (int, error) {
	s := &store{cli: cli}
	vs, err := s.listVersions(ctx)
	if err != nil {
		return 0, err
	}
	_, n, err := s.pruneVersions(ctx, vs, keep)
	return n, err
}

// snapshot is everything load needs.
type snapshot struct {
	frameworkID string
	apps        []*App
	versions    map[string][]string // app id → versions
	deployments []*Deployment
	tasks       []*task
}

func (s *store) load(ctx context.Context) (snapshot, error) {
	snap := snapshot{versions: map[string][]string{}}
	if s.cli == nil {
		return snap, nil
	}
	// One read of one revision; versions by key only (their bodies may be
	// large and are read on demand).
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	resp, err := s.cli.Txn(ctx).Then(
		clientv3.OpGet(keyFrameworkID),
		clientv3.OpGet(prefixApps, clientv3.WithPrefix()),
		clientv3.OpGet(prefixDeployments, clientv3.WithPrefix()),
		clientv3.OpGet(prefixTasks, clientv3.WithPrefix()),
		clientv3.OpGet(prefixVersions, clientv3.WithPrefix(), clientv3.WithKeysOnly()),
	).Commit()
	if err != nil {
		return snap, fmt.Errorf("load %s: %w", prefix, err)
	}
	all := map[string][]byte{}
	for i, r := range resp.Responses {
		for _, kv := range r.GetResponseRange().Kvs {
			if i == len(resp.Responses)-1 {
				addVersion(snap.versions, string(kv.Key))
				continue
			}
			all[string(kv.Key)] = kv.Value
		}
	}
	for k, v := range all {
		switch {
		case k == keyFrameworkID:
			snap.frameworkID = string(v)
		case strings.HasPrefix(k, prefixApps):
			var a App
			if err := json.Unmarshal(v, &a); err != nil {
				return snap, fmt.Errorf("decode %s: %w", k, err)
			}
			a.normalize()
			snap.apps = append(snap.apps, &a)
		case strings.HasPrefix(k, prefixDeployments):
			var d Deployment
			if err := json.Unmarshal(v, &d); err != nil {
				return snap, fmt.Errorf("decode %s: %w", k, err)
			}
			snap.deployments = append(snap.deployments, &d)
		case strings.HasPrefix(k, prefixTasks):
			var t task
			if err := json.Unmarshal(v, &t); err != nil {
				return snap, fmt.Errorf("decode %s: %w", k, err)
			}
			snap.tasks = append(snap.tasks, &t)
		}
	}
	return snap, nil
}
