package e2e

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// netLab is a private network the test builds out of network namespaces
// and removes in t.Cleanup: a hub namespace holding a bridge, a veth from
// the test's own namespace into it (the host address .254, where
// processes of the test's namespace listen), and one namespace per
// member, each on its own veth into the bridge. Addresses are in
// 10.201.S.0/24 for a random S; nothing is routed anywhere else. A
// member is partitioned by setting its port on the bridge down: its
// packets are dropped silently, as by a cut cable.
type netLab struct {
	t      testing.TB
	prefix string // names: <prefix>-hub, <prefix>-<name>; bridge ports <prefix><k>
	subnet string // "10.201.S."
	hostIf string // the test namespace's end of its veth
	n      int
}

// netMember is one namespace of the lab.
type netMember struct {
	ns, ip, port string // port: its veth's end on the hub's bridge
}

// newNetLab builds the hub and the host's link into it. It skips the test
// when network namespaces cannot be made (not root, no veth or bridge).
func newNetLab(t testing.TB) *netLab {
	t.Helper()
	tag := fmt.Sprintf("nc%04x", rand.IntN(1<<16))
	l := &netLab{t: t, prefix: tag, subnet: fmt.Sprintf("10.201.%d.", 1+rand.IntN(250)), hostIf: tag + "h"}
	hub := l.hub()
	if out, err := exec.Command("ip", "netns", "add", hub).CombinedOutput(); err != nil {
		t.Skipf("network namespaces unavailable: ip netns add: %v: %s", err, out)
	}
	t.Cleanup(l.remove)
	l.ip("-n", hub, "link", "add", "br0", "type", "bridge")
	l.ip("-n", hub, "link", "set", "dev", "br0", "up")
	l.ip("link", "add", l.hostIf, "type", "veth", "peer", "name", "hostp", "netns", hub)
	l.ip("-n", hub, "link", "set", "dev", "hostp", "master", "br0", "up")
	l.ip("addr", "add", l.hostIP()+"/24", "dev", l.hostIf)
	l.ip("link", "set", "dev", l.hostIf, "up")
	return l
}

func (l *netLab) hub() string { return l.prefix + "-hub" }

// hostIP is the test namespace's address in the lab.
func (l *netLab) hostIP() string { return l.subnet + "254" }

// add makes a member namespace named name with its own address.
func (l *netLab) add(name string) netMember {
	l.t.Helper()
	l.n++
	m := netMember{ns: l.prefix + "-" + name, ip: fmt.Sprintf("%s%d", l.subnet, l.n), port: fmt.Sprintf("%s%d", l.prefix, l.n)}
	l.ip("netns", "add", m.ns)
	l.ip("link", "add", "eth0", "netns", m.ns, "type", "veth", "peer", "name", m.port, "netns", l.hub())
	l.ip("-n", l.hub(), "link", "set", "dev", m.port, "master", "br0", "up")
	l.ip("-n", m.ns, "addr", "add", m.ip+"/24", "dev", "eth0")
	l.ip("-n", m.ns, "link", "set", "dev", "eth0", "up")
	l.ip("-n", m.ns, "link", "set", "dev", "lo", "up")
	return m
}

// cut partitions m from every other member and from the host; heal ends it.
func (l *netLab) cut(m netMember)  { l.ip("-n", l.hub(), "link", "set", "dev", m.port, "down") }
func (l *netLab) heal(m netMember) { l.ip("-n", l.hub(), "link", "set", "dev", m.port, "up") }

func (l *netLab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// remove deletes the member namespaces and the hub (their veths go with
// them). It runs after the processes started in them were killed.
func (l *netLab) remove() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		ns, _, _ := strings.Cut(line, " ")
		if strings.HasPrefix(ns, l.prefix+"-") {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				l.t.Errorf("ip netns del %s: %v: %s", ns, err, out)
			}
		}
	}
	_ = exec.Command("ip", "link", "del", l.hostIf).Run() // gone with the hub already
}

// startIn starts nodectl with args in member m's network namespace (only
// the network: mounts and cgroups stay the test's).
func startIn(t testing.TB, m netMember, args ...string) *proc {
	t.Helper()
	return startCmd(t, exec.Command("nsenter", append([]string{"--net=/run/netns/" + m.ns, "--", bin}, args...)...), args)
}

// withIP is args (node.args) with --ip set to ip.
func withIP(args []string, ip string) []string {
	args = slices.Clone(args)
	if i := slices.Index(args, "--ip"); i >= 0 && i+1 < len(args) {
		args[i+1] = ip
	}
	return args
}
