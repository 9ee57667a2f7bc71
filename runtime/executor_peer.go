package runtime

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Peer identification of the executor API (executor_http.go): which
// executor's container holds the other end of a loopback TCP connection.
// The kernel knows: the connection's client socket is the line of
// /proc/net/tcp(6) whose local address is the connection's remote one and
// whose remote address is ours; its inode is the socket's; a process
// holding it has /proc/<pid>/fd/<n> → "socket:[inode]"; and the processes
// of an executor's container are those in its PID namespace (that of the
// container's init, /proc/<pid>/ns/pid).

type peerCandidate struct {
	pid int // the container's init on the host
	e   *executor
}

// peerExecutor returns the executor whose container holds c's client
// end, or nil.
func peerExecutor(c net.Conn, cands []peerCandidate) *executor {
	if len(cands) == 0 {
		return nil
	}
	local, err1 := netip.ParseAddrPort(c.LocalAddr().String())
	remote, err2 := netip.ParseAddrPort(c.RemoteAddr().String())
	if err1 != nil || err2 != nil {
		return nil
	}
	inode, err := socketInode(remote, local)
	if err != nil || inode == "" {
		return nil
	}
	want := "socket:[" + inode + "]"
	for _, cand := range cands {
		for _, pid := range containerPids(cand.pid) {
			if holdsSocket(pid, want) {
				return cand.e
			}
		}
	}
	return nil
}

// socketInode finds the inode of the TCP socket bound to local and
// connected to remote.
func socketInode(local, remote netip.AddrPort) (string, error) {
	files := []string{"/proc/net/tcp", "/proc/net/tcp6"}
	for _, f := range files {
		ino, err := scanTCP(f, local, remote)
		if err != nil {
			return "", err
		}
		if ino != "" {
			return ino, nil
		}
	}
	return "", nil
}

func scanTCP(path string, local, remote netip.AddrPort) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return "", nil
		}
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	first := true
	for sc.Scan() {
		if first { // header
			first = false
			continue
		}
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		l, err1 := parseProcAddr(fields[1])
		r, err2 := parseProcAddr(fields[2])
		if err1 != nil || err2 != nil {
			continue
		}
		if sameAddrPort(l, local) && sameAddrPort(r, remote) {
			return fields[9], nil
		}
	}
	return "", sc.Err()
}

func sameAddrPort(a, b netip.AddrPort) bool {
	return a.Port() == b.Port() && a.Addr().Unmap() == b.Addr().Unmap()
}

// parseProcAddr reads /proc/net/tcp's "0100007F:1F90": the address as
// the kernel's 32-bit words in host (little-endian) order, the port in
// hex.
func parseProcAddr(s string) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	raw, err := hex.DecodeString(h)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port %q", s)
	}
	b := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(b[i:], binary.LittleEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(b)
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// containerPids lists the processes of the container whose init is pid:
// every process in init's PID namespace (the container's own; a process
// that daemonizes stays in it). A container sharing the agent's PID
// namespace counts its init alone.
func containerPids(pid int) []int {
	ns, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "ns", "pid"))
	if err != nil {
		return nil
	}
	if self, err := os.Readlink("/proc/self/ns/pid"); err != nil || self == ns {
		return []int{pid}
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return []int{pid}
	}
	var out []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "pid")); err == nil && l == ns {
			out = append(out, p)
		}
	}
	return out
}

// holdsSocket reports whether process pid has an fd on the socket want
// ("socket:[inode]").
func holdsSocket(pid int, want string) bool {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, ent := range ents {
		if l, err := os.Readlink(filepath.Join(dir, ent.Name())); err == nil && l == want {
			return true
		}
	}
	return false
}
