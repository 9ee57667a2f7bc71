package alloc

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"nodectl/cluster/api"
)

// Sentinel errors; match them with errors.Is.
var (
	ErrUnknownAgent     = errors.New("unknown agent")
	ErrUnknownFramework = errors.New("unknown framework")
	ErrExists           = errors.New("already exists")
	ErrNotSubscribed    = errors.New("framework not subscribed to role")
	ErrNotAllocated     = errors.New("resources not allocated")
	ErrBadWeight        = errors.New("bad weight")
	ErrBadPool          = errors.New("bad pool")
	ErrBadConversion    = errors.New("conversion changes resource amounts")
)

// Offer filter durations, as in the Mesos v1 scheduler API Filters.
const (
	// DefaultRefuse is refuse_seconds when a DECLINE or ACCEPT carries no
	// filters. The master passes it explicitly; the allocator has no default.
	DefaultRefuse = 5 * time.Second
	// MaxRefuse caps refuse_seconds (365 days).
	MaxRefuse = 365 * 24 * time.Hour
)

// GPUResources is the FrameworkInfo capability that lets a framework be
// offered agents with GPUs. As in Mesos, frameworks without it never get
// offers from an agent that has any "gpus", so GPU machines stay free for
// the frameworks that need them.
const GPUResources = "GPU_RESOURCES"

// DefaultMinAllocatable is Mesos' --min_allocatable_resources default
// (cpus:0.01|mem:32): free resources are offered only if they hold at least
// one of these quantities.
var DefaultMinAllocatable = []api.Resources{
	{api.ScalarResource("cpus", 0.01)},
	{api.ScalarResource("mem", 32)},
}

// Config configures an Allocator. The zero value is the Mesos default.
type Config struct {
	// MinAllocatable lists alternative minimum quantities (roles ignored):
	// an agent's free resources are offered only if they hold all of at
	// least one entry. Empty means DefaultMinAllocatable; a list holding one
	// empty Resources offers anything non-empty.
	MinAllocatable []api.Resources
}

// Agent is what the allocator knows of an agent (Mesos SlaveInfo).
type Agent struct {
	ID         string
	Hostname   string
	Resources  api.Resources // total
	Attributes api.Attributes
	// NoCheckpoint marks an agent that does not checkpoint, so frameworks
	// with FrameworkInfo.checkpoint get no offers from it. nodectl agents
	// always checkpoint, so the zero value is right for them; the flag keeps
	// Mesos' rule (agents before 0.22 could opt out).
	NoCheckpoint bool
}

// Framework is what the allocator knows of a framework (Mesos FrameworkInfo
// plus its subscription state).
type Framework struct {
	ID              string
	Roles           []string // empty means ["*"]
	Checkpoint      bool     // FrameworkInfo.checkpoint
	Capabilities    []string // Mesos capability names, e.g. GPUResources
	SuppressedRoles []string // a subset of Roles
}

// Allocation is resources held by a framework in one of its roles on one
// agent, as reported when an agent (re-)registers with running tasks.
type Allocation struct {
	FrameworkID string
	Role        string
	Resources   api.Resources
}

// Offer is what Allocate hands out: resources of one agent for one
// framework, allocated to one of its roles (Mesos allocation_info.role).
// Resources is shared with the allocator's books, so treat it as read-only,
// as every api.Resources operation does with its operands.
type Offer struct {
	FrameworkID string
	Role        string
	AgentID     string
	Hostname    string
	Resources   api.Resources
}

// Pool says which part of an allocation resources come back from.
type Pool int

// Resources move offered → used (Allocated) and back to free from either.
//
//	free ──Allocate──▶ Offered ──Allocated──▶ Used
//	  ▲                   │                    │
//	  └───────────────────┴──RecoverResources──┘
const (
	Offered Pool = iota // a declined, rescinded or timed-out offer, or an accepted offer's unused rest
	Used                // resources of a task or executor that ended
)

func (p Pool) String() string {
	switch p {
	case Offered:
		return "offered"
	case Used:
		return "used"
	}
	return fmt.Sprintf("Pool(%d)", int(p))
}

// Recovery returns resources of a framework's allocation on an agent.
type Recovery struct {
	FrameworkID string
	AgentID     string
	Role        string
	Resources   api.Resources
	From        Pool
	// Refuse filters the agent for this framework and role: no offer made
	// only of resources within these is made again until Refuse has passed
	// (a Mesos refused-resources filter). Zero or less sets no filter (a
	// rescind or an offer timeout); more than MaxRefuse is cut to MaxRefuse.
	Refuse time.Duration
}

// Allocator is a hierarchical DRF allocator. Create it with New; it is not
// safe for concurrent use.
type Allocator struct {
	minAlloc []qty
	kinds    []string // scalar resource names, indexing every qty

	agents     map[string]*agent
	order      []*agent // agents sorted by id: the deterministic walk order
	frameworks map[string]*framework
	roles      map[string]*role
	weights    map[string]float64 // only weights other than 1
	quotas     map[string]*quota  // roles with a quota (quota.go)
	whitelist  map[string]bool    // offered agents' hostnames; nil: all (whitelist.go)
	total      qty                // scalar totals of all agents, the DRF denominator
	used       qty                // scalar totals of every Used pool (UsedScalar)
	// epoch is bumped by every event that may let a framework take an
	// agent it could not before, other than the agent's free resources
	// changing: a framework added, updated, activated or revived.
	epoch uint64

	// scratch reused across Allocate rounds.
	cands []*role

	// A round visits only the agents it may offer something new: those
	// whose free resources or activation changed since a round last
	// looked at them (changed), unless every agent must be looked at
	// again: no full walk yet (walkedAll), a framework may take what it
	// could not (epoch moved past walkedEpoch), or a filter that kept an
	// agent from being offered has expired (expiry, the earliest such).
	// 10,000 agents walked every round cost a busy leader 11 % of its CPU.
	changed     []*agent
	walkedEpoch uint64
	walkedAll   bool // a full walk was done at walkedEpoch
	expiry      time.Time

	noCache bool // tests: skip no agent, trust no cached filter answer
}

