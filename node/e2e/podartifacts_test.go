package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestPodArtifacts: a pod container's artifacts (an archive extracted, an
// executable with a destPath) are in its sandbox when its command runs,
// which checks them; the pod reaches STABLE only then. The files come
// from an HTTP server on 127.0.0.1 the test runs.
func TestPodArtifacts(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	var tgz bytes.Buffer
	zw := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(zw)
	msg := "hello from the pod archive"
	_ = tw.WriteHeader(&tar.Header{Name: "data/msg.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(msg))})
	_, _ = tw.Write([]byte(msg))
	_ = tw.Close()
	_ = zw.Close()
	files := map[string][]byte{"/pod.tgz": tgz.Bytes(), "/tool": []byte("#!/bin/sh\necho tool-ok\n")}
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

	n := appStartNode(t, "")
	shell := fmt.Sprintf(`test "$(cat data/msg.txt)" = %q && test "$(bin/tool)" = tool-ok && echo artifacts-ok && exec sleep %s`, msg, appMark(7201))
	pod := fmt.Sprintf(`{"id":"/art/pod","scaling":{"kind":"fixed","instances":1},
	  "scheduling":{"upgrade":{"minimumHealthCapacity":1,"maximumOverCapacity":1},"unreachableStrategy":{"inactiveAfterSeconds":300,"expungeAfterSeconds":600}},
	  "containers":[{"name":"c","exec":{"command":{"shell":%q}},"resources":{"cpus":0.05,"mem":32},
	    "artifacts":[{"uri":%q,"extract":true},{"uri":%q,"executable":true,"cache":true,"destPath":"bin/tool"}]}]}`,
		shell, srv.URL+"/pod.tgz", srv.URL+"/tool")
	appMust(t, n, "POST", "/v2/pods", pod, 201)
	t.Cleanup(func() { appDo(t, n, "DELETE", "/v2/pods/art/pod", "") })
	var st struct {
		Status string `json:"status"`
	}
	waitFor(t, 60*time.Second, "pod STABLE", func() bool {
		code, b := appDo(t, n, "GET", "/v2/pods/art/pod::status", "")
		return code == 200 && json.Unmarshal(b, &st) == nil && st.Status == "STABLE"
	})
	waitFor(t, 30*time.Second, "the container's command found both artifacts", func() bool {
		return findFile(n.dir, "stdout", "artifacts-ok") != ""
	})
	mu.Lock()
	defer mu.Unlock()
	if hits["/pod.tgz"] != 1 || hits["/tool"] != 1 {
		t.Errorf("downloads: %v, want one of each", hits)
	}
}
