package runtime

import (
	"log/slog"
	"net"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"nodectl/cluster/api"
)

func TestHostBusyPortsSeesListeners(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	tcp6, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		t.Skipf("no IPv6: %v", err)
	}
	defer tcp6.Close()
	udp, err := net.ListenPacket("udp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	// A connected client's local port is not a listener.
	conn, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	busy, err := hostBusyPorts("/proc/net")
	if err != nil {
		t.Fatal(err)
	}
	for name, addr := range map[string]net.Addr{"tcp 127.0.0.1": tcp.Addr(), "tcp [::]": tcp6.Addr(), "udp 0.0.0.0": udp.LocalAddr()} {
		p := portOf(t, addr)
		if !busy[p] {
			t.Errorf("%s port %d not seen busy", name, p)
		}
	}
	if p := portOf(t, conn.LocalAddr()); busy[p] {
		t.Errorf("a client connection's local port %d was counted as busy", p)
	}
}

func portOf(t *testing.T, a net.Addr) uint64 {
	t.Helper()
	_, port, err := net.SplitHostPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	var p uint64
	for _, c := range port {
		p = p*10 + uint64(c-'0')
	}
	return p
}

func TestToRanges(t *testing.T) {
	got := toRanges([]uint64{7, 3, 4, 5, 9})
	want := []api.Range{{Begin: 3, End: 5}, {Begin: 7, End: 7}, {Begin: 9, End: 9}}
	if !slices.Equal(got, want) {
		t.Fatalf("toRanges = %v, want %v", got, want)
	}
}

// The agent reports the ports of its range that something else holds,
// but not those its own live tasks were given, and the launch check names
// the clash.
func TestScanPortsLeavesOutOwnTasks(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	held := portOf(t, ln.Addr())
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	own := portOf(t, ln2.Addr())

	a := &Agent{cfg: Config{Resources: api.Resources{api.RangesResource("ports", api.Range{Begin: held, End: held}, api.Range{Begin: own, End: own})}}, log: slog.Default()}
	a.ports.changed = make(chan struct{}, 1)
	a.tasks.live = map[streamKey]*task{}
	mine := &task{id: "t1", state: api.TaskRunning, info: api.TaskInfo{Resources: api.Resources{api.RangesResource("ports", api.Range{Begin: own, End: own})}}}
	a.tasks.live[streamKey{"fw", "t1"}] = mine
	busy, err := a.scanPorts(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []api.Range{{Begin: held, End: held}}; !slices.Equal(busy, want) {
		t.Fatalf("busy = %v, want %v (own task's port %d left out)", busy, want, own)
	}

	// A task being launched on the held port is refused, and the change
	// wakes the ping loop.
	next := &task{id: "t2", state: api.TaskStaging, info: api.TaskInfo{Resources: api.Resources{api.RangesResource("ports", api.Range{Begin: held, End: held})}}}
	a.tasks.live[streamKey{"fw", "t2"}] = next
	if msg := a.portRefusal(t.Context(), next); msg == "" {
		t.Fatalf("launch on held port %d was not refused", held)
	}
	select {
	case <-a.ports.changed:
	default:
		t.Fatal("a new busy port did not wake the ping loop")
	}
	// A task that failed while another program holds its port says so.
	if note := a.failedOnBusyPort(t.Context(), next); !strings.Contains(note, strconv.FormatUint(held, 10)) {
		t.Fatalf("failure note %q does not name port %d", note, held)
	}
	// Once the other program lets go, the port is given again.
	_ = ln.Close()
	if msg := a.portRefusal(t.Context(), next); msg != "" {
		t.Fatalf("launch refused after the port was freed: %s", msg)
	}
}

// A burst of launches shares reads of the socket tables: callers that ask
// while a read is in progress get the next one (started after they asked),
// one read for all of them.
func TestHostPortsShared(t *testing.T) {
	started := make(chan int)
	release := make(chan struct{})
	var reads atomic.Int32
	old := readHostPorts
	readHostPorts = func() (map[uint64]bool, error) {
		n := int(reads.Add(1))
		started <- n
		<-release
		return map[uint64]bool{uint64(n): true}, nil
	}
	t.Cleanup(func() { readHostPorts = old })

	var w portWatch
	first := make(chan map[uint64]bool)
	go func() {
		m, _ := w.hostPorts()
		first <- m
	}()
	if n := <-started; n != 1 {
		t.Fatalf("read %d started, want 1", n)
	}
	// While read 1 is in progress, 20 more callers ask.
	const burst = 20
	got := make(chan map[uint64]bool, burst)
	for range burst {
		go func() {
			m, _ := w.hostPorts()
			got <- m
		}()
	}
	deadline := time.Now().Add(time.Minute)
	for {
		w.pendMu.Lock()
		joined := w.pending != nil && w.pending.joined == burst-1
		w.pendMu.Unlock()
		if joined {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the burst's callers did not join one pending read")
		}
		goruntime.Gosched()
	}
	release <- struct{}{} // read 1 ends
	if m := <-first; !m[1] {
		t.Fatalf("first caller got %v, want read 1's result", m)
	}
	if n := <-started; n != 2 {
		t.Fatalf("read %d started, want 2", n)
	}
	release <- struct{}{}
	for range burst {
		if m := <-got; !m[2] {
			t.Fatalf("a caller of the burst got %v, want read 2's (started after it asked)", m)
		}
	}
	if n := reads.Load(); n != 2 {
		t.Fatalf("%d reads for 21 callers, want 2", n)
	}
}
