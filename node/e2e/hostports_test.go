package e2e

import (
	"fmt"
	mathrand "math/rand/v2"
	"sync"
)

// Tasks that listen on their host ports ($PORT0, pod endpoints) must not
// meet another test's tasks on the same port when tests run side by side
// (t.Parallel). hostPorts gives each test node a block of host ports of
// its own: 10000-11999, below nodetest.FreePort's range (12000-31999,
// where node ports are drawn) and the kernel's ephemeral range (32768+).
// The blocks are handed out in turn from a random start, so two test
// binaries on one machine rarely use the same block at the same time.
const (
	hostPortsBase   = 10000
	hostPortsBlock  = 100
	hostPortsBlocks = 20
)

var (
	hostPortsMu   sync.Mutex
	hostPortsNext = mathrand.IntN(hostPortsBlocks)
)

// hostPorts is a "ports:[a-b]" resource of a block no other node of this
// test run is using at the moment (20 blocks in turn; -parallel is 4).
func hostPorts() string {
	hostPortsMu.Lock()
	b := hostPortsNext
	hostPortsNext = (hostPortsNext + 1) % hostPortsBlocks
	hostPortsMu.Unlock()
	lo := hostPortsBase + b*hostPortsBlock
	return fmt.Sprintf("ports:[%d-%d]", lo, lo+hostPortsBlock-1)
}
