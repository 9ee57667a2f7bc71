package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrLostLeadership is returned by a store write whose fence (the leader's
// election key) no longer holds: another master leads now.
var ErrLostLeadership = errors.New("lost leadership")

// opKind is what a store op does to its key.
type opKind int

const (
	opPut opKind = iota
	opDelete
	opDeletePrefix
)

// op is one write. Val is marshalled to JSON when the batch is committed,
// so callers hand over a value they will not modify afterwards.
type op struct {
	kind opKind
	key  string
	val  any
	enc  []byte // val encoded, set by etcdStore.commit before it splits a batch
}

// kv is one loaded record.
type kv struct {
	key string
	val []byte
}

// store is what the master needs from etcd: prefix reads when it takes
// over, and ordered batches of writes, each batch atomic.
type store interface {
	load(ctx context.Context, prefix string) ([]kv, error)
	commit(ctx context.Context, ops []op) error
}

// maxTxnOps is etcd's default --max-txn-ops.
const maxTxnOps = 128

// maxTxnBytes bounds the keys and values of one transaction: etcd refuses
// a request over its --max-request-bytes (default 1.5 MiB), less room for
// the request's framing.
const maxTxnBytes = 1536<<10 - 64<<10

// etcdStore writes in transactions fenced by the leader's election key:
// a deposed leader's writes fail instead of overwriting its successor's.
type etcdStore struct {
	cli      *clientv3.Client
	fenceKey string
	fenceRev int64
	meter    *TxnMeter // counts the writes (txnmeter.go); nil: none
}

func (s *etcdStore) load(ctx context.Context, prefix string) ([]kv, error) {
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", prefix, err)
	}
	out := make([]kv, len(resp.Kvs))
	for i, x := range resp.Kvs {
		out[i] = kv{key: string(x.Key), val: x.Value}
	}
	return out, nil
}

func (s *etcdStore) commit(ctx context.Context, ops []op) error {
	encoded := make([]op, len(ops))
	for i, o := range ops {
		if o.kind == opPut {
			b, err := json.Marshal(o.val)
			if err != nil {
				return fmt.Errorf("encode %s: %w", o.key, err)
			}
			o.enc = b
		}
		encoded[i] = o
	}
	for _, chunk := range chunkOps(encoded) {
		thens := make([]clientv3.Op, 0, len(chunk))
		for _, o := range chunk {
			switch o.kind {
			case opPut:
				thens = append(thens, clientv3.OpPut(o.key, string(o.enc)))
			case opDelete:
				thens = append(thens, clientv3.OpDelete(o.key))
			case opDeletePrefix:
				thens = append(thens, clientv3.OpDelete(o.key, clientv3.WithPrefix()))
			}
		}
		txn := s.cli.Txn(ctx)
		if s.fenceKey != "" {
			txn = txn.If(clientv3.Compare(clientv3.CreateRevision(s.fenceKey), "=", s.fenceRev))
		}
		s.meter.Record(thens)
		resp, err := txn.Then(thens...).Commit()
		if err != nil {
			return fmt.Errorf("etcd txn: %w", err)
		}
		if !resp.Succeeded {
			return ErrLostLeadership
		}
	}
	return nil
}

