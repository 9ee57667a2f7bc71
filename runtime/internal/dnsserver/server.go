// Package dnsserver is the DNS server every agent runs
// (github.com/miekg/dns): it answers the cluster's Mesos-DNS names
// (https://mesosphere.github.io/mesos-dns/docs/naming.html) from a record
// set the leader gives (api.DNSRecords, built in cluster/dnsrecords.go),
// over UDP and TCP, authoritatively for its domain.
//
// In the domain: A, AAAA and SRV answers (SRV answers carry their
// targets' addresses in the additional section), SOA and NS at the apex,
// NXDOMAIN (with the SOA, for negative caching) for unknown names, an
// empty NOERROR for a known name without records of the asked type.
// Outside the domain: REFUSED, unless the listener forwards (Listener.Forward)
// and resolvers are configured: never an open resolver.
package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"nodectl/cluster/api"
)

// Config configures a Server.
type Config struct {
	// Domain is the DNS domain (default "mesos").
	Domain string
	// TTL of answers (default 60 s, Mesos-DNS's ttl default).
	TTL time.Duration
	// Resolvers (host:port) answer the names outside Domain that
	// forwarding listeners get.
	Resolvers []string
	Logger    *slog.Logger
}

// Listener is an address the server answers on.
type Listener struct {
	Addr string // host:port
	// FreeBind binds Addr even when it is not (yet) on an interface
	// (IP_FREEBIND): the container bridge comes and goes with its tasks.
	FreeBind bool
	// Forward: names outside the domain asked here go to the resolvers.
	Forward bool
}

// Server answers DNS queries from its current record set.
type Server struct {
	cfg     Config
	domain  string // lowercase FQDN with the trailing dot
	recs    atomic.Pointer[zone]
	mu      sync.Mutex
	servers []*dns.Server
	nsIPs   []string
}

// zone is a record set indexed by FQDN.
type zone struct {
	version string
	a       map[string][]net.IP
	srv     map[string][]api.SRVTarget
}

// New makes a server with no records yet (every name in the domain is
// NXDOMAIN until Update).
func New(cfg Config) *Server {
	if cfg.Domain == "" {
		cfg.Domain = "mesos"
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, domain: dns.Fqdn(strings.ToLower(strings.Trim(cfg.Domain, ".")))}
	s.recs.Store(&zone{})
	return s
}

// Domain is the server's domain, without the trailing dot.
func (s *Server) Domain() string { return strings.TrimSuffix(s.domain, ".") }

// Version is the version of the record set served ("" before any).
func (s *Server) Version() string { return s.recs.Load().version }

// Update replaces the record set.
func (s *Server) Update(r api.DNSRecords) {
	z := &zone{version: r.Version, a: map[string][]net.IP{}, srv: map[string][]api.SRVTarget{}}
	for n, ips := range r.A {
		for _, ip := range ips {
			if p := net.ParseIP(ip); p != nil {
				z.a[s.fqdn(n)] = append(z.a[s.fqdn(n)], p)
			}
		}
	}
	for n, ts := range r.SRV {
		z.srv[s.fqdn(n)] = ts
	}
	s.mu.Lock()
	for _, ip := range s.nsIPs {
		z.a["ns1."+s.domain] = append(z.a["ns1."+s.domain], net.ParseIP(ip))
	}
	s.mu.Unlock()
	s.recs.Store(z)
}

// fqdn is name (relative to the domain) as a lowercase FQDN.
func (s *Server) fqdn(name string) string {
	if name == "" {
		return s.domain
	}
	return strings.ToLower(name) + "." + s.domain
}

// Listen starts answering on l, UDP and TCP, and returns the UDP
// address it got (l.Addr's port 0 picks one, the same for TCP when free);
// Close stops.
func (s *Server) Listen(l Listener) (string, error) {
	lc := net.ListenConfig{}
	if l.FreeBind {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	pc, ln, err := listenBoth(lc, l.Addr)
	if err != nil {
		return "", err
	}
	addr := pc.LocalAddr().String()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) { s.serve(w, q, l.Forward) })
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h}
	host, _, _ := net.SplitHostPort(l.Addr)
	s.mu.Lock()
	s.servers = append(s.servers, udp, tcp)
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		s.nsIPs = append(s.nsIPs, ip.String())
	}
	s.mu.Unlock()
	for _, srv := range []*dns.Server{udp, tcp} {
		go func() {
			if err := srv.ActivateAndServe(); err != nil && !errors.Is(err, net.ErrClosed) {
				s.cfg.Logger.Warn("dns server stopped", "addr", addr, "err", err)
			}
		}()
	}
	return addr, nil
}

// listenBoth binds UDP and TCP on the same address. With port 0 the
// kernel picks the UDP port, which a TCP socket may hold already (an
// outgoing connection's local port): then it tries another one.
func listenBoth(lc net.ListenConfig, addr string) (net.PacketConn, net.Listener, error) {
	_, port, _ := net.SplitHostPort(addr)
	ctx := context.Background()
	for attempt := 1; ; attempt++ {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns on %s/udp: %w", addr, err)
		}
		bound := pc.LocalAddr().String()
		ln, err := lc.Listen(ctx, "tcp", bound)
		if err == nil {
			return pc, ln, nil
		}
		_ = pc.Close()
		if port != "0" || !errors.Is(err, syscall.EADDRINUSE) || attempt == 8 {
			return nil, nil, fmt.Errorf("dns on %s/tcp: %w", bound, err)
		}
	}
}

