package runtime

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"nodectl/cluster/api"
)

func TestFilesAPI(t *testing.T) {
	wd := t.TempDir()
	sb, err := makeSandbox(wd, "A-S0", "F1", "task.1", "C1")
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(sb, "stdout"), []byte("hello\nworld\n"), 0o644))
	must(os.WriteFile(filepath.Join(sb, "big.bin"), make([]byte, api.FilesReadCap+10), 0o644))
	must(os.Mkdir(filepath.Join(sb, "sub"), 0o755))
	secret := filepath.Join(wd, "secret")
	must(os.WriteFile(secret, []byte("no"), 0o600))
	must(os.Symlink(secret, filepath.Join(sb, "escape")))
	must(os.Symlink("stdout", filepath.Join(sb, "inside")))
	logFile := filepath.Join(wd, "agent.log")
	must(os.WriteFile(logFile, []byte("log line\n"), 0o644))

	owner := strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil {
		owner = u.Username
	}
	h, err := FilesHandler(FilesConfig{WorkDir: wd, AgentID: func() string { return "A-S0" }, LogFile: logFile})
	if err != nil {
		t.Fatal(err)
	}
	virt := "/frameworks/F1/executors/task.1/runs/latest"
	real := filepath.Join(wd, "slaves/A-S0/frameworks/F1/executors/task.1/runs/C1")
	get := func(route, path string, extra ...string) *httptest.ResponseRecorder {
		q := url.Values{}
		if path != "" {
			q.Set("path", path)
		}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", route+"?"+q.Encode(), nil))
		return rec
	}
	tests := []struct {
		name, route, path string
		extra             []string
		code              int
		body              string // substring of the response
	}{
		{"browse latest", "/files/browse", virt, nil, 200, `"path":"` + virt + `/stdout"`},
		{"browse real dir", "/files/browse", real, nil, 200, `"path":"` + real + `/sub","nlink":2`},
		{"browse file", "/files/browse", virt + "/stdout", nil, 200, `"size":12`},
		{"browse mode", "/files/browse", virt, nil, 200, `"mode":"-rw-r--r--"`},
		{"browse symlink listed", "/files/browse", virt, nil, 200, `"path":"` + virt + `/escape","nlink":1,"size":` + strconv.Itoa(len(secret)) + `,`},
		{"browse owner", "/files/browse", virt + "/stdout", nil, 200, `"uid":"` + owner + `","gid":"`},
		{"browse with agent prefix", "/slave(1)/files/browse", virt, nil, 200, `stdout`},
		{"read size", "/files/read", virt + "/stdout", []string{"offset", "-1"}, 200, `{"data":"","offset":12}`},
		{"read no offset", "/files/read", virt + "/stdout", nil, 200, `{"data":"","offset":12}`},
		{"read chunk", "/files/read", virt + "/stdout", []string{"offset", "6", "length", "5"}, 200, `{"data":"world","offset":6}`},
		{"read to eof", "/files/read", virt + "/stdout", []string{"offset", "6"}, 200, `{"data":"world\n","offset":6}`},
		{"read past end", "/files/read", virt + "/stdout", []string{"offset", "100"}, 200, `{"data":"","offset":100}`},
		{"read through inner symlink", "/files/read", virt + "/inside", []string{"offset", "0"}, 200, `"data":"hello\nworld\n"`},
		{"read negative offset", "/files/read", virt + "/stdout", []string{"offset", "-2"}, 400, "Negative offset provided"},
		{"read negative length", "/files/read", virt + "/stdout", []string{"offset", "0", "length", "-5"}, 400, "Negative length provided"},
		{"read bad offset", "/files/read", virt + "/stdout", []string{"offset", "x"}, 400, "Failed to parse offset"},
		{"read directory", "/files/read", virt, []string{"offset", "0"}, 400, "Cannot read a directory."},
		{"no path", "/files/browse", "", nil, 400, "Expecting 'path=value' in query."},
		{"dotdot", "/files/browse", virt + "/../../..", nil, 400, "must not contain '..'"},
		{"symlink escape", "/files/read", virt + "/escape", []string{"offset", "0"}, 403, "outside the sandbox"},
		{"outside work dir", "/files/browse", "/etc", nil, 404, "No file or directory"},
		{"work dir itself", "/files/browse", wd, nil, 404, "No file or directory"},
		{"slaves dir", "/files/browse", filepath.Join(wd, "slaves/A-S0"), nil, 404, "No file or directory"},
		{"unknown sandbox", "/files/browse", "/frameworks/F1/executors/nope/runs/latest", nil, 404, "No file or directory"},
		{"agent log", "/files/read", "/slave/log", []string{"offset", "0"}, 200, `"data":"log line\n"`},
		{"download dir", "/files/download", virt, nil, 400, "Cannot download a directory."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := get(tc.route, tc.path, tc.extra...)
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) {
				t.Fatalf("GET %s %s: %d %s; want %d containing %s", tc.route, tc.path, rec.Code, rec.Body, tc.code, tc.body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
		})
	}

	t.Run("read is capped", func(t *testing.T) {
		var c api.FileChunk
		rec := get("/files/read", virt+"/big.bin", "offset", "0", "length", "-1")
		if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		if int64(len(c.Data)) != api.FilesReadCap {
			t.Fatalf("read %d bytes, want the cap %d", len(c.Data), api.FilesReadCap)
		}
	})
	t.Run("download", func(t *testing.T) {
		rec := get("/files/download", virt+"/stdout")
		if rec.Code != 200 || rec.Body.String() != "hello\nworld\n" {
			t.Fatalf("download: %d %q", rec.Code, rec.Body)
		}
		if cd := rec.Header().Get("Content-Disposition"); cd != `attachment; filename="stdout"` {
			t.Fatalf("Content-Disposition %q", cd)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/octet-stream" {
			t.Fatalf("Content-Type %q", ct)
		}
	})
	t.Run("no log configured", func(t *testing.T) {
		h, err := FilesHandler(FilesConfig{WorkDir: wd, AgentID: func() string { return "A-S0" }})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/files/browse?path=/slave/log", nil))
		if rec.Code != http.StatusNotFound {
			t.Fatalf("got %d", rec.Code)
		}
	})
}
