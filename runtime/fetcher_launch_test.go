package runtime

import (
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
	"nodectl/runtime/internal/container/containertest"
)

func fetchLaunch(id, cmd string, uris ...api.CommandURI) *api.AgentMessage {
	m := launchMessage(id, cmd, "")
	m.Launch.Task.Command.URIs = uris
	return m
}

// A task's URIs are in its sandbox when its command runs; a URI that
// cannot be fetched ends the task TASK_FAILED/REASON_FETCHER_FAILED from
// the agent, naming the URI, without running it.
func TestFetchLaunch(t *testing.T) {
	srv := newFileServer(t, map[string][]byte{"/app.tgz": archive(t, archiveTarGz), "/run.sh": []byte("#!/bin/sh\ncat dir/a.txt b.txt\n")})
	a, ctx := killTestAgent(t)
	a.dispatch(ctx, fetchLaunch("ok", `test "$(./run.sh)" = AB`,
		api.CommandURI{Value: srv.URL + "/app.tgz"}, api.CommandURI{Value: srv.URL + "/run.sh", Executable: true}))
	if last := awaitTerminal(t, a, "ok"); last.State != api.TaskFinished {
		t.Fatalf("task with fetched files ended %s/%s: %s", last.State, last.Reason, last.Message)
	}
	bad := srv.URL + "/missing.tgz"
	a.dispatch(ctx, fetchLaunch("bad", "true", api.CommandURI{Value: bad}))
	last := awaitTerminal(t, a, "bad")
	if last.State != api.TaskFailed || last.Reason != api.ReasonFetcherFailed || last.Source != api.SourceAgent || !strings.Contains(last.Message, bad) {
		t.Fatalf("unfetchable URI: task ended %s/%s from %s (%q), want TASK_FAILED/%s from the agent naming %s", last.State, last.Reason, last.Source, last.Message, api.ReasonFetcherFailed, bad)
	}
	for _, st := range taskStatuses(a, "bad") {
		if st.State == api.TaskRunning {
			t.Error("the task ran although its URI was not fetched")
		}
	}
}

// A KILL during a fetch ends the task TASK_KILLED (killed during launch)
// and stops the download: the server sees its client go away. The fetch
// does not wait for (or hold) a start slot: it runs while every slot is
// taken.
func TestKillDuringFetch(t *testing.T) {
	srv := newFileServer(t, map[string][]byte{"/slow.tgz": []byte("never")})
	srv.hold["/slow.tgz"] = make(chan struct{})
	a, ctx := killTestAgent(t)
	for range cap(a.starts) {
		a.starts <- struct{}{}
	}
	defer func() {
		for range cap(a.starts) {
			<-a.starts
		}
	}()
	for _, cache := range []bool{false, true} {
		id := "fetch-" + map[bool]string{false: "direct", true: "cached"}[cache]
		a.dispatch(ctx, fetchLaunch(id, "sleep 1000", api.CommandURI{Value: srv.URL + "/slow.tgz", Cache: cache}))
		waitOrEnded(t, a, id, func() bool { return srv.count("/slow.tgz") > 0 })
		a.dispatch(ctx, killMessage(id))
		requireKilledDuringLaunch(t, a, id)
		containertest.Eventually(t, time.Minute, func() bool { return len(srv.gone) > 0 }, "the download was not stopped")
		<-srv.gone
		srv.mu.Lock()
		srv.hits = map[string]int{}
		srv.mu.Unlock()
	}
}