// Close stops every listener.
func (s *Server) Close() {
	s.mu.Lock()
	servers := s.servers
	s.servers = nil
	s.mu.Unlock()
	for _, srv := range servers {
		_ = srv.Shutdown()
	}
}

// inDomain: name is the domain or under it.
func (s *Server) inDomain(name string) bool {
	return name == s.domain || strings.HasSuffix(name, "."+s.domain)
}

func (s *Server) serve(w dns.ResponseWriter, q *dns.Msg, forward bool) {
	m := new(dns.Msg)
	if len(q.Question) != 1 || q.Opcode != dns.OpcodeQuery {
		m.SetRcode(q, dns.RcodeNotImplemented)
		_ = w.WriteMsg(m)
		return
	}
	qn := strings.ToLower(q.Question[0].Name)
	if !s.inDomain(qn) {
		if forward && len(s.cfg.Resolvers) > 0 {
			if r := s.forward(q, w.RemoteAddr().Network()); r != nil {
				_ = w.WriteMsg(r)
				return
			}
			m.SetRcode(q, dns.RcodeServerFailure)
		} else {
			m.SetRcode(q, dns.RcodeRefused)
		}
		_ = w.WriteMsg(m)
		return
	}
	s.answer(m, q, qn)
	if o := q.IsEdns0(); o != nil {
		m.SetEdns0(o.UDPSize(), false)
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if o := q.IsEdns0(); o != nil {
			size = int(o.UDPSize())
		}
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}

// answer fills m, the reply to q about qn (in the domain).
func (s *Server) answer(m *dns.Msg, q *dns.Msg, qn string) {
	m.SetReply(q)
	m.Authoritative = true
	m.RecursionAvailable = false
	z := s.recs.Load()
	ttl := uint32(s.cfg.TTL / time.Second)
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Question[0].Name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	addrs := func(name string, t uint16) []dns.RR {
		var out []dns.RR
		for _, ip := range z.a[name] {
			h := dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
			if v4 := ip.To4(); v4 != nil && t == dns.TypeA {
				out = append(out, &dns.A{Hdr: h, A: v4})
			} else if v4 == nil && t == dns.TypeAAAA {
				out = append(out, &dns.AAAA{Hdr: h, AAAA: ip})
			}
		}
		return out
	}
	_, hasA := z.a[qn]
	_, hasSRV := z.srv[qn]
	apex := qn == s.domain
	switch qt := q.Question[0].Qtype; {
	case apex && (qt == dns.TypeSOA || qt == dns.TypeANY):
		m.Answer = append(m.Answer, s.soa(ttl))
	case apex && qt == dns.TypeNS:
		m.Answer = append(m.Answer, &dns.NS{Hdr: hdr(dns.TypeNS), Ns: "ns1." + s.domain})
		m.Extra = append(m.Extra, addrs("ns1."+s.domain, dns.TypeA)...)
	case qt == dns.TypeA || qt == dns.TypeAAAA:
		for _, rr := range addrs(qn, qt) {
			rr.Header().Name = q.Question[0].Name
			m.Answer = append(m.Answer, rr)
		}
	case qt == dns.TypeSRV || qt == dns.TypeANY && hasSRV:
		for _, t := range z.srv[qn] {
			target := s.fqdn(t.Target)
			m.Answer = append(m.Answer, &dns.SRV{Hdr: hdr(dns.TypeSRV), Target: target, Port: uint16(t.Port)})
			m.Extra = append(m.Extra, addrs(target, dns.TypeA)...)
			m.Extra = append(m.Extra, addrs(target, dns.TypeAAAA)...)
		}
	case qt == dns.TypeANY:
		m.Answer = append(m.Answer, addrs(qn, dns.TypeA)...)
		m.Answer = append(m.Answer, addrs(qn, dns.TypeAAAA)...)
	}
	// Mesos-DNS shuffles records for rudimentary load balancing.
	rand.Shuffle(len(m.Answer), func(i, j int) { m.Answer[i], m.Answer[j] = m.Answer[j], m.Answer[i] })
	if len(m.Answer) == 0 {
		if !hasA && !hasSRV && !apex && !s.hasChildren(z, qn) {
			m.Rcode = dns.RcodeNameError
		}
		m.Ns = append(m.Ns, s.soa(ttl))
	}
}

// hasChildren: some name exists under qn (an empty non-terminal, e.g.
// "marathon.mesos." or "_tcp.marathon.mesos."), which is NOERROR, not
// NXDOMAIN (RFC 8020).
func (s *Server) hasChildren(z *zone, qn string) bool {
	suffix := "." + qn
	for n := range z.a {
		if strings.HasSuffix(n, suffix) {
			return true
		}
	}
	for n := range z.srv {
		if strings.HasSuffix(n, suffix) {
			return true
		}
	}
	return false
}

// soa is the domain's SOA record (Mesos-DNS's SOA defaults: mname
// ns1.<domain>, refresh 60, retry 600, expire 86400, minimum the TTL).
func (s *Server) soa(ttl uint32) dns.RR {
	return &dns.SOA{
		Hdr: dns.RR_Header{Name: s.domain, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:  "ns1." + s.domain, Mbox: "root.ns1." + s.domain,
		Serial: uint32(time.Now().Unix()), Refresh: 60, Retry: 600, Expire: 86400, Minttl: ttl,
	}
}

// forward asks the resolvers in turn; nil when none answered.
func (s *Server) forward(q *dns.Msg, network string) *dns.Msg {
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	for _, r := range s.cfg.Resolvers {
		resp, _, err := c.Exchange(q, r)
		if err == nil && resp != nil {
			return resp
		}
	}
	return nil
}
