package cluster

import (
	"context"
	"errors"
	"testing"
	"time"
)

// sync returns only once what was added before it is committed, writing
// it itself when no loop runs; a failing store is an error, and the
// failed batch is kept for the next attempt.
func TestWriteBehindSync(t *testing.T) {
	st := newMemStore()
	w := newWriteBehind(st)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	w.put("/a", 1)
	if err := w.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if kvs, _ := st.load(ctx, "/a"); len(kvs) != 1 {
		t.Fatalf("after sync the store holds %v, want /a", kvs)
	}

	st.mu.Lock()
	st.fail = errors.New("etcd down")
	st.mu.Unlock()
	w.put("/b", 2)
	if err := w.sync(ctx); err == nil {
		t.Fatal("sync with a failing store succeeded")
	}
	if w.backlog() != 1 {
		t.Fatalf("backlog %d after a failed sync, want the put kept", w.backlog())
	}
	st.mu.Lock()
	st.fail = nil
	st.mu.Unlock()
	if err := w.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if kvs, _ := st.load(ctx, "/b"); len(kvs) != 1 {
		t.Fatalf("after the retry the store holds %v, want /b", kvs)
	}
	// Nothing pending: sync returns without a commit.
	st.mu.Lock()
	before := st.commits
	st.mu.Unlock()
	if err := w.sync(ctx); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.commits != before {
		t.Errorf("an idle sync committed %d times", st.commits-before)
	}
}
