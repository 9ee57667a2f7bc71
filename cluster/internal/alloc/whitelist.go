package alloc

import "strings"

// SetAgentWhitelist limits offers to agents whose hostname (lower case) is
// in hosts (Mesos' --whitelist); nil offers every agent. Agents left out
// keep their allocations; they are just not offered.
func (a *Allocator) SetAgentWhitelist(hosts map[string]bool) {
	a.whitelist = hosts
	a.epoch++
}

// listed reports whether n may be offered under the whitelist.
func (a *Allocator) listed(n *agent) bool {
	return a.whitelist == nil || a.whitelist[strings.ToLower(n.info.Hostname)]
}
