package cluster

import (
	"crypto/sha1" //nolint:gosec // a name tag, as Mesos-DNS's, not a security hash
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"nodectl/cluster/api"
)

// DNS records (api.PathDNS): the leader builds the names Mesos-DNS would
// (https://mesosphere.github.io/mesos-dns/docs/naming.html, Mesos-DNS's
// records/generator.go) from its own state, and every agent's DNS server
// (runtime/dns.go) long-polls them. Names are relative to the domain,
// which the agents append. For a RUNNING task named T (its
// DiscoveryInfo name if it has one) of framework F, with canonical name
// C = T-<hash of the task id>-<agent id tail>:
//
//	T.F, C.F              A: the task's own addresses (its network_infos,
//	                         Mesos-DNS's default IPSources "netinfo" first),
//	                         else its agent's address
//	T.F.slave, C.F.slave  A: its agent's address
//	_T._tcp.F, _T._udp.F  SRV: C.F.slave:<host port> for each host port
//	                         (also under F.slave)
//	_N._T._tcp.F          SRV: per named port N of its DiscoveryInfo (the
//	                         port's protocol); a host port targets C.F.slave
//	                         (the agent's address), another port C.F (the
//	                         task's address)
//
// and leader, master, masterN, slave A records with _leader._tcp,
// _leader._udp, _master._tcp, _master._udp and _slave._tcp SRV records.
// Labels follow Mesos-DNS's default RFC 1123 rule (lowercase, [a-z0-9-],
// '.' and '_' become '-', at most 63 characters).
//
// One deviation, documented in docs/networking.md: Mesos-DNS points a
// DiscoveryInfo port's SRV record at C.F, which for a bridge-mode task
// resolves to its container address with its host port; nodectl points
// host ports at the agent's address, where they are forwarded.

// dnsPollWait is how long a DNS long poll waits for a change.
const dnsPollWait = 25 * time.Second

// dnsWatch lets DNS long polls wait for a state change (master.mu).
type dnsWatch struct {
	gen    uint64        // counts changes
	wake   chan struct{} // closed at the next change; nil until someone waits
	cached *api.DNSRecords
	cacheG uint64    // gen of cached
	cacheT time.Time // when cached was built: the master list changes with no event
}

// changedLocked: something the DNS shows may have changed.
func (d *dnsWatch) changedLocked() {
	d.gen++
	if d.wake != nil {
		close(d.wake)
		d.wake = nil
	}
}

// dnsTask is what the DNS shows of a task.
type dnsTask struct {
	ID, Name, AgentID, Framework string
	Running                      bool
	IPs                          []string // its own addresses (network_infos), if any
	HostPorts                    []int
	Discovery                    *api.DiscoveryInfo
}

// dnsAgent is an agent's address and port.
type dnsAgent struct {
	IP   string
	Port int
}

// dnsState is the part of the master's state the DNS shows.
type dnsState struct {
	Leader  string   // host:port of the leading master
	Masters []string // host:port of every master
	Agents  map[string]dnsAgent
	Tasks   []dnsTask
}

// dnsStateLocked snapshots the state the DNS shows.
func (m *Master) dnsStateLocked() dnsState {
	s := dnsState{Agents: map[string]dnsAgent{}}
	if m.leader != nil {
		s.Leader = m.leader.Address()
	}
	for _, mb := range m.quorum.Members {
		if mb.Master != "" {
			s.Masters = append(s.Masters, mb.Master)
		}
	}
	if len(s.Masters) == 0 && s.Leader != "" {
		s.Masters = []string{s.Leader}
	}
	for id, a := range m.agents {
		if a.UnreachableTime == nil {
			s.Agents[id] = dnsAgent{IP: a.Info.IP, Port: a.Info.Port}
		}
	}
	for _, fw := range m.frameworks {
		for _, t := range fw.tasks {
			if t.state != api.TaskRunning {
				continue
			}
			s.Tasks = append(s.Tasks, dnsTask{
				ID: t.info.TaskID.Value, Name: t.info.Name, AgentID: t.agentID, Framework: fw.info.Name,
				Running: true, IPs: statusIPs(t.statuses), HostPorts: hostPorts(t.info.Resources), Discovery: t.info.Discovery,
			})
		}
	}
	return s
}

