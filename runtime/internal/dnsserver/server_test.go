package dnsserver

import (
	"testing"

	"github.com/miekg/dns"

	"nodectl/cluster/api"
)

func TestServer(t *testing.T) {
	s := New(Config{Domain: "mesos"})
	addr, err := s.Listen(Listener{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Update(api.DNSRecords{Version: "v1",
		A:   map[string][]string{"web.marathon": {"10.0.0.1", "10.0.0.2"}, "web-x-s1.marathon.slave": {"10.0.0.1"}, "v6.marathon": {"fd00::1"}},
		SRV: map[string][]api.SRVTarget{"_http._web._tcp.marathon": {{Target: "web-x-s1.marathon.slave", Port: 31000}}},
	})
	for _, c := range []struct {
		name    string
		qtype   uint16
		net     string
		rcode   int
		answers int
		extra   int
	}{
		{"web.marathon.mesos.", dns.TypeA, "udp", dns.RcodeSuccess, 2, 0},
		{"WEB.Marathon.Mesos.", dns.TypeA, "tcp", dns.RcodeSuccess, 2, 0},
		{"v6.marathon.mesos.", dns.TypeAAAA, "udp", dns.RcodeSuccess, 1, 0},
		{"v6.marathon.mesos.", dns.TypeA, "udp", dns.RcodeSuccess, 0, 0}, // NODATA
		{"_http._web._tcp.marathon.mesos.", dns.TypeSRV, "udp", dns.RcodeSuccess, 1, 1},
		{"marathon.mesos.", dns.TypeA, "udp", dns.RcodeSuccess, 0, 0}, // empty non-terminal
		{"nope.marathon.mesos.", dns.TypeA, "udp", dns.RcodeNameError, 0, 0},
		{"mesos.", dns.TypeSOA, "udp", dns.RcodeSuccess, 1, 0},
		{"example.com.", dns.TypeA, "udp", dns.RcodeRefused, 0, 0},
	} {
		q := new(dns.Msg)
		q.SetQuestion(c.name, c.qtype)
		r, _, err := (&dns.Client{Net: c.net}).Exchange(q, addr)
		if err != nil {
			t.Fatalf("%s %s: %v", c.name, dns.TypeToString[c.qtype], err)
		}
		if r.Rcode != c.rcode || len(r.Answer) != c.answers || len(r.Extra) != c.extra {
			t.Errorf("%s %s over %s: rcode %s, %d answers, %d extra; want %s, %d, %d\n%v", c.name, dns.TypeToString[c.qtype], c.net,
				dns.RcodeToString[r.Rcode], len(r.Answer), len(r.Extra), dns.RcodeToString[c.rcode], c.answers, c.extra, r)
		}
		if c.rcode != dns.RcodeRefused && !r.Authoritative {
			t.Errorf("%s: not authoritative", c.name)
		}
		for _, rr := range r.Answer {
			if rr.Header().Ttl != 60 {
				t.Errorf("%s: TTL %d, want 60", c.name, rr.Header().Ttl)
			}
		}
	}
	if s.Version() != "v1" {
		t.Errorf("version %q", s.Version())
	}
}
