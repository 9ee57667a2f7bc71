package node

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// At MaxConns a new connection is let in by evicting the one waiting
// longest on its client once it has waited EvictAfter; one running a
// request is kept.
func TestServerLimitsMaxConns(t *testing.T) {
	t.Parallel()
	lim := defaultServerLimits
	lim.MaxConns, lim.EvictAfter = 2, 100*time.Millisecond
	lim.ReadHeader = 2 * time.Minute // only an eviction closes a silent connection in time
	entered, unblock := make(chan struct{}, 1), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fast", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /block", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-unblock
	})
	addr := serveLimited(t, mux, lim)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	// Two silent connections fill the bound; requests still pass, the
	// first evicting the older silent one.
	first, second := dial(), dial()
	for i := range 2 {
		resp, err := client.Get("http://" + addr + "/fast")
		if err != nil {
			t.Fatalf("request %d beside silent connections: %v", i, err)
		}
		resp.Body.Close()
	}
	closedByServer(t, first)

	// A running request is never evicted.
	done := make(chan error, 1)
	go func() {
		resp, err := client.Get("http://" + addr + "/block")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-entered
	silent := dial() // evicts second
	closedByServer(t, second)
	third := dial() // evicts silent
	closedByServer(t, silent)
	fmt.Fprint(third, "GET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if got := closedByServer(t, third); !strings.Contains(got, "200 OK") {
		t.Errorf("beside a running request: %q, want 200", got)
	}
	close(unblock)
	if err := <-done; err != nil {
		t.Errorf("the running request: %v", err)
	}
	resp, err := client.Get("http://" + addr + "/fast")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}
