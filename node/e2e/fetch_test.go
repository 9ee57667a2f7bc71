package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestAppsFetch: through the Marathon API and the real binary, an app's
// `fetch` (an archive extracted, an executable with a destPath, cached
// for its two instances: one download) is in the sandbox when its cmd
// runs, which reads it; the legacy `uris` are fetched too; a URI the
// server does not have fails the task with a message naming it, and so
// does a 1 GiB one past the agent's --fetcher_max_size (issue 17, item 2). The files come from an HTTP server on 127.0.0.1 the test runs.
func TestAppsFetch(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	var tgz bytes.Buffer
	zw := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(zw)
	msg := "hello from the archive"
	_ = tw.WriteHeader(&tar.Header{Name: "data/msg.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(msg))})
	_, _ = tw.Write([]byte(msg))
	_ = tw.Close()
	_ = zw.Close()
	files := map[string][]byte{"/app.tgz": tgz.Bytes(), "/tool": []byte("#!/bin/sh\necho tool-ok\n"), "/legacy.txt": []byte("legacy\n")}
	var mu sync.Mutex
	hits := map[string]int{}
	var hugeSent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		if r.URL.Path == "/huge.bin" { // a 1 GiB file, streamed without a length
			chunk := make([]byte, 64<<10)
			for sent := 0; sent < 1<<30; sent += len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				hugeSent.Add(int64(len(chunk)))
			}
			return
		}
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	defer srv.Close()
	count := func(p string) int {
		mu.Lock()
		defer mu.Unlock()
		return hits[p]
	}

	n := newNode(t)
	start(t, n.args("all", "--resources", "cpus:4;mem:4096;disk:1024;ports:[31000-31999]", "--fetcher_max_size", "8MB")...)
	waitFor(t, 30*time.Second, "agent active", func() bool {
		s := slaves(t, n.url())
		return len(s) == 1 && s[0].Active
	})
	cmd := fmt.Sprintf(`test "$(cat data/msg.txt)" = %q && test "$(bin/tool)" = tool-ok && exec sleep 1000`, msg)
	appMust(t, n, "POST", "/v2/apps", fmt.Sprintf(`{"id": "/e2e/fetch", "cmd": %q, "cpus": 0.05, "mem": 16, "instances": 2,
		"fetch": [{"uri": %q, "cache": true}, {"uri": %q, "executable": true, "cache": true, "destPath": "bin/tool"}]}`,
		cmd, srv.URL+"/app.tgz", srv.URL+"/tool"), 201)
	appWaitRunning(t, n, "/e2e/fetch", 2, false, 60*time.Second)
	if a, _ := appGet(n, "/e2e/fetch"); a.LastTaskFailure != nil {
		t.Fatalf("a task failed: %+v", a.LastTaskFailure)
	}
	if a, b := count("/app.tgz"), count("/tool"); a != 1 || b != 1 {
		t.Errorf("downloads for two cached tasks: app.tgz %d, tool %d; want 1 each", a, b)
	}

	appMust(t, n, "POST", "/v2/apps", fmt.Sprintf(`{"id": "/e2e/fetch-uris", "cmd": "test \"$(cat legacy.txt)\" = legacy && exec sleep 1000",
		"cpus": 0.05, "mem": 16, "uris": [%q]}`, srv.URL+"/legacy.txt"), 201)
	appWaitRunning(t, n, "/e2e/fetch-uris", 1, false, 60*time.Second)

	missing := srv.URL + "/missing.tgz"
	appMust(t, n, "POST", "/v2/apps", fmt.Sprintf(`{"id": "/e2e/fetch-missing", "cmd": "sleep 1000", "cpus": 0.05, "mem": 16,
		"fetch": [{"uri": %q}]}`, missing), 201)
	waitFor(t, 60*time.Second, "fetch-missing: lastTaskFailure", func() bool {
		a, ok := appGet(n, "/e2e/fetch-missing")
		return ok && a.LastTaskFailure != nil
	})
	a, _ := appGet(n, "/e2e/fetch-missing")
	if f := a.LastTaskFailure; f.State != "TASK_FAILED" || !strings.Contains(f.Message, missing) || !strings.Contains(f.Message, "404") {
		t.Errorf("lastTaskFailure %+v: want TASK_FAILED naming %s and the 404", f, missing)
	}
	t.Logf("refused: %s", a.LastTaskFailure.Message)

	// A 1 GiB `uris` download stops at the agent's --fetcher_max_size (8MB).
	huge := srv.URL + "/huge.bin"
	appMust(t, n, "POST", "/v2/apps", fmt.Sprintf(`{"id": "/e2e/fetch-huge", "cmd": "sleep 1000", "cpus": 0.05, "mem": 16,
		"uris": [%q]}`, huge), 201)
	waitFor(t, 60*time.Second, "fetch-huge: lastTaskFailure", func() bool {
		a, ok := appGet(n, "/e2e/fetch-huge")
		return ok && a.LastTaskFailure != nil
	})
	a, _ = appGet(n, "/e2e/fetch-huge")
	if f := a.LastTaskFailure; f.State != "TASK_FAILED" || !strings.Contains(f.Message, huge) || !strings.Contains(f.Message, "--fetcher-max-size") {
		t.Errorf("lastTaskFailure %+v: want TASK_FAILED naming %s and the bound", f, huge)
	}
	if sent := hugeSent.Load(); sent >= 1<<30 {
		t.Errorf("the server sent the whole 1 GiB (%d bytes)", sent)
	}
	t.Logf("refused: %s (server sent %d MiB before the agent hung up)", a.LastTaskFailure.Message, hugeSent.Load()>>20)
	for _, id := range []string{"fetch", "fetch-uris", "fetch-missing", "fetch-huge"} {
		appMust(t, n, "DELETE", "/v2/apps/e2e/"+id+"?force=true", "", 200)
	}
}
