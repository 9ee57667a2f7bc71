package runtime

import (
	"net"
	"net/netip"
	"os"
	"testing"
)

// /proc/net/tcp's address form: 32-bit words in host order, port in hex.
func TestExecutorPeerParseProcAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"00000000:0016":                         "0.0.0.0:22",
		"00000000000000000000000001000000:0050": "[::1]:80",
	} {
		got, err := parseProcAddr(in)
		if err != nil || got != netip.MustParseAddrPort(want) {
			t.Errorf("parseProcAddr(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	if _, err := parseProcAddr("nonsense"); err == nil {
		t.Error("parseProcAddr accepted nonsense")
	}
}

// The kernel's view of a loopback connection: the client socket's inode
// is found, and this process holds it; a connection whose client end is
// in no candidate's PID namespace identifies nobody.
func TestExecutorPeerSocketInode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	local := netip.MustParseAddrPort(server.LocalAddr().String())
	remote := netip.MustParseAddrPort(server.RemoteAddr().String())
	ino, err := socketInode(remote, local)
	if err != nil || ino == "" {
		t.Fatalf("socketInode: %q, %v", ino, err)
	}
	if !holdsSocket(os.Getpid(), "socket:["+ino+"]") {
		t.Errorf("this process does not hold socket %s", ino)
	}
	// This test shares the agent's PID namespace: a candidate there
	// counts its init alone (pid 1 is not this process).
	if e := peerExecutor(server, []peerCandidate{{pid: 1, e: &executor{}}}); e != nil {
		t.Error("a connection from outside every executor container was identified")
	}
}

func TestExecutorAccept(t *testing.T) {
	for _, c := range []struct {
		accept          string
		in, want, valid bool
	}{
		{"", true, true, true},
		{"", false, false, true},
		{"application/x-protobuf", false, true, true},
		{"application/json", true, false, true},
		{"*/*", true, true, true},
		{"text/html", true, false, false},
	} {
		got, ok := executorAccept(c.accept, c.in)
		if got != c.want || ok != c.valid {
			t.Errorf("executorAccept(%q, %v) = %v, %v", c.accept, c.in, got, ok)
		}
	}
}
