package api

// PathDNS is the agent protocol's DNS record set, for the DNS server every
// agent runs (Mesos-DNS's names, https://mesosphere.github.io/mesos-dns/docs/naming.html):
// GET PathDNS?version=V answers at once with the leader's current set
// when its version is not V, else waits until it changes (or about 25 s
// pass) and answers then: a long poll, so a task change reaches every
// agent's DNS within the master's processing time.
const PathDNS = "/api/agent/v1/dns"

// DNSRecords is the DNS record set of the cluster. Names are relative to
// the DNS domain (which each agent's --dns-domain appends), lowercase,
// without the trailing dot: "web.marathon", "_web._tcp.marathon",
// "leader". Version identifies the content (equal sets, equal versions,
// across leaders too).
type DNSRecords struct {
	Version string `json:"version"`
	// A maps a name to its addresses (IPv4 answer A, IPv6 AAAA queries).
	A map[string][]string `json:"a,omitempty"`
	// SRV maps a service name to its targets.
	SRV map[string][]SRVTarget `json:"srv,omitempty"`
}

// SRVTarget is one SRV answer: Target is a name of the set (relative to
// the domain, with its own A records), Port the port.
type SRVTarget struct {
	Target string `json:"target"`
	Port   int    `json:"port"`
}

// DiscoveryInfo is Mesos' DiscoveryInfo of a task (what Marathon sets
// for service discovery: the task's name and named ports), read by DNS.
type DiscoveryInfo struct {
	Visibility string         `json:"visibility"`
	Name       string         `json:"name,omitempty"`
	Ports      *DiscoveryPort `json:"ports,omitempty"`
}

// DiscoveryPort is Mesos' Ports message: {"ports": [...]}.
type DiscoveryPort struct {
	Ports []Port `json:"ports,omitempty"`
}

// Port is one of a task's discoverable ports (Mesos' Port).
type Port struct {
	Number   uint32  `json:"number"`
	Name     string  `json:"name,omitempty"`
	Protocol string  `json:"protocol,omitempty"`
	Labels   *Labels `json:"labels,omitempty"`
}
