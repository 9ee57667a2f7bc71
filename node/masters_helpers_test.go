package node_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"

	"nodectl/cluster"
)

// listenAPI has something listen on a test master's API port, accepting and
// closing connections: standbys dial the leader's port to tell a dead one
// (failover.go).
func listenAPI(t *testing.T, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
}

// runMaster runs a master of cfg until the test ends or stop is called.
func runMaster(t *testing.T, cfg cluster.Config) (m *cluster.Master, stop func()) {
	t.Helper()
	m, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = m.Run(ctx) }()
	stop = sync.OnceFunc(func() { cancel(); wg.Wait() })
	t.Cleanup(stop)
	return m, stop
}
