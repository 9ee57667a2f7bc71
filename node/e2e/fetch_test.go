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
	"testing"
	"time"
)

// TestAppsFetch: through the Marathon API and the real binary, an app's
// `fetch` (an archive extracted, an executable with a destPath, cached
// for its two instances: one download) is in the sandbox when its cmd
// runs, which reads it; the legacy `uris` are fetched too; a URI the
// server does not have fails the task with a message naming it (issue 17,
// item 2). The files come from an HTTP server on 127.0.0.1 the test runs.
func TestAppsFetch(t *testing.T) {
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
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
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

	n := appStartNode(t, "")
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
	for _, id := range []string{"fetch", "fetch-uris", "fetch-missing"} {
		appMust(t, n, "DELETE", "/v2/apps/e2e/"+id+"?force=true", "", 200)
	}
}
