package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// schedStream is a raw Mesos v1 scheduler subscription (RecordIO of JSON
// events) and what arrived on it.
type schedStream struct {
	mu        sync.Mutex
	types     []string
	lastBeat  time.Time // arrival of the latest HEARTBEAT
	ended     error     // why the stream ended; nil while it is open
	endedChan chan struct{}
}

// subscribeRaw subscribes a framework called name on the master at url
// and reads its event stream until the test ends.
func subscribeRaw(t *testing.T, url, name string) *schedStream {
	t.Helper()
	body := fmt.Sprintf(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":%q}}}`, name)
	req, err := http.NewRequest("POST", url+"/api/v1/scheduler", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{}).Do(req) // no timeout: the stream lives as long as the test
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("subscribe: %s %s", resp.Status, b)
	}
	s := &schedStream{endedChan: make(chan struct{})}
	t.Cleanup(func() { resp.Body.Close(); <-s.endedChan })
	go func() {
		defer close(s.endedChan)
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			var n int
			if err == nil {
				n, err = strconv.Atoi(strings.TrimSpace(line))
			}
			buf := make([]byte, max(n, 0))
			if err == nil {
				_, err = io.ReadFull(br, buf)
			}
			var ev struct {
				Type string `json:"type"`
			}
			if err == nil {
				err = json.Unmarshal(buf, &ev)
			}
			s.mu.Lock()
			if err != nil {
				s.ended = err
				s.mu.Unlock()
				return
			}
			s.types = append(s.types, ev.Type)
			if ev.Type == "HEARTBEAT" {
				s.lastBeat = time.Now()
			}
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *schedStream) state() (types []string, lastBeat time.Time, ended error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.types...), s.lastBeat, s.ended
}

// TestLeaseSoloStall: a lone master stopped (SIGSTOP, which stalls its
// embedded etcd as well: the same shape as the 12 s fdatasync stall seen
// with disk writers beside it) for 20 s, longer than the 15 s lease lone
// masters had, keeps its term: it leads on the 60 s solo lease, the
// leader changes it counted stay 1, and a scheduler's subscription stays
// open (its next HEARTBEAT arrives on the same stream after the stall).
func TestLeaseSoloStall(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n := newNode(t)
	p := start(t, n.args("master")...)
	waitFor(t, 60*time.Second, "elected, one leader change", func() bool {
		return metric(n.url(), "master/elected") == 1 && metric(n.url(), "master/leader_changes") == 1
	})
	if got := metric(n.url(), "master/leader_lease_ttl_secs"); got != 60 {
		t.Fatalf("lone master's lease TTL %vs, want 60s", got)
	}
	sub := subscribeRaw(t, n.url(), "stall-probe")
	waitFor(t, 30*time.Second, "SUBSCRIBED", func() bool {
		types, _, _ := sub.state()
		return len(types) > 0 && types[0] == "SUBSCRIBED"
	})

	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Signal(syscall.SIGCONT) })
	// The stimulus, not a wait: the stall the lone master must survive.
	<-time.After(20 * time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()

	// The master sends a HEARTBEAT every 15 s on every scheduler stream.
	waitFor(t, 60*time.Second, "a HEARTBEAT on the same stream after the stall", func() bool {
		_, beat, ended := sub.state()
		if ended != nil {
			t.Fatalf("the scheduler stream ended: %v", ended)
		}
		return beat.After(resumed)
	})
	if got := metric(n.url(), "master/leader_changes"); got != 1 {
		t.Errorf("master/leader_changes = %v after the stall, want 1", got)
	}
	if got := metric(n.url(), "master/elected"); got != 1 {
		t.Errorf("master/elected = %v after the stall, want 1", got)
	}
	types, _, _ := sub.state()
	for _, typ := range types[1:] {
		if typ == "SUBSCRIBED" || typ == "ERROR" {
			t.Errorf("the stream saw %s after subscribing: %v", typ, types)
		}
	}
}

// TestLeaseGrowthDeposedLeader: TestHADeposedLeaderCommitsNothing with the
// lease fitted to the membership (no --leader-lease-ttl). The first master
// leads alone on the 60 s solo lease; two masters join; before it is
// paused, the leader is on the 3 s lease already (it moved before it
// promoted them), so a successor is elected within the short lease and the
// paused leader, resumed, commits nothing.
func TestLeaseGrowthDeposedLeader(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	haDeposedLeader(t, haFlagsFitted(), func(old *haMaster) {
		// No wait: the move happens before the promotions.
		if got := metric(old.n.url(), "master/leader_lease_ttl_secs"); got != 3 {
			t.Errorf("leader's lease TTL %vs with 3 voters, want 3s", got)
		}
		if got := metric(old.n.url(), "master/leader_lease_moves"); got != 1 {
			t.Errorf("master/leader_lease_moves = %v, want 1 (60 s -> 3 s)", got)
		}
	})
}
