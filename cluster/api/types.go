package api

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Version is the nodectl version reported by masters and agents. The build
// overrides it with -ldflags "-X nodectl/cluster/api.Version=...".
var Version = "0.1.0-dev"

// Paths of the master endpoints agents use. They are node endpoints: a later
// issue puts them behind mutual TLS.
const (
	PathRegister = "/api/agent/v1/register"
	PathPing     = "/api/agent/v1/ping"
)

// ErrBadAttributes is wrapped by attribute parsing errors.
var ErrBadAttributes = errors.New("bad attributes")

// Attributes are an agent's Mesos attributes ("rack:a;zone:1"). Values are
// kept as text or as a number; JSON renders them as Mesos does in /state.
type Attributes map[string]any

// ParseAttributes parses "rack:a;zone:1". Numeric values become numbers.
func ParseAttributes(s string) (Attributes, error) {
	out := Attributes{}
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%w: %q: want name:value", ErrBadAttributes, part)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%w: %q given twice", ErrBadAttributes, k)
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			out[k] = f
		} else {
			out[k] = v
		}
	}
	return out, nil
}

// String renders attributes in the text syntax, sorted by name.
func (a Attributes) String() string {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%v", k, a[k])
	}
	return strings.Join(parts, ";")
}

// AgentInfo is what an agent says about itself (Mesos SlaveInfo).
type AgentInfo struct {
	ID         string     `json:"id,omitempty"`
	Hostname   string     `json:"hostname"`
	IP         string     `json:"ip"`
	Port       int        `json:"port"`
	Resources  Resources  `json:"resources"`
	Attributes Attributes `json:"attributes,omitempty"`
	Version    string     `json:"version"`
	// SystemReserved is what the agent keeps for the node's own processes
	// (--reserved-resources), already left out of Resources; shown in
	// /state as "system_reserved_resources".
	SystemReserved Resources `json:"system_reserved,omitempty"`
	// AllowedHostPaths is the agent's --allowed-host-paths ("/data:rw",
	// "/srv"), so the master can refuse a hostPath no agent allows.
	AllowedHostPaths []string `json:"allowed_host_paths,omitempty"`
}

// RegisterRequest is sent by an agent to the leading master. An empty
// AgentInfo.ID asks for a new id; a set one re-registers.
type RegisterRequest struct {
	Agent AgentInfo `json:"agent"`
	// Frameworks and Tasks are what a re-registering agent still runs.
	Frameworks []FrameworkInfo `json:"frameworks,omitempty"`
	Tasks      []AgentTask     `json:"tasks,omitempty"`
	// CheckpointedResources is the agent's checkpoint of its dynamic
	// reservations and volumes; the master sends its own set back when
	// they differ.
	CheckpointedResources Resources `json:"checkpointed_resources,omitempty"`
	// BusyPorts are ports of the agent's "ports" resource that other
	// programs on its host hold: the master does not offer them.
	BusyPorts []Range `json:"busy_ports,omitempty"`
}

// RegisterResponse tells the agent its id and how often to ping.
type RegisterResponse struct {
	AgentID             string  `json:"agent_id"`
	MasterID            string  `json:"master_id"`
	PingIntervalSeconds float64 `json:"ping_interval_seconds"`
	// Masters are the API addresses (host:port) of every running master,
	// so the agent can follow the leader through failovers.
	Masters []string `json:"masters,omitempty"`
}

// PingRequest is the agent's periodic liveness message.
type PingRequest struct {
	AgentID string `json:"agent_id"`
	// BusyPorts is as in RegisterRequest: the agent's latest scan.
	BusyPorts []Range `json:"busy_ports,omitempty"`
	// Usage is the agent's latest sum of its tasks' usage (usage.go).
	Usage *UsageSample `json:"usage,omitempty"`
}

// MasterInfo describes a master (Mesos MasterInfo) and is the value a master
// publishes in the leader election.
type MasterInfo struct {
	ID       string `json:"id"`
	PID      string `json:"pid"`
	Hostname string `json:"hostname"`
	IP       string `json:"ip"`
	Port     int    `json:"port"`
	Version  string `json:"version"`
}

// Address is host:port of the master's API.
func (m MasterInfo) Address() string { return fmt.Sprintf("%s:%d", m.IP, m.Port) }

// Error is the JSON body of every 4xx/5xx answer from nodectl's own endpoints.
type Error struct {
	Message string `json:"message"`
}
