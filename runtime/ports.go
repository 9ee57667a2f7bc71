package runtime

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"nodectl/cluster/api"
)

// Host ports the agent can actually give.
//
// The agent's "ports" resource is a promise that a task may bind those
// host ports. Another program on the host may already hold one of them:
// a task given that port would crash-loop on EADDRINUSE, relaunched on
// the same port each time. So the agent watches which of its ports are in
// use by something other than its own tasks:
//   - every portCheckInterval it reads the kernel's socket tables
//     (/proc/net/tcp, tcp6, udp, udp6 of its network namespace: listening
//     TCP sockets and bound UDP sockets, on 0.0.0.0, :: or any specific
//     address), leaving out the ports its live tasks were given;
//   - it reports the busy ports with every ping and at registration, and
//     pings at once when the set changes; the master leaves them out of the
//     agent's offers (and rescinds outstanding offers that hold them);
//   - a LAUNCH checks its task's ports again: a busy one fails the task
//     (TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED) after the master has
//     heard of the port, so the framework's next launch gets another one.
//   - a task whose command fails while another program holds one of its
//     ports (it lost the race to bind) reports the port the same way
//     before its TASK_FAILED.
//
// Reading the tables never holds a port, unlike a probing bind, which
// could make a task that starts at that moment fail.

// portCheckInterval is how often the socket tables are read (a variable
// for tests). A read is a few small files.
var portCheckInterval = 2 * time.Second

// procNetDir is where the socket tables are (a variable for tests).
var procNetDir = "/proc/net"

// portWatch is the agent's view of its busy host ports.
type portWatch struct {
	mu   sync.Mutex // guards busy
	busy []api.Range
	// changed wakes the ping loop when busy changes (buffered, 1).
	changed chan struct{}

	// Reads of the socket tables are shared: a burst of launches (each
	// checks its ports) needs one read that started after they asked,
	// not one each (reading /proc/net/tcp walks every socket of the
	// namespace: a 50-task burst spent 110 ms of the agent's CPU in it).
	scanning sync.Mutex // held by the read in progress
	pendMu   sync.Mutex // guards pending
	pending  *hostScan  // the next read, not started: callers join it
}

// hostScan is one read of the socket tables, shared by its callers.
type hostScan struct {
	done   chan struct{} // closed when used and err are set
	used   map[uint64]bool
	err    error
	joined int // callers besides the one that reads (guarded by pendMu)
}

// readHostPorts is hostBusyPorts (a variable for tests).
var readHostPorts = func() (map[uint64]bool, error) { return hostBusyPorts(procNetDir) }

// hostPorts returns the host's busy ports from a read of the socket
// tables that started after this call: callers that ask while a read is
// in progress share the next one. The map is shared: read only.
func (w *portWatch) hostPorts() (map[uint64]bool, error) {
	w.pendMu.Lock()
	s, first := w.pending, false
	if s == nil {
		s, first = &hostScan{done: make(chan struct{})}, true
		w.pending = s
	} else {
		s.joined++
	}
	w.pendMu.Unlock()
	if !first {
		<-s.done
		return s.used, s.err
	}
	w.scanning.Lock()
	// Everyone who joined s asked before this point: s starts now, and
	// later callers wait for the one after.
	w.pendMu.Lock()
	w.pending = nil
	w.pendMu.Unlock()
	s.used, s.err = readHostPorts()
	w.scanning.Unlock()
	close(s.done)
	return s.used, s.err
}

// hostBusyPorts lists the ports in use on the host (in dir's socket
// tables): TCP sockets in LISTEN, any bound UDP socket. A missing table
// (no IPv6) is skipped.
func hostBusyPorts(dir string) (map[uint64]bool, error) {
	out := map[uint64]bool{}
	for _, name := range []string{"tcp", "tcp6", "udp", "udp6"} {
		f, err := os.Open(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read socket table: %w", err)
		}
		err = scanSocketTable(f, strings.HasPrefix(name, "tcp"), out)
		_ = f.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
	}
	return out, nil
}

// tcpListen is the st column of a listening TCP socket (include/net/tcp_states.h).
const tcpListen = "0A"

// scanSocketTable adds the local ports of one /proc/net table's sockets to
// out: for TCP only those listening (a connected socket's port does not
// stop a listener that sets SO_REUSEADDR, as servers do).
func scanSocketTable(f *os.File, tcp bool, out map[uint64]bool) error {
	sc := bufio.NewScanner(f)
	first := true
	for sc.Scan() {
		if first { // the header
			first = false
			continue
		}
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 {
			continue
		}
		if tcp && fields[3] != tcpListen {
			continue
		}
		_, port, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue
		}
		p, err := strconv.ParseUint(port, 16, 16)
		if err != nil || p == 0 {
			continue
		}
		out[p] = true
	}
	return sc.Err()
}

// taskPorts are the host ports a task was given.
func taskPorts(ti api.TaskInfo) []api.Range {
	return ti.Resources.RangesOf("ports")
}

