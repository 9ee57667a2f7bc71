package api

// Cluster networks (Marathon's container networks, Mesos'
// ContainerInfo.network_infos by name): networks every agent can put tasks
// on, each task with an address of its own, reachable from every agent
// through a VXLAN overlay as flannel's vxlan backend builds it
// (https://github.com/flannel-io/flannel/blob/master/Documentation/backends.md#vxlan).
// The masters define them (--cluster-cidr, --cluster-network) and lease
// each agent a subnet of each network's CIDR in etcd; agents ask for their
// leases, and learn everyone else's, by POSTing PathNetworkLeases.

// PathNetworkLeases is the agent-protocol route of network leases: the
// master makes sure the calling agent holds a lease in every cluster
// network and answers with the networks and every agent's leases. With
// Index set to the Index of the previous answer it answers only once the
// leases changed (or after a while with the same Index): a long poll.
const PathNetworkLeases = "/api/agent/v1/network/leases"

// DefaultClusterNetwork is the name of the network --cluster-cidr defines.
const DefaultClusterNetwork = "nodectl"

// ClusterNetwork is one network the masters define.
type ClusterNetwork struct {
	Name string `json:"name"`
	// CIDR is the whole network's range, e.g. 10.42.0.0/16.
	CIDR string `json:"cidr"`
	// HostPrefix is the prefix length of each agent's subnet (24: a /24
	// per agent).
	HostPrefix int `json:"host_prefix"`
	// Allow names the other networks whose tasks may reach this one's.
	Allow []string `json:"allow,omitempty"`
}

// NetworkLease is an agent's subnet of a cluster network.
type NetworkLease struct {
	Network string `json:"network"`
	AgentID string `json:"agent_id"`
	// Subnet is the agent's part of the network's CIDR, e.g. 10.42.3.0/24.
	Subnet string `json:"subnet"`
	// UnderlayIP is the agent's address other agents send VXLAN to, and
	// VTEPMAC its VXLAN device's MAC address.
	UnderlayIP string `json:"underlay_ip"`
	VTEPMAC    string `json:"vtep_mac"`
}

// NetworkLeasesRequest is an agent's POST to PathNetworkLeases.
type NetworkLeasesRequest struct {
	AgentID    string `json:"agent_id"`
	UnderlayIP string `json:"underlay_ip"`
	VTEPMAC    string `json:"vtep_mac"`
	// CNINetworks are the networks of the agent's --network_cni_config_dir,
	// so the master accepts tasks naming them.
	CNINetworks []string `json:"cni_networks,omitempty"`
	// Index is the Index of the agent's last answer (0: answer at once);
	// WaitSeconds bounds the wait for a change (default and most 25).
	Index       uint64 `json:"index"`
	WaitSeconds int    `json:"wait_seconds,omitempty"`
}

// NetworkLeasesResponse is the master's answer.
type NetworkLeasesResponse struct {
	Index    uint64           `json:"index"`
	Networks []ClusterNetwork `json:"networks"`
	Leases   []NetworkLease   `json:"leases"`
}
