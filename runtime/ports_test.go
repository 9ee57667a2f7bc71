package runtime

import (
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

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