// chunkOps splits ops, in order, into etcd transactions: at most maxTxnOps
// and maxTxnBytes (of keys and encoded values) each, and no two ops of one
// transaction touching the same key (etcd refuses that).
func chunkOps(ops []op) [][]op {
	var out [][]op
	var cur []op
	keys := map[string]bool{}
	var prefixes []string
	size := 0
	conflicts := func(o op) bool {
		if len(cur) >= maxTxnOps || len(cur) > 0 && size+len(o.key)+len(o.enc) > maxTxnBytes {
			return true
		}
		for _, p := range prefixes {
			if strings.HasPrefix(o.key, p) {
				return true
			}
		}
		if o.kind == opDeletePrefix {
			for k := range keys {
				if strings.HasPrefix(k, o.key) {
					return true
				}
			}
			return false
		}
		return keys[o.key]
	}
	for _, o := range ops {
		if conflicts(o) {
			out = append(out, cur)
			cur, keys, prefixes, size = nil, map[string]bool{}, nil, 0
		}
		cur = append(cur, o)
		size += len(o.key) + len(o.enc)
		if o.kind == opDeletePrefix {
			prefixes = append(prefixes, o.key)
		} else {
			keys[o.key] = true
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// memStore is an in-memory store for tests.
type memStore struct {
	mu      sync.Mutex // guards data and commits
	data    map[string][]byte
	commits int
	fail    error // returned by commit when set
}

func newMemStore() *memStore { return &memStore{data: map[string][]byte{}} }

func (s *memStore) load(_ context.Context, prefix string) ([]kv, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []kv
	for k, v := range s.data {
		if strings.HasPrefix(k, prefix) {
			out = append(out, kv{k, v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, nil
}

func (s *memStore) commit(_ context.Context, ops []op) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.commits++
	for _, o := range ops {
		switch o.kind {
		case opPut:
			b, err := json.Marshal(o.val)
			if err != nil {
				return err
			}
			s.data[o.key] = b
		case opDelete:
			delete(s.data, o.key)
		case opDeletePrefix:
			for k := range s.data {
				if strings.HasPrefix(k, o.key) {
					delete(s.data, k)
				}
			}
		}
	}
	return nil
}

func (s *memStore) keys(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.data {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// writeBehind queues the leader's state changes and commits them in
// batches: one etcd transaction carries every change made while the
// previous one was in flight (group commit), and a key changed twice in
// that time is written once. Writes keep their order.
type writeBehind struct {
	st store

	flushing sync.Mutex // one flush at a time, so batches commit in order

	mu        sync.Mutex // guards the fields below
	pending   []op
	idx       map[string]int // key → its put/delete in pending
	added     uint64         // ops ever added
	committed uint64         // ops ever added that are in etcd
	wake      chan struct{}
}

func newWriteBehind(st store) *writeBehind {
	return &writeBehind{st: st, idx: map[string]int{}, wake: make(chan struct{}, 1)}
}

// sync returns once everything added before the call is in etcd,
// committing it itself if the loop has not yet: for an answer that must
// not be given before its state is durable (a framework's SUBSCRIBED).
func (w *writeBehind) sync(ctx context.Context) error {
	w.mu.Lock()
	target := w.added
	w.mu.Unlock()
	for {
		w.mu.Lock()
		done := w.committed >= target
		w.mu.Unlock()
		if done {
			return nil
		}
		if err := w.flush(ctx); err != nil {
			return fmt.Errorf("state not yet written: %w", err)
		}
	}
}

func (w *writeBehind) add(o op) {
	w.mu.Lock()
	w.added++
	switch o.kind {
	case opDeletePrefix:
		// Later writes under the prefix must land after the delete.
		clear(w.idx)
		w.pending = append(w.pending, o)
	default:
		if i, ok := w.idx[o.key]; ok {
			w.pending[i] = o
		} else {
			w.idx[o.key] = len(w.pending)
			w.pending = append(w.pending, o)
		}
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *writeBehind) put(key string, val any) { w.add(op{kind: opPut, key: key, val: val}) }
func (w *writeBehind) del(key string)          { w.add(op{kind: opDelete, key: key}) }
func (w *writeBehind) delPrefix(prefix string) { w.add(op{kind: opDeletePrefix, key: prefix}) }

// flush commits what is pending. On error the batch is put back in front
// of newer writes, to be retried.
func (w *writeBehind) flush(ctx context.Context) error {
	w.flushing.Lock()
	defer w.flushing.Unlock()
	w.mu.Lock()
	batch := w.pending
	upto := w.added
	w.pending, w.idx = nil, map[string]int{}
	if len(batch) == 0 {
		w.committed = upto // nothing pending: all that was added is in
		w.mu.Unlock()
		return nil
	}
	w.mu.Unlock()
	err := w.st.commit(ctx, batch)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.committed = upto
	}
	if err != nil {
		// Re-queue the failed batch ahead of what came in meanwhile; newer
		// values of the same keys still win because they come later.
		w.pending = append(batch, w.pending...)
		w.idx = map[string]int{}
		for i, o := range w.pending {
			if o.kind == opDeletePrefix {
				clear(w.idx)
				continue
			}
			w.idx[o.key] = i
		}
		return err
	}
	return nil
}

// run commits batches until ctx ends, then makes one last attempt to write
// what is left. Losing leadership, or etcd failing for longer than
// giveUp, ends it with an error (the master then steps down, as a Mesos
// master exits when its registry fails).
func (w *writeBehind) run(ctx context.Context, giveUp time.Duration) error {
	var failingSince time.Time
	backoff := 50 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := w.flush(fctx); err != nil && !errors.Is(err, ErrLostLeadership) {
				return fmt.Errorf("final state write: %w", err)
			}
			return nil
		case <-w.wake:
		}
		err := w.flush(ctx)
		switch {
		case err == nil:
			failingSince, backoff = time.Time{}, 50*time.Millisecond
			continue
		case errors.Is(err, ErrLostLeadership):
			return err
		case ctx.Err() != nil:
			continue
		}
		if failingSince.IsZero() {
			failingSince = time.Now()
		} else if time.Since(failingSince) > giveUp {
			return fmt.Errorf("state store failing for %s: %w", giveUp, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// backlog is how many ops wait to be written.
func (w *writeBehind) backlog() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}
