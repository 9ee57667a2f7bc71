package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"nodectl/cluster/api"
	"nodectl/runtime/internal/container"
	"nodectl/runtime/internal/dnsserver"
)

// The agent's DNS server (docs/networking.md): Mesos-DNS's names
// (https://mesosphere.github.io/mesos-dns/docs/naming.html) answered
// from the record set the leader builds (cluster/dnsrecords.go), which
// the agent long-polls over its authenticated master connection
// (api.PathDNS): a task change reaches the server as soon as the master
// has applied it. The server answers on DNSConfig.Address for the host,
// and on the container bridge's gateway, port 53, for tasks with a
// network namespace of their own, whose /etc/resolv.conf points there.

// DNSConfig configures the agent's DNS server.
type DNSConfig struct {
	// Address is host:port the server answers on for the host
	// (--dns-address; node's default is the agent's IP, port 53). ""
	// runs no DNS server at all (container tasks then get the host's
	// resolv.conf).
	Address string
	// Domain (--dns-domain, default "mesos", Mesos-DNS's default).
	Domain string
	// TTL of answers (--dns-ttl, default 60 s, Mesos-DNS's ttl default).
	TTL time.Duration
	// Resolvers (host:port) answer names outside the domain asked by
	// container tasks (--dns-resolvers); nil: the host's resolv.conf
	// nameservers. Queries on Address outside the domain are refused.
	Resolvers []string
}

// DefaultDNSDomain is Mesos-DNS's default domain.
const DefaultDNSDomain = "mesos"

// dnsState is the agent's DNS server (nil server: none runs).
type dnsState struct {
	server     *dnsserver.Server
	resolvConf string // the resolv.conf bridge tasks get ("": the host's)
	mu         sync.Mutex
	updated    time.Time // when the last record set arrived
	// onNet are the resolv.conf files of cluster networks' tasks, by
	// gateway address the server answers on (see dnsResolvConfOn).
	onNet map[string]string
	// adopted are the gateways of cluster networks' tasks recovered
	// before the server started (dnsAdoptGateway).
	adopted []net.IP
}

// startDNS starts the DNS server's listeners; the records come with
// pollDNS. A listener that cannot start is logged, never fatal.
func (a *Agent) startDNS() {
	c := a.cfg.DNS
	if c.Address == "" {
		return
	}
	addr := c.Address
	resolvers := c.Resolvers
	if resolvers == nil {
		resolvers = hostResolvers("/etc/resolv.conf")
	}
	s := dnsserver.New(dnsserver.Config{Domain: c.Domain, TTL: c.TTL, Resolvers: resolvers, Logger: a.log})
	got, err := s.Listen(dnsserver.Listener{Addr: addr})
	if err != nil {
		a.log.Warn("DNS server not started on the host address", "err", err)
	} else {
		a.log.Info("DNS server answering", "addr", got, "domain", s.Domain())
	}
	a.dns.server = s
	a.dns.mu.Lock()
	adopted := a.dns.adopted
	a.dns.mu.Unlock()
	for _, gw := range adopted {
		a.dnsResolvConfOn(&container.Spec{}, gw) // the task's resolv.conf is mounted already
	}
	if a.net == nil {
		return
	}
	gw := a.net.Gateway()
	if gw == nil {
		return
	}
	gaddr := net.JoinHostPort(gw.String(), "53")
	if _, err := s.Listen(dnsserver.Listener{Addr: gaddr, FreeBind: true, Forward: true}); err != nil {
		a.log.Warn("DNS server not started on the container bridge: container tasks keep the host's resolv.conf", "err", err)
		return
	}
	conf := filepath.Join(a.cfg.WorkDir, "dns", "resolv.conf")
	body := fmt.Sprintf("# nodectl: the agent's DNS server (docs/networking.md)\nnameserver %s\nsearch %s\noptions ndots:1\n", gw, s.Domain())
	if err := os.MkdirAll(filepath.Dir(conf), 0o755); err == nil {
		err = os.WriteFile(conf, []byte(body), 0o644)
		if err == nil {
			a.dns.resolvConf = conf
		}
	}
}