// statusIPs are the addresses of the newest status that has network_infos.
func statusIPs(sts []histStatus) []string {
	for i := len(sts) - 1; i >= 0; i-- {
		if sts[i].extra == nil {
			continue
		}
		cs := sts[i].extra.container
		if cs == nil || len(cs.NetworkInfo) == 0 {
			continue
		}
		b, err := json.Marshal(cs.NetworkInfo)
		if err != nil {
			continue
		}
		var nis []struct {
			IPAddresses []struct {
				IPAddress string `json:"ip_address"`
			} `json:"ip_addresses"`
		}
		if json.Unmarshal(b, &nis) != nil {
			continue
		}
		var ips []string
		for _, ni := range nis {
			for _, ip := range ni.IPAddresses {
				if net.ParseIP(ip.IPAddress) != nil {
					ips = append(ips, ip.IPAddress)
				}
			}
		}
		if len(ips) > 0 {
			return ips
		}
	}
	return nil
}

// hostPorts are the ports of a task's "ports" resources.
func hostPorts(rs api.Resources) []int {
	var out []int
	for _, r := range rs {
		if r.Name != "ports" || r.Ranges == nil {
			continue
		}
		for _, rg := range r.Ranges.Range {
			for p := rg.Begin; p <= rg.End && p-rg.Begin < 1024; p++ {
				out = append(out, int(p))
			}
		}
	}
	return out
}

// dnsLabel is Mesos-DNS's RFC 1123 label of a name: lowercase, letters
// and digits kept, '-', '.' and '_' become '-', anything else dropped,
// no leading or trailing '-', at most 63 characters.
func dnsLabel(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b = append(b, byte(r))
		case r == '-' || r == '.' || r == '_':
			b = append(b, '-')
		}
	}
	out := strings.TrimLeft(string(b), "-")
	if len(out) > 63 {
		out = out[:63]
	}
	return strings.TrimRight(out, "-")
}

// dnsFragment is a framework's name as domain labels: '.' separates
// labels, each made a label by dnsLabel (Mesos-DNS allows dots there).
func dnsFragment(s string) string {
	var ls []string
	for _, p := range strings.Split(s, ".") {
		if l := dnsLabel(p); l != "" {
			ls = append(ls, l)
		}
	}
	return strings.Join(ls, ".")
}

// zbase32 is the alphabet of z-base-32 (human-oriented base 32), which
// Mesos-DNS uses for the task id hash in canonical names.
const zbase32 = "ybndrfg8ejkmcpqxot1uwisza345h769"

// taskHash is 5 z-base-32 characters of the task id's SHA-1.
func taskHash(id string) string {
	sum := sha1.Sum([]byte(id)) //nolint:gosec // see the import
	v := binary.BigEndian.Uint32(sum[:4])
	var b [5]byte
	for i := range b {
		b[i] = zbase32[(v>>(27-5*i))&31]
	}
	return string(b[:])
}

// agentTail is the last '-'-separated field of an agent id, lowercase.
func agentTail(id string) string {
	if i := strings.LastIndexByte(id, '-'); i >= 0 {
		id = id[i+1:]
	}
	return dnsLabel(id)
}

// dnsBuilder accumulates records without duplicates.
type dnsBuilder struct {
	a   map[string][]string
	srv map[string][]api.SRVTarget
}

func (b *dnsBuilder) addA(name, ip string) {
	if name == "" || net.ParseIP(ip) == nil || slices.Contains(b.a[name], ip) {
		return
	}
	b.a[name] = append(b.a[name], ip)
}

func (b *dnsBuilder) addSRV(name, target string, port int) {
	t := api.SRVTarget{Target: target, Port: port}
	if port <= 0 || slices.Contains(b.srv[name], t) {
		return
	}
	b.srv[name] = append(b.srv[name], t)
}

// hostPortIP splits host:port; ok is false when host is not an address.
func hostPortIP(hp string) (string, int, bool) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil || net.ParseIP(h) == nil {
		return "", 0, false
	}
	port, _ := strconv.Atoi(p)
	return h, port, true
}

