package cluster

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// campaign is etcd's election recipe, the same keys as
// concurrency.Election (so Observe works on them): a key per session under
// the prefix; the lowest create revision leads. It differs in one way that
// matters without quorum: a cancelled campaign gives up at once (the
// session's lease cleans the key up) instead of waiting forever, as
// concurrency.Election.Campaign does, to resign. won is a revision read
// after every earlier key was gone: no earlier leader's fenced write can
// come after it.
func campaign(ctx context.Context, cli *clientv3.Client, sess *concurrency.Session, prefix, val string) (key string, rev, won int64, err error) {
	key = fmt.Sprintf("%s/%x", prefix, sess.Lease())
	cmp := clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
	put := clientv3.OpPut(key, val, clientv3.WithLease(sess.Lease()))
	resp, err := cli.Txn(ctx).If(cmp).Then(put).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return "", 0, 0, fmt.Errorf("put election key: %w", err)
	}
	rev = resp.Header.Revision
	if !resp.Succeeded {
		kv := resp.Responses[0].GetResponseRange().Kvs[0]
		rev = kv.CreateRevision
		if string(kv.Value) != val {
			if _, err := cli.Put(ctx, key, val, clientv3.WithLease(sess.Lease())); err != nil {
				return "", 0, 0, fmt.Errorf("update election key: %w", err)
			}
		}
	}
	// Wait until every key created before ours is gone.
	for {
		opts := append(clientv3.WithLastCreate(), clientv3.WithMaxCreateRev(rev-1))
		gr, err := cli.Get(ctx, prefix+"/", opts...)
		if err != nil {
			resign(cli, key)
			return "", 0, 0, fmt.Errorf("campaign: %w", err)
		}
		if len(gr.Kvs) == 0 {
			return key, rev, gr.Header.Revision, nil
		}
		if err := waitDelete(ctx, cli, string(gr.Kvs[0].Key), gr.Header.Revision); err != nil {
			resign(cli, key)
			return "", 0, 0, fmt.Errorf("campaign: %w", err)
		}
	}
}

// waitDelete returns once key is deleted after revision rev.
func waitDelete(ctx context.Context, cli *clientv3.Client, key string, rev int64) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for wr := range cli.Watch(wctx, key, clientv3.WithRev(rev+1)) {
		if err := wr.Err(); err != nil {
			return err
		}
		for _, ev := range wr.Events {
			if ev.Type == mvccpb.Event_DELETE {
				return nil
			}
		}
	}
	return ctx.Err()
}

// resign deletes the election key, bounded: without quorum it gives up
// and leaves the key to its lease.
func resign(cli *clientv3.Client, key string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = cli.Delete(ctx, key)
}
