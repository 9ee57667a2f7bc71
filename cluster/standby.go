package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A standby master keeps the bulk of what it would recover as leader —
// agents, gone agents, frameworks and tasks (recordKinds) — decoded in
// memory, following etcd with a watch from the revision it read them at.
// Taking over then reads only the few single records (maintenance,
// drains, roles) instead of every task record, and decodes nothing: at
// 1,000 agents and 31,000 tasks the read and the decoding were 2 of the
// 3.3 s from a leader's kill -9 to its successor's first write.
//
// Mesos' masters recover the registry from the replicated log when they
// are elected (https://mesos.apache.org/documentation/latest/high-availability/);
// etcd's watch from a revision makes following it cheap. A change is
// decoded at most once a second per key (standbyDecodeEvery): a task that
// goes STAGING → RUNNING → FINISHED and is removed within that second
// costs the standby no decoding at all.
//
// The copy is handed over, not shared: the new leader owns the records it
// takes, and the copy ends. Each term of a master (an etcd session) has
// its own copy.

// keyStatePrefix holds every key of recordKinds.
const keyStatePrefix = "/nodectl/"

// standbyDecodeEvery is how long a changed record may wait to be decoded.
const standbyDecodeEvery = time.Second

// standbyPage is how many keys one read of the initial load returns.
const standbyPage = 5000

// standbyCopy follows the records of recordKinds for one term of a master
// that is not leading.
type standbyCopy struct {
	cli *clientv3.Client
	log *slog.Logger

	state   atomic.Int32     // standbyIdle, standbyLoading or standbyFollowing
	takes   chan standbyTake // take's requests to the following loop
	done    chan struct{}    // closed when run returns
	decoded atomic.Int64     // records decoded (a change decoded once however often it changed)
	seen    atomic.Int64     // rev, for take's stall check and log
	handing atomic.Bool      // caught up and handing over: take waits, however long

	// Owned by run's goroutine.
	recs  map[string]*spRec // by key
	dirty map[string]struct{}
	rev   int64 // every change up to rev is applied
}

const (
	standbyIdle int32 = iota
	standbyLoading
	standbyFollowing
)

// spRec is one record of the copy: raw until decoded.
type spRec struct {
	raw  []byte // nil once decoded
	val  any    // the decoded record; nil: undecodable
	kind int    // index in recordKinds
}

// standbyTake asks the following loop for the copy once it has applied
// every change up to rev.
type standbyTake struct {
	rev   int64
	reply chan *recoveredState
}

func newStandbyCopy(cli *clientv3.Client, log *slog.Logger) *standbyCopy {
	return &standbyCopy{cli: cli, log: log, takes: make(chan standbyTake), done: make(chan struct{})}
}

// run loads and follows until ctx ends or the copy is taken; a load or
// watch that fails is started again a second later.
func (s *standbyCopy) run(ctx context.Context) {
	defer close(s.done)
	for {
		s.state.Store(standbyLoading)
		err := s.follow(ctx)
		s.state.Store(standbyIdle)
		s.recs, s.dirty = nil, nil
		if errors.Is(err, errStandbyTaken) || ctx.Err() != nil {
			return
		}
		s.log.Warn("the standby's copy of the state stopped; loading it again", "err", err)
		retry := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			retry.Stop()
			return
		case t := <-s.takes:
			retry.Stop()
			t.reply <- nil
			return
		case <-retry.C:
		}
	}
}

var errStandbyTaken = errors.New("taken by the new leader")

// follow loads the records at one revision, then applies every change
// after it, decoding changed records every standbyDecodeEvery, until the
// copy is taken (errStandbyTaken) or the watch fails.
func (s *standbyCopy) follow(ctx context.Context) error {
	s.recs, s.dirty = map[string]*spRec{}, map[string]struct{}{}
	rev, err := s.load(ctx)
	if err != nil {
		return err
	}
	s.rev = rev
	s.decode()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := s.cli.Watch(wctx, keyStatePrefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithProgressNotify())
	s.state.Store(standbyFollowing)
	tick := time.NewTicker(standbyDecodeEvery)
	defer tick.Stop()
	var (
		pending *standbyTake
		ask     <-chan time.Time // while a take waits: ask etcd for progress
	)
	progress := time.NewTicker(time.Hour)
	defer progress.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case wr, ok := <-wch:
			if !ok {
				return errors.New("watch closed")
			}
			if err := wr.Err(); err != nil {
				return fmt.Errorf("watch: %w", err)
			}
			s.apply(wr)
		case <-tick.C:
			s.decode()
		case t := <-s.takes:
			pending = &t
			progress.Reset(50 * time.Millisecond)
			ask = progress.C
			_ = s.cli.RequestProgress(wctx)
		case <-ask:
			_ = s.cli.RequestProgress(wctx)
		}
		s.seen.Store(s.rev)
		if pending != nil && s.rev >= pending.rev {
			s.handing.Store(true)
			pending.reply <- s.handOver()
			return errStandbyTaken
		}
	}
}