type allocKey struct{ framework, role string }

// allocation is one framework's resources in one role on one agent.
type allocation struct {
	offered, used api.Resources
}

type agent struct {
	info   Agent
	active bool
	gpus   bool

	allocs map[allocKey]*allocation
	// free is total minus every allocation's offered and used, kept up to
	// date as resources move so a round does no arithmetic for agents it
	// does not offer. An agent whose total shrank below what it has
	// allocated is overcommitted: free is empty and is recomputed from
	// scratch as resources come back, since adding them to the clamped
	// value would count them twice.
	free          api.Resources
	overcommitted bool
	version       uint64 // bumped whenever free changes; keys the filter cache
	blocked       blocked
	// inChanged: n is in its allocator's changed list (owner).
	inChanged bool
	owner     *Allocator
}

// touch puts n on its allocator's list of agents to look at in the next
// round.
func (n *agent) touch() {
	if !n.inChanged {
		n.inChanged = true
		n.owner.changed = append(n.owner.changed, n)
	}
}

// freeChanged records that n's free resources changed.
func (n *agent) freeChanged() {
	n.version++
	n.touch()
}

type framework struct {
	info       Framework
	roles      []string
	active     bool
	gpu        bool
	suppressed map[string]bool
	filters    map[string]map[string][]*filter // agent id → role → filters
}

// role is the DRF state of one role. Frameworks hold allocations in a role
// even while unsubscribed from it or not yet (re-)registered, so allocations
// are keyed by framework id, not by *framework.
type role struct {
	name        string
	subscribers map[string]*framework
	alloc       qty             // offered+used of every framework in the role
	byFramework map[string]*qty // offered+used per framework

	// Allocate scratch: the role's weighted share and its candidate
	// frameworks sorted by their share (unless dirty).
	share float64
	fws   []candidate
	dirty bool
}

// New returns an Allocator with no agents, frameworks or weights.
func New(cfg Config) (*Allocator, error) {
	minAlloc := cfg.MinAllocatable
	if len(minAlloc) == 0 {
		minAlloc = DefaultMinAllocatable
	}
	a := &Allocator{
		agents:     map[string]*agent{},
		frameworks: map[string]*framework{},
		roles:      map[string]*role{},
		weights:    map[string]float64{},
	}
	for _, m := range minAlloc {
		var q qty
		for _, r := range m.Add(nil) {
			if r.Type != api.Scalar {
				return nil, fmt.Errorf("new allocator: min allocatable %s: only scalars count", r.Name)
			}
		}
		a.add(&q, m, 1)
		a.minAlloc = append(a.minAlloc, q)
	}
	return a, nil
}

func (a *Allocator) role(name string) *role {
	r, ok := a.roles[name]
	if !ok {
		r = &role{name: name, subscribers: map[string]*framework{}, byFramework: map[string]*qty{}}
		a.roles[name] = r
	}
	return r
}

// held is what a framework holds in the role.
func (r *role) held(framework string) qty {
	if q := r.byFramework[framework]; q != nil {
		return *q
	}
	return nil
}

// dropRoleIfIdle forgets a role nobody subscribes to or holds resources in.
func (a *Allocator) dropRoleIfIdle(name string) {
	if r, ok := a.roles[name]; ok && len(r.subscribers) == 0 && len(r.byFramework) == 0 {
		delete(a.roles, name)
	}
}

// Weight returns a role's weight (1 unless set by UpdateWeights).
func (a *Allocator) Weight(role string) float64 {
	if w, ok := a.weights[role]; ok {
		return w
	}
	return 1
}

// UpdateWeights sets role weights (Mesos UPDATE_WEIGHTS): a role with weight
// 2 is entitled to twice the dominant share of a role with weight 1. Roles
// not named keep their weight; setting 1 restores the default. Either every
// weight is applied or, on error, none.
func (a *Allocator) UpdateWeights(weights map[string]float64) error {
	for r, w := range weights {
		if err := api.ValidateRole(r); err != nil {
			return fmt.Errorf("update weights: %w", err)
		}
		if !(w > 0 && w <= 1e9) {
			return fmt.Errorf("update weights: role %s: %w %v: want a positive number", r, ErrBadWeight, w)
		}
	}
	for r, w := range weights {
		if w == 1 {
			delete(a.weights, r)
		} else {
			a.weights[r] = w
		}
	}
	return nil
}

// agentIndex is where id is, or would be, in a.order.
func (a *Allocator) agentIndex(id string) (int, bool) {
	return slices.BinarySearchFunc(a.order, id, func(ag *agent, id string) int { return strings.Compare(ag.info.ID, id) })
}
