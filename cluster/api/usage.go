package api

// Resource history: what an agent samples of its tasks' usage
// (runtime/usage.go) and the master's cluster utilisation
// (cluster/usage.go).

// UsageSample is usage at one instant (T, seconds since the epoch): CPUs
// is cores used on average since the previous sample, network rates are
// bytes per second (only for tasks with their own network namespace). On
// an agent's or the cluster's sum, Alloc* is what tasks were given, and
// Total* (cluster only) what the agents have.
type UsageSample struct {
	T         int64   `json:"t"`
	CPUs      float64 `json:"cpus"`
	MemBytes  uint64  `json:"mem_bytes"`
	DiskBytes int64   `json:"disk_bytes"`
	NetRxBps  float64 `json:"net_rx_bps,omitempty"`
	NetTxBps  float64 `json:"net_tx_bps,omitempty"`

	AllocCPUs   float64 `json:"alloc_cpus,omitempty"`
	AllocMemMB  float64 `json:"alloc_mem_mb,omitempty"`
	AllocDiskMB float64 `json:"alloc_disk_mb,omitempty"`

	TotalCPUs   float64 `json:"total_cpus,omitempty"`
	TotalMemMB  float64 `json:"total_mem_mb,omitempty"`
	TotalDiskMB float64 `json:"total_disk_mb,omitempty"`
	Agents      int     `json:"agents,omitempty"`
}

// UsageAllocation is cpus, mem (MB) and disk (MB) given or owned.
type UsageAllocation struct {
	CPUs   float64 `json:"cpus"`
	MemMB  float64 `json:"mem_mb"`
	DiskMB float64 `json:"disk_mb"`
}

// TaskUsage is one task's resource history (GET /monitor/history?task=ID
// on its agent; /agents/{id}/monitor/history on the master).
type TaskUsage struct {
	TaskID          string          `json:"task_id"`
	FrameworkID     string          `json:"framework_id"`
	AgentID         string          `json:"agent_id"`
	IntervalSeconds float64         `json:"interval_seconds"`
	Allocated       UsageAllocation `json:"allocated"`
	Running         bool            `json:"running"`
	Samples         []UsageSample   `json:"samples"`
}

// AgentUsage is an agent's history of the sums over its tasks, used vs
// allocated (GET /monitor/summary; /agents/{id}/monitor/summary).
type AgentUsage struct {
	AgentID         string          `json:"agent_id"`
	IntervalSeconds float64         `json:"interval_seconds"`
	Total           UsageAllocation `json:"total"`
	Tasks           int             `json:"tasks"`
	Samples         []UsageSample   `json:"samples"`
}

// ClusterUsage is the master's cluster utilisation over the last hour
// (GET /monitor/cluster): the sums of the agents' latest samples.
type ClusterUsage struct {
	IntervalSeconds float64       `json:"interval_seconds"`
	Samples         []UsageSample `json:"samples"`
}