// dnsResolvConfOn bind-mounts a resolv.conf naming gw, this agent's
// address on a cluster network's bridge, over the task's, and makes the
// server answer there (once per address; the listener stays, as the
// bridge's own one does, while the bridge comes and goes with its tasks).
// A task on a cluster network cannot count on the container bridge's
// gateway: that bridge exists only while bridge-mode tasks run.
func (a *Agent) dnsResolvConfOn(spec *container.Spec, gw net.IP) {
	s := a.dns.server
	if s == nil || gw == nil {
		return
	}
	key := gw.String()
	a.dns.mu.Lock()
	defer a.dns.mu.Unlock()
	conf, ok := a.dns.onNet[key]
	if !ok {
		if _, err := s.Listen(dnsserver.Listener{Addr: net.JoinHostPort(key, "53"), FreeBind: true, Forward: true}); err != nil {
			a.log.Warn("DNS server not started on a cluster network's bridge: its tasks keep the host's resolv.conf", "addr", key, "err", err)
			return
		}
		conf = filepath.Join(a.cfg.WorkDir, "dns", "resolv-"+key+".conf")
		body := fmt.Sprintf("# nodectl: the agent's DNS server (docs/networking.md)\nnameserver %s\nsearch %s\noptions ndots:1\n", key, s.Domain())
		if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
			a.log.Warn("write a cluster network's resolv.conf", "err", err)
			return
		}
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			a.log.Warn("write a cluster network's resolv.conf", "err", err)
			return
		}
		if a.dns.onNet == nil {
			a.dns.onNet = map[string]string{}
		}
		a.dns.onNet[key] = conf
	}
	spec.Mounts = append(spec.Mounts, container.Mount{Source: conf, Destination: "/etc/resolv.conf", ReadOnly: true})
}

// dnsAdoptGateway makes the server answer again, once it starts, on the
// gateway of a recovered task on a cluster network (ip, the task's
// address in CIDR notation: the gateway is its subnet's first address),
// where the task's resolv.conf points.
func (a *Agent) dnsAdoptGateway(ip string) {
	_, subnet, err := net.ParseCIDR(ip)
	if err != nil || subnet.IP.To4() == nil {
		return
	}
	gw := slices.Clone(subnet.IP.To4())
	gw[3]++
	a.dns.mu.Lock()
	defer a.dns.mu.Unlock()
	if !slices.ContainsFunc(a.dns.adopted, gw.Equal) {
		a.dns.adopted = append(a.dns.adopted, gw)
	}
}

// stopDNS stops the DNS server.
func (a *Agent) stopDNS() {
	if a.dns.server != nil {
		a.dns.server.Close()
	}
}

// hostResolvers are the nameservers of a resolv.conf, as host:53.
func hostResolvers(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 2 && fs[0] == "nameserver" && net.ParseIP(fs[1]) != nil {
			out = append(out, net.JoinHostPort(fs[1], "53"))
		}
	}
	return out
}

// dnsResolvConf bind-mounts the agent's resolv.conf over a task's when
// the task has a network namespace of its own (host-network tasks keep
// the host's).
func (a *Agent) dnsResolvConf(spec *container.Spec) {
	if a.dns.resolvConf == "" || spec.NetNSPath == "" {
		return
	}
	spec.Mounts = append(spec.Mounts, container.Mount{Source: a.dns.resolvConf, Destination: "/etc/resolv.conf", ReadOnly: true})
}

// pollDNS long-polls the leader's DNS record set into the server until
// ctx ends, following the leader the agent registered with.
func (a *Agent) pollDNS(ctx context.Context) {
	s := a.dns.server
	if s == nil {
		return
	}
	client := *a.cfg.HTTPClient
	client.Timeout = 2 * time.Minute // the master answers within its poll wait (25 s)
	for ctx.Err() == nil {
		a.mu.Lock()
		leader, registered := a.leader, a.registered
		a.mu.Unlock()
		if !registered {
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		recs, err := a.fetchDNS(ctx, &client, leader, s.Version())
		if err != nil {
			if ctx.Err() == nil {
				a.log.Debug("DNS records from master", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		if recs.Version != s.Version() {
			s.Update(recs)
			a.dns.mu.Lock()
			a.dns.updated = time.Now()
			a.dns.mu.Unlock()
			// Changes come in bursts (an app's instances start together):
			// one fetch of the whole record set per change would cost the
			// master and every agent O(tasks) each time. A short pause
			// takes the burst's changes in one.
			select {
			case <-ctx.Done():
			case <-time.After(dnsPollPause):
			}
		}
	}
}

// dnsPollPause is the least time between two fetches of changed records
// (Mesos-DNS refreshes every 60 s by default; the long poll brings a
// change here within this pause plus a round trip).
const dnsPollPause = 200 * time.Millisecond

// fetchDNS is one long poll: the records once their version is not have.
func (a *Agent) fetchDNS(ctx context.Context, client *http.Client, leader, have string) (api.DNSRecords, error) {
	var recs api.DNSRecords
	u := a.cfg.Scheme + "://" + leader + api.PathDNS + "?version=" + url.QueryEscape(have)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return recs, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return recs, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return recs, fmt.Errorf("%w: GET %s: %s %s", ErrMasterRefused, api.PathDNS, resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&recs); err != nil {
		return recs, fmt.Errorf("decode DNS records: %w", err)
	}
	return recs, nil
}

// DNSVersion is the version of the DNS record set the agent serves and
// when it arrived (zero without a DNS server or records).
func (a *Agent) DNSVersion() (string, time.Time) {
	if a.dns.server == nil {
		return "", time.Time{}
	}
	a.dns.mu.Lock()
	defer a.dns.mu.Unlock()
	return a.dns.server.Version(), a.dns.updated
}
