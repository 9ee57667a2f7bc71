package kmod

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const testDep = `kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko.xz kernel/fs/mbcache.ko.xz kernel/fs/jbd2/jbd2.ko.xz
kernel/lib/crc16.ko.xz:
kernel/fs/mbcache.ko.xz:
kernel/fs/jbd2/jbd2.ko.xz:
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/a.ko: kernel/b.ko
kernel/b.ko: kernel/a.ko
kernel/c.ko: kernel/missing.ko
`

func TestOrder(t *testing.T) {
	deps, err := ParseDeps(strings.NewReader(testDep))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		names []string
		want  []string
		err   string
	}{
		{names: []string{"ext4"}, want: []string{"kernel/lib/crc16.ko.xz", "kernel/fs/mbcache.ko.xz", "kernel/fs/jbd2/jbd2.ko.xz", "kernel/fs/ext4/ext4.ko.xz"}},
		{names: []string{"virtio-net", "failover"}, want: []string{"kernel/net/core/failover.ko", "kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko"}},
		{names: []string{"jbd2", "ext4"}, want: []string{"kernel/fs/jbd2/jbd2.ko.xz", "kernel/lib/crc16.ko.xz", "kernel/fs/mbcache.ko.xz", "kernel/fs/ext4/ext4.ko.xz"}},
		{names: []string{"nope"}, err: "unknown module: nope"},
		{names: []string{"a"}, err: "dependency cycle: kernel/a.ko → kernel/b.ko → kernel/a.ko"},
		{names: []string{"c"}, err: "unknown module: kernel/missing.ko (needed by kernel/c.ko)"},
	} {
		got, err := deps.Order(tc.names)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("Order(%v) error = %v, want %q", tc.names, err, tc.err)
			}
			if !errors.Is(err, ErrUnknown) && strings.Contains(tc.err, "unknown") {
				t.Errorf("Order(%v) error %v is not ErrUnknown", tc.names, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Order(%v) = %v, %v; want %v", tc.names, got, err, tc.want)
		}
	}
}

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/drivers/net/virtio_net.ko": "virtio_net",
		"kernel/fs/nls/nls-utf8.ko.zst":    "nls_utf8",
		"ext4.ko.xz":                       "ext4",
	} {
		if got := Name(in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBuiltin(t *testing.T) {
	b, err := Builtin(strings.NewReader("kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_pci.ko\n"))
	if err != nil || !b["virtio_pci"] || b["ext4"] {
		t.Fatalf("Builtin = %v, %v", b, err)
	}
}

// TestLoadConcurrently: every module is loaded once, never before its
// dependencies have finished, with no more than the allowed number at once.
func TestLoadConcurrently(t *testing.T) {
	deps, err := ParseDeps(strings.NewReader(testDep))
	if err != nil {
		t.Fatal(err)
	}
	order, err := deps.Order([]string{"ext4", "virtio_net"})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		finished = map[string]bool{}
		running  int
		peak     int
		calls    int
	)
	load := func(path string) error {
		f := strings.TrimPrefix(path, "/m/")
		mu.Lock()
		calls++
		for _, d := range deps[f] {
			if !finished[d] {
				t.Errorf("%s loaded before its dependency %s finished", f, d)
			}
		}
		running++
		peak = max(peak, running)
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		running--
		finished[f] = true
		mu.Unlock()
		if Name(f) == "mbcache" {
			return errors.New("boom")
		}
		return nil
	}
	err = loadConcurrently("/m", deps, order, 2, load)
	if err == nil || !strings.Contains(err.Error(), "load module mbcache: boom") {
		t.Errorf("error = %v, want the mbcache failure", err)
	}
	if calls != len(order) || peak > 2 || peak < 2 {
		t.Errorf("calls %d (want %d), peak concurrency %d (want 2)", calls, len(order), peak)
	}
}
