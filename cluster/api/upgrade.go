package api

// PathNodeUpgrade is the node upgrade endpoint, on a master's port and on
// an agent's (docs/upgrade.md):
//
//	GET  /node/upgrade  what this node runs and how it upgrades (NodeUpgrade)
//	POST /node/upgrade  body: a signed update bundle; the node verifies it,
//	                    installs it and restarts into it (NodeUpgrade)
const PathNodeUpgrade = "/node/upgrade"

// How a node upgrades (NodeUpgrade.Mode).
const (
	// UpgradeBinary: a plain or systemd install replaces its own binary
	// with a binary bundle's and re-executes itself.
	UpgradeBinary = "binary"
	// UpgradeAppliance: the appliance installed on a disk writes a slot
	// bundle to its other slot and reboots into it on trial.
	UpgradeAppliance = "appliance"
)

// NodeUpgrade describes a node for an upgrade, and answers one.
type NodeUpgrade struct {
	// Version is the nodectl version the node runs.
	Version string `json:"version"`
	// Role is the node's --role: master, agent or all.
	Role string `json:"role"`
	// Mode is UpgradeBinary or UpgradeAppliance.
	Mode string `json:"mode"`
	// Master and Agent are the advertised API addresses (host:port) of
	// the node's master and agent, those it runs.
	Master string `json:"master,omitempty"`
	Agent  string `json:"agent,omitempty"`
	// Trusted: the node has an update key to verify bundles with.
	Trusted bool `json:"trusted"`
	// Target is the version of the bundle just posted, and Restarting
	// whether the node now restarts into it (false: it runs it already).
	Target     string `json:"target,omitempty"`
	Restarting bool   `json:"restarting,omitempty"`
}
