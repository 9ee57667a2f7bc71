package cni

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// inNS runs fn on a thread in the network namespace pinned at path.
func inNS(t *testing.T, path string, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer func() { _ = orig.Close() }()
		ns, err := os.Open(path)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer func() { _ = ns.Close() }()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- err // the thread stays locked: the runtime discards it
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// testNS creates a pinned namespace, removed when the test ends.
func testNS(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := newNetNS(p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = removeNetNS(p) })
	return p
}

// nsConn is an nftables connection to the namespace at path.
func nsConn(t *testing.T, path string) *nftables.Conn {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// countRules is how many rules of chain in PortsTable carry comment id
// ("" counts every rule).
func countRules(t *testing.T, c *nftables.Conn, chain, id string) int {
	t.Helper()
	rules, err := c.GetRules(pfTable, &nftables.Chain{Name: chain, Table: pfTable})
	if err != nil {
		t.Fatalf("rules of %s: %v", chain, err)
	}
	if id == "" {
		return len(rules)
	}
	return len(rulesOf(rules, id))
}

// TestPortForwards: in a "host" namespace joined by a veth to a "task"
// namespace, the forwards of a task reach its listener from the host's
// own address and from 127.0.0.1 (masqueraded to the host's side of the
// veth); writing them again changes nothing; dropping one container's
// rules leaves the other's.
func TestPortForwards(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	for _, cmd := range []string{"nsenter", "nft"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Skipf("%s is not installed", cmd)
		}
	}
	dir := t.TempDir()
	host, task := testNS(t, dir, "host"), testNS(t, dir, "task")
	taskIP := net.IPv4(10, 99, 0, 2).To4()

	// The veth: h0 10.99.0.1/24 in host, t0 10.99.0.2/24 in task.
	inNS(t, host, func() error {
		tf, err := os.Open(task)
		if err != nil {
			return err
		}
		defer func() { _ = tf.Close() }()
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "h0"}, PeerName: "t0", PeerNamespace: netlink.NsFd(int(tf.Fd()))}
		if err := netlink.LinkAdd(v); err != nil {
			return err
		}
		addr, _ := netlink.ParseAddr("10.99.0.1/24")
		if err := netlink.AddrAdd(v, addr); err != nil {
			return err
		}
		return netlink.LinkSetUp(v)
	})
	var l net.Listener
	inNS(t, task, func() error {
		t0, err := netlink.LinkByName("t0")
		if err != nil {
			return err
		}
		addr, _ := netlink.ParseAddr("10.99.0.2/24")
		if err := netlink.AddrAdd(t0, addr); err != nil {
			return err
		}
		if err := netlink.LinkSetUp(t0); err != nil {
			return err
		}
		if err := netlink.RouteAdd(&netlink.Route{Gw: net.IPv4(10, 99, 0, 1)}); err != nil {
			return err
		}
		l, err = net.Listen("tcp4", ":80")
		return err
	})
	t.Cleanup(func() { _ = l.Close() })
	peers := make(chan string, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			peers <- c.RemoteAddr().(*net.TCPAddr).IP.String()
			_, _ = io.WriteString(c, "hello")
			_ = c.Close()
		}
	}()

	c := nsConn(t, host)
	fw, err := forwards([]PortMapping{{HostPort: 18080, ContainerPort: 80, Protocol: "tcp,udp"}})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second write replaces the first
		if err := writeForwards(c, "ctr-a", taskIP, fw); err != nil {
			t.Fatal(err)
		}
	}
	fwB, _ := forwards([]PortMapping{{HostPort: 18081, ContainerPort: 8080}})
	if err := writeForwards(c, "ctr-b", net.IPv4(10, 99, 0, 3).To4(), fwB); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		chain, id string
		n         int
	}{{pfHostports, "ctr-a", 2}, {pfMasquerades, "ctr-a", 2}, {pfHostports, "ctr-b", 1}, {pfMasquerades, "ctr-b", 2}, {pfPrerouting, "", 1}, {pfOutput, "", 1}} {
		if got := countRules(t, c, w.chain, w.id); got != w.n {
			t.Errorf("chain %s: %d rules of %q, want %d", w.chain, got, w.id, w.n)
		}
	}
	// As nft shows them (what operators and the e2e tests read).
	out, err := exec.Command("nsenter", "--net="+host, "nft", "list", "table", "ip", PortsTable).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list: %v\n%s", err, out)
	}
	for _, want := range []string{
		`fib daddr type local jump hostports`,
		`tcp dport 18080 dnat to 10.99.0.2:80 comment "ctr-a"`,
		`udp dport 18080 dnat to 10.99.0.2:80 comment "ctr-a"`,
		`tcp dport 18081 dnat to 10.99.0.3:8080 comment "ctr-b"`,
		`ip saddr 10.99.0.2 ip daddr 10.99.0.2 masquerade comment "ctr-a"`,
		`ip saddr 127.0.0.1 ip daddr 10.99.0.2 masquerade comment "ctr-a"`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}

	// Traffic: to the host's own address and to 127.0.0.1.
	inNS(t, host, func() error { return enableRouteLocalnet("h0") })
	for _, dst := range []struct{ addr, peer string }{{"10.99.0.1:18080", "10.99.0.1"}, {"127.0.0.1:18080", "10.99.0.1"}} {
		var got string
		inNS(t, host, func() error {
			conn, err := net.DialTimeout("tcp4", dst.addr, 10*time.Second)
			if err != nil {
				return err
			}
			defer func() { _ = conn.Close() }()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			b, err := io.ReadAll(conn)
			got = string(b)
			return err
		})
		if got != "hello" {
			t.Errorf("%s: read %q", dst.addr, got)
		}
		if p := <-peers; p != dst.peer {
			t.Errorf("%s: the task saw the peer %s, want %s", dst.addr, p, dst.peer)
		}
	}

	// A task of a version that used portmap: its rules in ip cni_hostport
	// (as the plugin writes them) are recognised, and dropped by id.
	legacy := exec.Command("nsenter", "--net="+host, "nft", "-f", "-")
	legacy.Stdin = strings.NewReader(`table ip cni_hostport {
		chain hostports { tcp dport 18082 dnat to 10.99.0.4:80 comment "ctr-a" ; tcp dport 18083 dnat to 10.99.0.5:80 comment "ctr-c" ; }
		chain masquerading { type nat hook postrouting priority srcnat; ip saddr 10.99.0.4 ip daddr 10.99.0.4 masquerade comment "ctr-a" ; }
	}`)
	if out, err := legacy.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v\n%s", err, out)
	}
	if !legacyForwards(c, "ctr-a") || legacyForwards(c, "ctr-b") {
		t.Error("legacyForwards: ctr-a's portmap rules not told apart from ctr-b's")
	}

	// Dropping ctr-a's rules leaves ctr-b's and the fixed ones.
	if err := dropRulesIn(c, "ctr-a"); err != nil {
		t.Fatal(err)
	}
	if err := dropRulesIn(c, "ctr-a"); err != nil { // idempotent
		t.Fatal(err)
	}
	for _, w := range []struct {
		chain, id string
		n         int
	}{{pfHostports, "", 1}, {pfMasquerades, "", 2}, {pfHostports, "ctr-b", 1}, {pfPrerouting, "", 1}, {pfOutput, "", 1}} {
		if got := countRules(t, c, w.chain, w.id); got != w.n {
			t.Errorf("after the drop, chain %s: %d rules of %q, want %d", w.chain, got, w.id, w.n)
		}
	}
	lt := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: "cni_hostport"}
	for ch, want := range map[string]int{"hostports": 1, "masquerading": 0} {
		if rules, err := c.GetRules(lt, &nftables.Chain{Name: ch, Table: lt}); err != nil || len(rules) != want || (want == 1 && len(rulesOf(rules, "ctr-c")) != 1) {
			t.Errorf("after the drop, cni_hostport %s: %d rules (%v), want %d (ctr-c's)", ch, len(rules), err, want)
		}
	}
}

func TestForwardsProtocols(t *testing.T) {
	fw, err := forwards([]PortMapping{{HostPort: 1, ContainerPort: 2}, {HostPort: 3, ContainerPort: 4, Protocol: "udp,tcp"}})
	if err != nil || len(fw) != 3 || fw[0].proto != unix.IPPROTO_TCP || fw[1].proto != unix.IPPROTO_UDP || fw[2].proto != unix.IPPROTO_TCP {
		t.Fatalf("forwards: %+v, %v", fw, err)
	}
	for _, bad := range []PortMapping{{HostPort: 0, ContainerPort: 80}, {HostPort: 80, ContainerPort: 70000}, {HostPort: 80, ContainerPort: 80, Protocol: "icmp"}} {
		if _, err := forwards([]PortMapping{bad}); err == nil {
			t.Errorf("forwards(%+v): no error", bad)
		}
	}
}
