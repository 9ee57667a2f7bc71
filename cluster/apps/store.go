package apps

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
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

// storeTimeout bounds one etcd operation.
const storeTimeout = 5 * time.Second

func appKey(id string) string { return prefixApps + escapeID(id) }
func versionKey(id, v string) string {
	return prefixVersions + escapeID(id) + "/" + v
}
func escapeID(id string) string { return strings.ReplaceAll(strings.TrimPrefix(id, "/"), "/", "_") }

// store persists the framework's state; a nil client keeps everything in
// memory only (unit tests).
type store struct {
	cli *clientv3.Client
}

func (s store) put(key string, v any) error {
	if s.cli == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if _, err := s.cli.Put(ctx, key, string(b)); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

func (s store) putRaw(key, v string) error {
	if s.cli == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if _, err := s.cli.Put(ctx, key, v); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

func (s store) del(key string, opts ...clientv3.OpOption) error {
	if s.cli == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if _, err := s.cli.Delete(ctx, key, opts...); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// list returns the values under p, by key.
func (s store) list(ctx context.Context, p string) (map[string][]byte, error) {
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

// snapshot is everything load needs.
type snapshot struct {
	frameworkID string
	apps        []*App
	versions    map[string][]string // app id → versions
	deployments []*Deployment
	tasks       []*task
}

func (s store) load(ctx context.Context) (snapshot, error) {
	snap := snapshot{versions: map[string][]string{}}
	all, err := s.list(ctx, prefix)
	if err != nil {
		return snap, err
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
		case strings.HasPrefix(k, prefixVersions):
			rest := strings.TrimPrefix(k, prefixVersions)
			esc, ver, ok := strings.Cut(rest, "/")
			if ok {
				id := "/" + strings.ReplaceAll(esc, "_", "/")
				snap.versions[id] = append(snap.versions[id], ver)
			}
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
