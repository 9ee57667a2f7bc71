package appliance

import (
	"log/slog"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"nodectl/node/internal/bootcfg"
	"nodectl/node/internal/netup"
)

func TestMatchNIC(t *testing.T) {
	nics := []netup.NIC{{Name: "eth0", MAC: "52:54:00:12:34:56"}, {Name: "eth1", MAC: "52:54:00:00:09:01"}}
	for _, tc := range []struct {
		match string
		want  string
	}{{"", "eth0"}, {"eth1", "eth1"}, {"52:54:00:00:09:01", "eth1"}, {"eth9", ""}} {
		n, ok := matchNIC(bootcfg.NetSpec{Match: tc.match, Addr: netip.MustParsePrefix("10.0.0.1/24")}, nics)
		if n.Name != tc.want || ok != (tc.want != "") {
			t.Errorf("matchNIC(%q) = %q, %v; want %q", tc.match, n.Name, ok, tc.want)
		}
	}
}

// TestRestartBackoff: restarts wait 1 s, doubling to 30 s, and a child
// that ran a minute or more restarts after 1 s again.
func TestRestartBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &supervisor{log: slog.New(slog.DiscardHandler), backoff: restartBackoffMin}
		var got []time.Duration
		for range 7 {
			s.started = time.Now()
			time.Sleep(100 * time.Millisecond) // the child crashes soon after starting
			got = append(got, s.nextBackoff())
		}
		want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
		for i := range want {
			if got[i] != want[i]*time.Second {
				t.Fatalf("backoffs = %v, want %v seconds", got, want)
			}
		}
		s.started = time.Now()
		time.Sleep(restartStableAfter)
		if d := s.nextBackoff(); d != restartBackoffMin {
			t.Errorf("after a stable run the backoff is %s, want %s", d, restartBackoffMin)
		}
	})
}

func TestStartedAsInit(t *testing.T) {
	// go test is never PID 1, whatever its name.
	if StartedAsInit([]string{"/init"}) || StartedAsInit(nil) {
		t.Error("a test process is not init")
	}
}
