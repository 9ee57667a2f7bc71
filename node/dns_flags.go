package node

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/urfave/cli/v2"

	"nodectl/runtime"
)

// The agent's DNS server flags (runtime/dns.go, docs/networking.md).

// dnsFlags are the DNS server's flags.
func dnsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "dns-address", EnvVars: []string{envName("dns-address")},
			Usage: "agent: IP:PORT the agent's DNS server (Mesos-DNS names of the cluster's tasks) answers on for the host (default: the advertised IP, port 53); container tasks with a network of their own always ask it on the container bridge's gateway, port 53; off: no DNS server"},
		&cli.StringFlag{Name: "dns-domain", Value: runtime.DefaultDNSDomain, EnvVars: []string{envName("dns-domain")},
			Usage: "agent: the DNS domain of the cluster's names (Mesos-DNS's domain): <task>.<framework>.<domain>"},
		&cli.GenericFlag{Name: "dns-ttl", Value: &durationFlag{D: 60 * time.Second}, EnvVars: []string{envName("dns-ttl")},
			Usage: "agent: TTL of DNS answers, whole seconds (Mesos-DNS's default ttl)"},
		&cli.StringFlag{Name: "dns-resolvers", EnvVars: []string{envName("dns-resolvers")},
			Usage: "agent: comma-separated IP[:PORT] nameservers that answer container tasks' names outside the domain (default: the host's /etc/resolv.conf nameservers); the host address never forwards (REFUSED)"},
	}
}

// dnsConfig is what the DNS flags configure; the address is resolved
// against the advertised IP at start (runtime). The zero value runs no DNS
// server: a Config built in code (in-process test nodes) does not take
// the host's port 53 and bridge gateway unless it asks.
type dnsConfig struct {
	On        bool
	Address   string
	Domain    string
	TTL       time.Duration
	Resolvers []string
}

// loadDNSFlags reads and validates the DNS flags into cfg.
func loadDNSFlags(c *cli.Context, cfg *Config) error {
	d := dnsConfig{On: true, Address: strings.TrimSpace(c.String("dns-address")), Domain: strings.Trim(strings.ToLower(c.String("dns-domain")), "."),
		TTL: c.Generic("dns-ttl").(*durationFlag).D}
	if d.Address == "off" {
		d.On, d.Address = false, ""
	}
	if d.Address != "" {
		h, p, err := net.SplitHostPort(d.Address)
		if err != nil || net.ParseIP(h) == nil || p == "" {
			return fmt.Errorf("%w: --dns-address: %q is not IP:PORT (or off)", ErrConfig, d.Address)
		}
	}
	if _, ok := dns.IsDomainName(d.Domain); !ok || d.Domain == "" {
		return fmt.Errorf("%w: --dns-domain: %q is not a domain name", ErrConfig, c.String("dns-domain"))
	}
	if d.TTL < time.Second || d.TTL%time.Second != 0 {
		return fmt.Errorf("%w: --dns-ttl: %v is not a whole number of seconds, at least 1s", ErrConfig, d.TTL)
	}
	if v := c.String("dns-resolvers"); v != "" {
		d.Resolvers = []string{}
		for _, r := range splitList(v) {
			if net.ParseIP(r) != nil {
				r = net.JoinHostPort(r, "53")
			}
			if h, _, err := net.SplitHostPort(r); err != nil || net.ParseIP(h) == nil {
				return fmt.Errorf("%w: --dns-resolvers: %q is not IP or IP:PORT", ErrConfig, r)
			}
			d.Resolvers = append(d.Resolvers, r)
		}
	}
	cfg.DNS = d
	return nil
}

// runtime is the agent's DNS configuration; ip is the advertised one.
func (d dnsConfig) runtime(ip string) runtime.DNSConfig {
	if !d.On {
		return runtime.DNSConfig{}
	}
	addr := d.Address
	if addr == "" {
		addr = net.JoinHostPort(ip, "53")
	}
	return runtime.DNSConfig{Address: addr, Domain: d.Domain, TTL: d.TTL, Resolvers: d.Resolvers}
}