// load reads every record of recordKinds at one revision, a page at a
// time, and returns that revision.
func (s *standbyCopy) load(ctx context.Context) (int64, error) {
	var rev int64
	for i, k := range recordKinds {
		from, end := k.prefix, clientv3.GetPrefixRangeEnd(k.prefix)
		for {
			opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(standbyPage), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend)}
			if rev != 0 {
				opts = append(opts, clientv3.WithRev(rev))
			}
			resp, err := s.cli.Get(ctx, from, opts...)
			if err != nil {
				return 0, fmt.Errorf("read %s: %w", k.prefix, err)
			}
			if rev == 0 {
				rev = resp.Header.Revision
			}
			for _, kv := range resp.Kvs {
				s.put(string(kv.Key), i, kv.Value)
			}
			if !resp.More || len(resp.Kvs) == 0 {
				break
			}
			from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		}
	}
	return rev, nil
}

func (s *standbyCopy) put(key string, kind int, raw []byte) {
	r := s.recs[key]
	if r == nil {
		r = &spRec{kind: kind}
		s.recs[key] = r
	}
	r.raw, r.val = raw, nil
	s.dirty[key] = struct{}{}
}

// apply takes one watch response: its changes, or its revision when it is
// a progress notification (every change up to it has been sent).
func (s *standbyCopy) apply(wr clientv3.WatchResponse) {
	if wr.IsProgressNotify() {
		s.rev = max(s.rev, wr.Header.Revision)
		return
	}
	for _, ev := range wr.Events {
		s.rev = max(s.rev, ev.Kv.ModRevision)
		key := string(ev.Kv.Key)
		kind := recordKind(key)
		if kind < 0 {
			continue
		}
		if ev.Type == mvccpb.DELETE {
			delete(s.recs, key)
			delete(s.dirty, key)
			continue
		}
		s.put(key, kind, ev.Kv.Value)
	}
}

// decode decodes the records changed since the last call.
func (s *standbyCopy) decode() {
	for key := range s.dirty {
		r := s.recs[key]
		if v, err := recordKinds[r.kind].decode(r.raw); err == nil {
			r.val = v
		}
		r.raw = nil
		s.decoded.Add(1)
	}
	clear(s.dirty)
}

// handOver decodes what is left and gives the records away: agents, gone
// agents and frameworks in key order, as a read of etcd returns them;
// tasks in any (restoreLocked orders them by launch).
func (s *standbyCopy) handOver() *recoveredState {
	s.decode()
	keys := make([]string, 0, len(s.recs))
	tasks := 0
	for _, r := range s.recs {
		if r.kind == taskKind {
			tasks++
		}
	}
	rec := &recoveredState{tasks: make([]*task, 0, tasks)}
	for k, r := range s.recs {
		switch {
		case r.val == nil:
			rec.skipped = append(rec.skipped, k)
		case r.kind == taskKind:
			rec.add(r.val)
		default:
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	sort.Strings(rec.skipped)
	for _, k := range keys {
		rec.add(s.recs[k].val)
	}
	s.recs, s.dirty = nil, nil
	return rec
}

// take returns the copy once it holds every change up to rev (a revision
// read after this master won the election, so after the last write of any
// earlier leader), or nil for the caller to read etcd instead: no copy, a
// copy not loaded (it is waited for while it loads: that is the same read),
// or one that stops catching up — no change applied for stall before it
// reached rev (handing over, however long, is not a stall). The caller
// ends the copy's run either way (its context).
func (s *standbyCopy) take(ctx context.Context, rev int64, stall time.Duration) *recoveredState {
	if s == nil {
		return nil
	}
	if s.state.Load() == standbyIdle {
		s.log.Info("the standby's copy of the state is not loaded: reading etcd")
		return nil
	}
	start := time.Now()
	t := standbyTake{rev: rev, reply: make(chan *recoveredState, 1)}
	select {
	case s.takes <- t:
	case <-s.done:
		return nil
	case <-ctx.Done():
		return nil
	}
	check := time.NewTicker(100 * time.Millisecond)
	defer check.Stop()
	seen, moved := s.seen.Load(), time.Now()
	for {
		select {
		case rec := <-t.reply:
			s.log.Info("took over the standby's copy of the state", "caught_up_in", time.Since(start).Round(time.Millisecond), "revision", rev)
			return rec
		case <-check.C:
			if now := s.seen.Load(); now != seen || s.handing.Load() {
				seen, moved = now, time.Now()
			} else if time.Since(moved) > stall {
				s.log.Warn("the standby's copy of the state stopped catching up with etcd: reading etcd", "waited", time.Since(start).Round(time.Millisecond), "copy_revision", seen, "wanted_revision", rev)
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}
