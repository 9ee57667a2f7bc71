package cluster

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"sort"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster/api"
)

// standbyFeed plays a store's changes to a standby copy as etcd's watch
// would: a put per new or changed record, a delete per removed one, each
// at the next revision.
type standbyFeed struct {
	st   *memStore
	last map[string][]byte
	rev  int64
}

func (f *standbyFeed) snapshot() map[string][]byte {
	f.st.mu.Lock()
	defer f.st.mu.Unlock()
	return maps.Clone(f.st.data)
}

// changes is the watch response for what changed since the last call.
func (f *standbyFeed) changes() clientv3.WatchResponse {
	now := f.snapshot()
	var evs []*clientv3.Event
	for _, k := range slices.Sorted(maps.Keys(now)) {
		if old, ok := f.last[k]; !ok || string(old) != string(now[k]) {
			f.rev++
			evs = append(evs, &clientv3.Event{Type: mvccpb.PUT, Kv: &mvccpb.KeyValue{Key: []byte(k), Value: now[k], ModRevision: f.rev}})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(f.last)) {
		if _, ok := now[k]; !ok {
			f.rev++
			evs = append(evs, &clientv3.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte(k), ModRevision: f.rev}})
		}
	}
	f.last = now
	return clientv3.WatchResponse{Header: &etcdserverpb.ResponseHeader{Revision: f.rev}, Events: evs}
}

// A standby's copy, loaded once and then fed the changes as a watch
// would, hands over exactly what a new leader reads from etcd: agents,
// frameworks and tasks, launched, finished and removed after the load;
// an undecodable record reported as skipped; other keys ignored.
func TestStandbyCopyMatchesARead(t *testing.T) {
	h := newHarness(t)
	a1 := h.agent("a1", "cpus:4;mem:1024")
	f := h.subscribe(api.FrameworkInfo{Name: "fw"})
	f.launch(f.offer(), mkTask("t1", "cpus:1;mem:64"), mkTask("t2", "cpus:1;mem:64"))
	h.report(a1, f.id(), "t1", api.TaskRunning)
	h.flush()

	s := newStandbyCopy(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.recs, s.dirty = map[string]*spRec{}, map[string]struct{}{}
	feed := &standbyFeed{st: h.st}
	s.apply(feed.changes()) // the load: every record once
	s.decode()

	// After the load: a second agent, a task finished, new tasks, one
	// record that does not decode, and a key of no recorded kind.
	a2 := h.agent("a2", "cpus:4;mem:1024")
	h.report(a1, f.id(), "t1", api.TaskFinished)
	h.report(a1, f.id(), "t2", api.TaskRunning)
	f.launch(f.offers()[0], mkTask("t3", "cpus:1;mem:64"))
	h.flush()
	h.st.mu.Lock()
	h.st.data[keyTasksPrefix+f.id()+"/broken"] = []byte("{not json")
	h.st.data["/nodectl/masters/m9"] = []byte(`{}`)
	h.st.mu.Unlock()
	s.apply(feed.changes())
	// Progress past the last change: the copy knows it is up to date there.
	s.apply(clientv3.WatchResponse{Header: &etcdserverpb.ResponseHeader{Revision: feed.rev + 5}})
	if s.rev != feed.rev+5 {
		t.Fatalf("copy at revision %d after a progress notification at %d", s.rev, feed.rev+5)
	}

	ctx := context.Background()
	want, err := loadState(ctx, h.st, nil)
	must(t, err)
	warm := s.handOver()
	got, err := loadState(ctx, h.st, warm)
	must(t, err)
	for _, rec := range []*recoveredState{&want, &got} {
		sort.Slice(rec.tasks, func(i, j int) bool { return rec.tasks[i].id() < rec.tasks[j].id() })
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("standby copy:\n%+v\nread of the store:\n%+v", got, want)
	}
	if len(got.agents) != 2 || len(got.frameworks) != 1 || len(got.tasks) != 3 || !slices.Contains(got.skipped, keyTasksPrefix+f.id()+"/broken") {
		t.Errorf("copy has %d agents, %d frameworks, %d tasks, skipped %v; want 2, 1, 3 and the broken record", len(got.agents), len(got.frameworks), len(got.tasks), got.skipped)
	}
	if s.recs != nil {
		t.Error("the copy kept its records after handing them over")
	}

	// The new leader restores from the copy as from a read.
	h.m.stepDown()
	must(t, h.m.becomeLeaderFrom(ctx, h.st, nil, func() *recoveredState { return warm }))
	if st := h.taskState(f.id(), "t2"); st != api.TaskRunning {
		t.Errorf("t2 %s after taking over from the copy, want TASK_RUNNING", st)
	}
	if got := h.m.agents[a2]; got == nil {
		t.Errorf("agent %s missing after taking over from the copy", a2)
	}
}

// A record that changes many times between two decodes is decoded once,
// and one removed before it is decoded not at all.
func TestStandbyCopyDecodesEachChangeOnce(t *testing.T) {
	s := newStandbyCopy(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.recs, s.dirty = map[string]*spRec{}, map[string]struct{}{}
	task := func(rev int64, id, state string) *clientv3.Event {
		v := `{"info":{"name":"` + id + `","task_id":{"value":"` + id + `"}},"framework_id":"fw","state":"` + state + `"}`
		return &clientv3.Event{Type: mvccpb.PUT, Kv: &mvccpb.KeyValue{Key: []byte(keyTasksPrefix + "fw/" + id), Value: []byte(v), ModRevision: rev}}
	}
	s.apply(clientv3.WatchResponse{Events: []*clientv3.Event{
		task(1, "a", "TASK_STAGING"), task(2, "a", "TASK_RUNNING"), task(3, "a", "TASK_FINISHED"),
		task(4, "b", "TASK_STAGING"),
		{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte(keyTasksPrefix + "fw/b"), ModRevision: 5}},
	}})
	s.decode()
	if n := s.decoded.Load(); n != 1 {
		t.Errorf("%d decodes, want 1 (a once, b never)", n)
	}
	rec := s.handOver()
	if len(rec.tasks) != 1 || rec.tasks[0].state != api.TaskFinished {
		t.Errorf("tasks %+v, want a, TASK_FINISHED", rec.tasks)
	}
	if s.rev != 5 {
		t.Errorf("copy at revision %d, want 5", s.rev)
	}
}