// buildDNSRecords is the record set of s (pure: records.go's tests).
func buildDNSRecords(s dnsState) api.DNSRecords {
	b := dnsBuilder{a: map[string][]string{}, srv: map[string][]api.SRVTarget{}}
	if ip, port, ok := hostPortIP(s.Leader); ok {
		b.addA("leader", ip)
		b.addSRV("_leader._tcp", "leader", port)
		b.addSRV("_leader._udp", "leader", port)
	}
	masters := slices.Clone(s.Masters)
	slices.Sort(masters)
	for i, mst := range masters {
		if ip, port, ok := hostPortIP(mst); ok {
			n := "master" + strconv.Itoa(i)
			b.addA("master", ip)
			b.addA(n, ip)
			b.addSRV("_master._tcp", n, port)
			b.addSRV("_master._udp", n, port)
		}
	}
	for _, a := range s.Agents {
		if net.ParseIP(a.IP) != nil {
			b.addA("slave", a.IP)
		}
	}
	for _, t := range s.Tasks {
		agent, ok := s.Agents[t.AgentID]
		if !t.Running || !ok || net.ParseIP(agent.IP) == nil {
			continue
		}
		name := t.Name
		if t.Discovery != nil && t.Discovery.Name != "" {
			name = t.Discovery.Name
		}
		tl, fw := dnsLabel(name), dnsFragment(t.Framework)
		if tl == "" || fw == "" {
			continue
		}
		canon := tl + "-" + taskHash(t.ID) + "-" + agentTail(t.AgentID)
		ips := t.IPs
		if len(ips) == 0 {
			ips = []string{agent.IP}
		}
		for _, ip := range ips {
			b.addA(tl+"."+fw, ip)
			b.addA(canon+"."+fw, ip)
		}
		b.addA(tl+"."+fw+".slave", agent.IP)
		b.addA(canon+"."+fw+".slave", agent.IP)
		onSlave := canon + "." + fw + ".slave"
		for _, p := range t.HostPorts {
			for _, proto := range []string{"_tcp", "_udp"} {
				b.addSRV("_"+tl+"."+proto+"."+fw+".slave", onSlave, p)
				if t.Discovery == nil {
					b.addSRV("_"+tl+"."+proto+"."+fw, onSlave, p)
				}
			}
		}
		if t.Discovery == nil || t.Discovery.Ports == nil {
			continue
		}
		for _, dp := range t.Discovery.Ports.Ports {
			target := canon + "." + fw
			if slices.Contains(t.HostPorts, int(dp.Number)) {
				target = onSlave
			}
			protos := []string{"_tcp", "_udp"}
			switch strings.ToLower(dp.Protocol) {
			case "tcp":
				protos = protos[:1]
			case "udp":
				protos = protos[1:]
			}
			for _, proto := range protos {
				b.addSRV("_"+tl+"."+proto+"."+fw, target, int(dp.Number))
				if pn := dnsLabel(dp.Name); pn != "" {
					b.addSRV("_"+pn+"._"+tl+"."+proto+"."+fw, target, int(dp.Number))
				}
			}
		}
	}
	out := api.DNSRecords{A: b.a, SRV: b.srv}
	for _, ips := range out.A {
		slices.Sort(ips)
	}
	for _, ts := range out.SRV {
		slices.SortFunc(ts, cmpSRV)
	}
	body, _ := json.Marshal(out) // maps marshal in key order: equal sets, equal bytes
	sum := sha256.Sum256(body)
	out.Version = hex.EncodeToString(sum[:8])
	return out
}

// cmpSRV orders SRV targets by name, then port.
func cmpSRV(x, y api.SRVTarget) int {
	if c := strings.Compare(x.Target, y.Target); c != 0 {
		return c
	}
	return x.Port - y.Port
}

// dnsRecordsLocked is the current record set (built once per change)
// and the channel closed at the next change.
func (m *Master) dnsRecordsLocked() (*api.DNSRecords, <-chan struct{}) {
	d := &m.dns
	if now := time.Now(); d.cached == nil || d.cacheG != d.gen || now.Sub(d.cacheT) > dnsPollWait/2 {
		recs := buildDNSRecords(m.dnsStateLocked())
		d.cached, d.cacheG, d.cacheT = &recs, d.gen, now
	}
	if d.wake == nil {
		d.wake = make(chan struct{})
	}
	return d.cached, d.wake
}

// handleDNS serves GET api.PathDNS?version=V: the record set at once if
// its version is not V, else when it changes or dnsPollWait passed.
func (m *Master) handleDNS(w http.ResponseWriter, r *http.Request) {
	have := r.URL.Query().Get("version")
	timer := time.NewTimer(dnsPollWait)
	defer timer.Stop()
	for {
		m.mu.Lock()
		if !m.elected {
			m.mu.Unlock()
			writeError(w, http.StatusServiceUnavailable, ErrNotLeader.Error())
			return
		}
		recs, wake := m.dnsRecordsLocked()
		m.mu.Unlock()
		if recs.Version != have {
			writeJSON(w, http.StatusOK, recs)
			return
		}
		select {
		case <-wake:
		case <-timer.C:
			writeJSON(w, http.StatusOK, recs)
			return
		case <-r.Context().Done():
			return
		case <-m.closing:
			writeError(w, http.StatusServiceUnavailable, "master shutting down")
			return
		}
	}
}