func inRanges(p uint64, rs []api.Range) bool {
	for _, r := range rs {
		if p >= r.Begin && p <= r.End {
			return true
		}
	}
	return false
}

// toRanges turns a set of ports into sorted, coalesced ranges.
func toRanges(ports []uint64) []api.Range {
	slices.Sort(ports)
	var out []api.Range
	for _, p := range ports {
		if n := len(out); n > 0 && out[n-1].End+1 == p {
			out[n-1].End = p
			continue
		}
		out = append(out, api.Range{Begin: p, End: p})
	}
	return out
}

// scanPorts computes the agent's busy ports: those of its "ports" resource
// that the host uses, less the ports of its live tasks (except skip's, a
// task being launched, whose ports nothing should hold yet).
func (a *Agent) scanPorts(skip *task) ([]api.Range, error) {
	offered := a.cfg.Resources.RangesOf("ports")
	if len(offered) == 0 {
		return nil, nil
	}
	used, err := a.ports.hostPorts()
	if err != nil {
		return nil, err
	}
	var mine []api.Range
	a.tasks.mu.Lock()
	for _, t := range a.tasks.live {
		if t != skip && !t.state.Terminal() {
			mine = append(mine, taskPorts(t.info)...)
		}
	}
	a.tasks.mu.Unlock()
	var busy []uint64
	for p := range used {
		if inRanges(p, offered) && !inRanges(p, mine) {
			busy = append(busy, p)
		}
	}
	return toRanges(busy), nil
}

// setBusyPorts records busy and wakes the ping loop if it changed.
func (a *Agent) setBusyPorts(busy []api.Range) {
	w := &a.ports
	w.mu.Lock()
	same := slices.Equal(w.busy, busy)
	w.busy = busy
	w.mu.Unlock()
	if same {
		return
	}
	a.log.Info("host ports in use by other programs", "ports", api.Resources{api.RangesResource("ports", busy...)}.String())
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// busyPorts is the last scan's result.
func (a *Agent) busyPorts() []api.Range {
	a.ports.mu.Lock()
	defer a.ports.mu.Unlock()
	return a.ports.busy
}

// scanHostPorts scans the socket tables once and records what it finds.
func (a *Agent) scanHostPorts() {
	if len(a.cfg.Resources.RangesOf("ports")) == 0 {
		return
	}
	if busy, err := a.scanPorts(nil); err != nil {
		a.log.Debug("scan host ports", "err", err)
	} else {
		a.setBusyPorts(busy)
	}
}

// watchPorts rescans the socket tables every portCheckInterval until ctx
// ends (Run made the first scan).
func (a *Agent) watchPorts(ctx context.Context) {
	if len(a.cfg.Resources.RangesOf("ports")) == 0 {
		return
	}
	t := time.NewTicker(portCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.scanHostPorts()
	}
}

// portRefusal checks t's host ports just before its launch. If another
// program holds one, the master hears of it first (a ping, best effort)
// and the message to fail the task with is returned; "" when all are free.
func (a *Agent) portRefusal(ctx context.Context, t *task) string {
	clash := a.clashingPorts(ctx, t)
	if len(clash) == 0 {
		return ""
	}
	return "Host port " + strings.Join(clash, ", ") + " is in use by another program on this node; the agent no longer offers it"
}

// failedOnBusyPort is called when t's command failed: if another program
// holds one of its ports (the task likely died on EADDRINUSE), the master
// hears of it before the failure, so the relaunch gets another port. It
// returns a note for the failure's message ("" if no port is busy).
func (a *Agent) failedOnBusyPort(ctx context.Context, t *task) string {
	clash := a.clashingPorts(ctx, t)
	if len(clash) == 0 {
		return ""
	}
	return "; host port " + strings.Join(clash, ", ") + " is in use by another program on this node, no longer offered"
}

// clashingPorts are t's host ports that something other than t holds. If
// there are any, the busy set is updated and the master told at once (a
// ping, best effort, bounded).
func (a *Agent) clashingPorts(ctx context.Context, t *task) []string {
	want := taskPorts(t.info)
	if len(want) == 0 {
		return nil
	}
	busy, err := a.scanPorts(t)
	if err != nil {
		a.log.Debug("scan host ports", "err", err)
		return nil
	}
	var clash []string
	for _, r := range busy {
		for p := r.Begin; p <= r.End; p++ {
			if inRanges(p, want) {
				clash = append(clash, strconv.FormatUint(p, 10))
			}
		}
	}
	if len(clash) == 0 {
		return nil
	}
	a.setBusyPorts(busy)
	a.mu.Lock()
	leader, id, registered := a.leader, a.id, a.registered
	a.mu.Unlock()
	if registered {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := a.client.ping(pctx, leader, id, busy, a.latestUsage()); err != nil {
			a.log.Debug("report busy ports", "err", err)
		}
		cancel()
	}
	return clash
}
