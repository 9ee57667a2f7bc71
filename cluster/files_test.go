package cluster

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"nodectl/cluster/api"
)

func TestMasterFiles(t *testing.T) {
	h := newHarness(t)
	logFile := filepath.Join(t.TempDir(), "nodectl-master.log")
	if err := os.WriteFile(logFile, []byte("master line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A stand-in agent files API that echoes what reached it.
	agentSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":"` + r.URL.Path + " " + r.URL.Query().Get("path") + " " + r.URL.Query().Get("offset") + `","offset":0}`))
	}))
	defer agentSrv.Close()
	register := func(host, addr string) string {
		ip, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		rs, _ := api.ParseResources("cpus:1;mem:64")
		resp, err := h.m.register(api.RegisterRequest{Agent: api.AgentInfo{Hostname: host, IP: ip, Port: p, Resources: rs}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.AgentID
	}
	live := register("live", agentSrv.Listener.Addr().String())
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := closed.Addr().String()
	closed.Close()
	dead := register("dead", deadAddr)

	fh := h.m.FilesHandler(logFile)
	tests := []struct {
		name, url string
		code      int
		body      string
	}{
		{"master log size", "/files/read?path=/master/log&offset=-1", 200, `{"data":"","offset":12}`},
		{"master log read", "/master/files/read?path=/master/log&offset=0", 200, `"data":"master line\n"`},
		{"master log browse", "/files/browse?path=/master/log", 200, `"path":"/master/log"`},
		{"master other path", "/files/browse?path=/etc", 404, "No file or directory"},
		{"proxy read", "/agents/" + live + "/files/read?path=/frameworks/f/executors/e/runs/latest/stdout&offset=5", 200, `"data":"/files/read /frameworks/f/executors/e/runs/latest/stdout 5"`},
		{"proxy with master prefix", "/master/agents/" + live + "/files/browse?path=/x", 200, `/files/browse /x`},
		{"proxy unknown agent", "/agents/nope/files/browse?path=/x", 404, "unknown agent 'nope'"},
		{"proxy bad op", "/agents/" + live + "/files/debug?path=/x", 404, "unknown files operation"},
		{"proxy dead agent", "/agents/" + dead + "/files/browse?path=/x", 502, "unreachable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			fh.ServeHTTP(rec, httptest.NewRequest("GET", tc.url, nil))
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) {
				t.Fatalf("GET %s: %d %s; want %d containing %s", tc.url, rec.Code, rec.Body, tc.code, tc.body)
			}
		})
	}
	t.Run("no log file", func(t *testing.T) {
		rec := httptest.NewRecorder()
		h.m.FilesHandler("").ServeHTTP(rec, httptest.NewRequest("GET", "/files/read?path=/master/log", nil))
		if rec.Code != http.StatusNotFound {
			t.Fatalf("got %d %s", rec.Code, rec.Body)
		}
	})
}
