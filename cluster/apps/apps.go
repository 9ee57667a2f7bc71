// Package apps is nodectl's built-in Marathon: the /v2 REST API (apps,
// tasks, deployments, queue) and a framework that keeps each app's
// instances running. It drives the master only through cluster.Scheduler,
// like any other framework, so every launch goes through the allocator.
//
// State lives in etcd under /nodectl/apps/ (see store.go); a new leader
// loads it, re-subscribes with the same framework id and reconciles its
// tasks before it launches or kills anything.
//
// It imports nodectl/cluster and nodectl/cluster/api only; never node/.
package apps

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"

	"nodectl/cluster"
	"nodectl/cluster/api"
	"nodectl/cluster/auth"
)

// FrameworkName is the name the apps framework subscribes with.
const FrameworkName = "marathon"

// Timings. Variables so that tests can shorten them.
var (
	// failoverTimeout is how long the master keeps our tasks while no
	// leader's apps framework is subscribed (Marathon: a week).
	failoverTimeout = 7 * 24 * time.Hour
	// reconcileGrace bounds the wait for answers to the reconciliation a
	// new subscription starts with; launching waits for it.
	reconcileGrace = 5 * time.Second
	// tick drives backoff expiry, deployment checks and kill retries.
	tick = 250 * time.Millisecond
	// killRetry re-sends a kill that got no terminal update.
	killRetry = 10 * time.Second
	// declineIdle is refuse_seconds for offers when nothing is queued
	// (Marathon's --decline_offer_duration).
	declineIdle = 120.0
	// declineBusy is refuse_seconds for offers that did not fit what is queued.
	declineBusy = 2.0
	// hostMemory is how long a host that offered counts for spreading.
	hostMemory = 10 * time.Minute
	// spreadPatience is how long an app's instances keep to their even
	// share per host before they take whatever host offers.
	spreadPatience = 5 * time.Second
)

// Config configures the apps framework.
type Config struct {
	// Scheduler is the master's framework interface (required).
	Scheduler cluster.Scheduler
	// Etcd holds the state; nil keeps it in memory (tests only).
	Etcd *clientv3.Client
	// TxnMeter counts the framework's etcd writes
	// (cluster.Master.AppsTxnMeter); nil counts nothing.
	TxnMeter *cluster.TxnMeter
	// IsLeader reports whether this master leads (required).
	IsLeader func() bool
	// Fence is the master's current term fence (cluster.Master.Fence):
	// each term's writes are etcd transactions If(the fence of the term
	// its state was loaded in), so a deposed leader commits nothing. Nil
	// leaves writes unfenced (tests).
	Fence func() (clientv3.Cmp, error)
	// TermEvents is the master's term notification
	// (cluster.Master.TermEvents): the framework starts and stops with
	// the master's terms. Nil: IsLeader is polled (tests).
	TermEvents func() <-chan struct{}
	// Leader is the current leader, for redirects and /v2/leader (required).
	Leader func() (api.MasterInfo, bool)
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// NewID makes task and deployment uuids; default random (tests may
	// make them predictable).
	NewID func() string
	// Role is the framework's role, in which resident apps reserve;
	// default DefaultRole.
	Role string
	// Principal is the reservations' principal; default none.
	Principal string
	// TaskReservationTimeout drops a resident reservation whose task was
	// not heard of in this time; default DefaultTaskReservationTimeout.
	TaskReservationTimeout time.Duration
	// Guard authorizes /v2 calls with the caller's rights (app id
	// prefixes, run_tasks); nil allows every call (tests).
	Guard *auth.Guard
	// MaxVersions is how many versions of an app are kept (Marathon's
	// --zk_max_versions); default DefaultMaxVersions.
	MaxVersions int
	// Abdicate makes the leading master step down (DELETE /v2/leader);
	// nil: abdication is refused (503).
	Abdicate func() error
	// DisableMaintenanceMode uses offers of machines in maintenance like
	// any other (Marathon's --disable_maintenance_mode); by default they
	// are declined (maintenance.go).
	DisableMaintenanceMode bool
	// MaintenanceDraining declines a machine's offers this long before
	// its maintenance window starts (Marathon's --draining_seconds);
	// default 0.
	MaintenanceDraining time.Duration
	// User is the framework's user (Marathon's --mesos_user): the user of
	// apps that name none. Default DefaultUser, unprivileged.
	User string
	// HostPathAllowed says whether some agent allows a hostPath volume
	// (cluster.Master.HostPathAllowed); known is false when none can tell.
	// Nil: hostPaths are left to the agents (TASK_ERROR).
	HostPathAllowed func(path string) (allowed, known bool)
	// NetworkKnown says whether tasks may name a network
	// (cluster.Master.NetworkKnown). Nil: the agents decide (TASK_ERROR).
	NetworkKnown func(name string) bool
	// AgentDisks lists the PATH and MOUNT disks of the registered agents
	// (cluster.Master.AgentDisks); known is false while none is
	// registered. Nil: path and mount volumes wait for offers (diskplace.go).
	AgentDisks func() (disks api.Resources, known bool)
	// MaxTxnOps is the most operations the etcd member takes in one
	// transaction (its --max-txn-ops): it bounds how many apps one
	// deployment (a group, a bulk update) changes. Default 128, etcd's.
	MaxTxnOps int
	// DrainingAgents lists the agents being drained or deactivated, and
	// with maintenance those on machines in a started maintenance window
	// (cluster.Master.DrainingAgents): app tasks there are moved elsewhere
	// within the app's upgradeStrategy (drain.go). Nil: none.
	DrainingAgents func(maintenance bool) map[string]bool
}

// DefaultUser is the built-in Marathon's user by default: tasks of apps
// without a "user" run unprivileged ("user": "root" still runs as root
// where --root_submissions and the run_tasks ACL allow).
const DefaultUser = "nobody"

// user is the framework's user (Config.User or DefaultUser).
func (a *Apps) user() string {
	if a.cfg.User != "" {
		return a.cfg.User
	}
	return DefaultUser
}

// Apps is the apps framework and its HTTP API.
type Apps struct {
	cfg   Config
	log   *slog.Logger
	store *store
	wake  chan struct{}

	mu          sync.Mutex // guards the fields below
	ready       bool       // state loaded while leading: the API may answer
	frameworkID string
	sub         cluster.Subscription
	subscribed  bool
	suppressed  bool
	roles       roleState // roles.go
	revive      bool      // something new is queued: revive before the next offer
	reconciling map[string]bool
	reconcileBy time.Time
	apps        map[string]*appState
	appIDs      []string // apps' ids in order, nil until appIDsLocked makes it (sched.go)
	tasks       map[string]*task
	tasksByApp  map[string]map[string]*task // a.tasks by app id: add/removeTaskLocked
	deployments map[string]*Deployment
	// deploymentsByApp is a.deployments by affected app id (add/removeDeploymentLocked).
	deploymentsByApp map[string]map[string]*Deployment
	lastVersion      time.Time
	seen             map[string]map[string]time.Time // offer field (hostname, attribute) → value → last offer with it, for spreading

	// reservations are the resident instances (resident.go); gcUntil:
	// offers are revived until then to release dropped ones.
	reservations map[string]*reservation
	gcUntil      time.Time

	bus *eventBus // /v2/events subscribers (own lock)

	groups map[string]*groupRec // explicit groups (groups.go)

	pods podTable // pods and their instances (podsched.go)

	updBatch *updateBatch // set while handleUpdates collects writes (batch.go)
}

// appState is an app with what the scheduler keeps about it.
type appState struct {
	def         *App
	versions    []string
	backoff     time.Duration
	launchAfter time.Time
	queuedSince time.Time
	lastFailure *TaskFailure
	// enc caches def's JSON for the lists (appinfo.go).
	enc atomic.Pointer[defJSON]
}

// task is one launched task (persisted until terminal).
type task struct {
	ID            string            `json:"id"`
	AppID         string            `json:"appId"`
	Version       string            `json:"version"`
	ConfigVersion string            `json:"configVersion"`
	AgentID       string            `json:"agentId"`
	Host          string            `json:"host"`
	Ports         []int             `json:"ports"`
	Attrs         map[string]string `json:"attrs,omitempty"`
	State         api.TaskState     `json:"state"`
	StagedAt      time.Time         `json:"stagedAt"`
	StartedAt     time.Time         `json:"startedAt"`
	Killing       bool              `json:"killing,omitempty"`
	// UnreachableSince is when the master reported the task
	// TASK_UNREACHABLE (zero while reachable).
	UnreachableSince time.Time `json:"unreachableSince,omitzero"`
	// Inactive: unreachable past the app's inactiveAfterSeconds, so it no
	// longer counts as an instance (a replacement is launched). Derived
	// from UnreachableSince by step.
	Inactive   bool      `json:"-"`
	KillSentAt time.Time `json:"-"`
	// Draining: on an agent being drained or deactivated (drain.go), so
	// it is replaced as a task of an old config is. Derived by step.
	Draining bool `json:"-"`
	// HealthChecked: launched with a health check, so it serves only once
	// the agent reports it healthy.
	HealthChecked bool    `json:"healthChecked,omitempty"`
	Health        *health `json:"health,omitempty"`
	// Checks is each health check's own health, for a task with several
	// (healthchecks.go); Health is their conjunction.
	Checks []health `json:"checks,omitempty"`
	// ReadinessChecked: launched with a readiness check, so it counts in
	// deployments only once Ready (see readiness.go).
	ReadinessChecked bool      `json:"readinessChecked,omitempty"`
	Ready            bool      `json:"ready,omitempty"`
	readyProbeAt     time.Time // last readiness probe started (leader memory only)

	// IPs: the task's own addresses on its network, from the agent's
	// status updates (network.go); empty on the host network.
	IPs []string `json:"ips,omitempty"`
}

// health is what the agent's health reports said about a task.
type health struct {
	Alive               bool      `json:"alive"`
	ConsecutiveFailures int       `json:"consecutiveFailures"`
	FirstSuccess        time.Time `json:"firstSuccess"`
	LastSuccess         time.Time `json:"lastSuccess"`
	LastFailure         time.Time `json:"lastFailure"`
	LastFailureCause    string    `json:"lastFailureCause,omitempty"`
}

func (t *task) alive() bool   { return !t.Killing && !t.Inactive && !t.State.Terminal() }
func (t *task) running() bool { return t.State == api.TaskRunning }

// healthy: running, and reported healthy when it has a health check.
func (t *task) healthy() bool {
	return t.running() && (!t.HealthChecked || t.Health != nil && t.Health.Alive) && (!t.ReadinessChecked || t.Ready)
}

// TaskFailure is an app's lastTaskFailure.
type TaskFailure struct {
	AppID     string `json:"appId"`
	Host      string `json:"host"`
	Message   string `json:"message"`
	State     string `json:"state"`
	TaskID    string `json:"taskId"`
	Timestamp string `json:"timestamp"`
	Version   string `json:"version"`
	SlaveID   string `json:"slaveId"`
}

// New validates cfg; it starts nothing.
func New(cfg Config) (*Apps, error) {
	if cfg.Scheduler == nil || cfg.IsLeader == nil || cfg.Leader == nil {
		return nil, errors.New("apps: Scheduler, IsLeader and Leader are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = newUUID
	}
	if cfg.Role == "" {
		cfg.Role = DefaultRole
	}
	if cfg.TaskReservationTimeout <= 0 {
		cfg.TaskReservationTimeout = DefaultTaskReservationTimeout
	}
	if cfg.MaxVersions <= 0 {
		cfg.MaxVersions = DefaultMaxVersions
	}
	a := &Apps{cfg: cfg, log: cfg.Logger.With("component", "apps"), store: &store{cli: cfg.Etcd, fenced: cfg.Fence != nil, meter: cfg.TxnMeter}, wake: make(chan struct{}, 1), bus: newEventBus()}
	a.resetLocked()
	return a, nil
}

func (a *Apps) resetLocked() {
	a.ready, a.subscribed, a.suppressed = false, false, false
	a.apps, a.appIDs = map[string]*appState{}, nil
	a.tasks = map[string]*task{}
	a.tasksByApp = map[string]map[string]*task{}
	a.deployments = map[string]*Deployment{}
	a.deploymentsByApp = map[string]map[string]*Deployment{}
	a.reconciling = map[string]bool{}
	a.seen = map[string]map[string]time.Time{}
	a.reservations = map[string]*reservation{}
	a.groups = map[string]*groupRec{}
	a.pods = podTable{pods: map[string]*podState{}, instances: map[string]*podInstance{}}
}

// poke wakes the scheduling loop.
func (a *Apps) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Run drives the framework while this master leads, until ctx ends. It
// follows the master's terms (Config.TermEvents): a term's start starts
// it, its end stops it.
func (a *Apps) Run(ctx context.Context) error {
	for {
		term := a.termEvents()
		if a.cfg.IsLeader() {
			if err := a.lead(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("apps framework interrupted; resubscribing", "err", err)
			}
			// A failed start (subscribe, load) is retried after a pause.
			term = nil
		}
		var retry <-chan time.Time
		if term == nil {
			retry = time.After(200 * time.Millisecond)
		} else {
			// Also re-checked now and then: a term's lease can be
			// unconfirmed for a moment (IsLeader false) without ending it.
			retry = time.After(termRecheck)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-term:
		case <-retry:
		}
	}
}

// termRecheck is how often Run re-checks IsLeader while it waits for a
// term event.
var termRecheck = 5 * time.Second

// termEvents is the channel the master closes when its term starts or
// ends (nil without Config.TermEvents).
func (a *Apps) termEvents() <-chan struct{} {
	if a.cfg.TermEvents == nil {
		return nil
	}
	return a.cfg.TermEvents()
}

// errLostLeadership ends lead when this master stops leading.
var errLostLeadership = errors.New("lost leadership")

// lead loads the state, subscribes and handles events until the term
// (leadership) or the subscription ends. Every write of the term is fenced
// by the term it was loaded in; a write refused by the fence ends it.
func (a *Apps) lead(ctx context.Context) error {
	ctx, lost := context.WithCancelCause(ctx)
	defer lost(nil)
	// Closed when this term ends (taken before the fence, so that a term
	// that ends in between is noticed).
	term := a.termEvents()
	if a.cfg.Fence != nil {
		// The fence of the term this state is loaded in: a successor's
		// term fails it, so nothing this term does commits afterwards.
		cmp, err := a.cfg.Fence()
		if err != nil {
			return fmt.Errorf("term fence: %w", err)
		}
		a.store.setTerm(&cmp, func() { lost(errLostLeadership) })
		defer a.store.setTerm(nil, nil)
	}
	snap, err := a.store.load(ctx)
	if err != nil {
		return err
	}
	// A backlog of versions (stored before the bound, or under a higher
	// --max-versions) is pruned once here; each write then keeps the bound.
	var pruned int
	if snap.versions, pruned, err = a.store.pruneVersions(ctx, snap.versions, a.cfg.MaxVersions); err != nil {
		return err
	}
	if pruned > 0 {
		a.log.Info("pruned old app versions", "deleted", pruned, "max_versions", a.cfg.MaxVersions)
	}
	resv, err := a.loadReservations(ctx)
	if err != nil {
		return err
	}
	groups, err := a.loadGroups(ctx)
	if err != nil {
		return err
	}
	pods, err := a.loadPods(ctx)
	if err != nil {
		return err
	}
	delays, err := a.store.loadDelays(ctx)
	if err != nil {
		return err
	}
	q := cluster.NewEventQueue()
	a.mu.Lock()
	a.resetLocked()
	a.restoreLocked(snap)
	if err := a.restoreDelaysLocked(delays); err != nil {
		a.mu.Unlock()
		return err
	}
	a.reservations = resv
	a.groups = groups
	a.installPodsLocked(pods)
	a.roles.subscribed = a.neededRolesLocked()
	info := api.FrameworkInfo{
		User: a.user(), Name: FrameworkName, Roles: a.roles.subscribed, Checkpoint: true,
		FailoverTimeout: failoverTimeout.Seconds(),
		// Partition aware: tasks of a lost agent are TASK_UNREACHABLE (not
		// LOST) and survive its return, so unreachableStrategy decides.
		// Multi-role: every role an app runs in (roles.go).
		Capabilities: []api.Capability{{Type: api.CapabilityTaskKillingState}, {Type: api.CapabilityPartitionAware}, {Type: api.CapabilityMultiRole}},
		Labels:       drainLabels(), // drain.go: it moves its tasks off draining agents itself
	}
	if a.frameworkID != "" {
		info.ID = &api.ID{Value: a.frameworkID}
	}
	sub, err := a.cfg.Scheduler.Subscribe(cluster.SubscribeRequest{Info: info, Sink: q})
	if errors.Is(err, cluster.ErrFrameworkRemoved) {
		a.log.Warn("apps framework was torn down; registering anew", "framework_id", a.frameworkID)
		info.ID = nil
		sub, err = a.cfg.Scheduler.Subscribe(cluster.SubscribeRequest{Info: info, Sink: q})
	}
	if err != nil {
		a.mu.Unlock()
		return fmt.Errorf("subscribe: %w", err)
	}
	a.sub, a.subscribed, a.ready = sub, true, true
	a.mu.Unlock()
	a.log.Info("apps framework subscribed", "framework_id", sub.FrameworkID, "apps", len(snap.apps), "tasks", len(snap.tasks))
	defer func() {
		a.cfg.Scheduler.Unsubscribe(sub)
		a.mu.Lock()
		a.resetLocked()
		a.mu.Unlock()
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan []api.Event)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(events)
		for {
			evs, err := q.Next(gctx)
			if err != nil {
				return err
			}
			select {
			case events <- evs:
			case <-gctx.Done():
				return nil
			}
		}
	})
	g.Go(func() error {
		a.runReadiness(gctx)
		return nil
	})
	g.Go(func() error {
		defer cancel()
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case evs, ok := <-events:
				if !ok {
					return nil
				}
				if err := a.handleEventBatch(evs); err != nil { // batch.go
					return err
				}
			case <-term:
				return errLostLeadership
			case <-t.C:
				if term == nil && !a.cfg.IsLeader() {
					return errLostLeadership
				}
			case <-a.wake:
			}
			a.step()
			if a.rolesChanged() {
				return errRolesChanged // roles.go: subscribe again with them
			}
		}
	})
	err = g.Wait()
	if cause := context.Cause(ctx); errors.Is(cause, errLostLeadership) {
		return cause
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// restoreLocked installs a snapshot from etcd.
func (a *Apps) restoreLocked(s snapshot) {
	if s.frameworkID != "" {
		a.frameworkID = s.frameworkID
	}
	for _, d := range s.apps {
		st := &appState{def: d, versions: s.versions[d.ID]}
		a.setAppStateLocked(d.ID, st)
		if v, err := time.Parse(timeFormat, d.Version); err == nil && v.After(a.lastVersion) {
			a.lastVersion = v
		}
	}
	for _, d := range s.deployments {
		a.addDeploymentLocked(d)
	}
	for _, t := range s.tasks {
		a.addTaskLocked(t)
		a.reconciling[t.ID] = true
	}
	a.reconcileBy = a.cfg.Now().Add(reconcileGrace)
}

// handle processes one event.
func (a *Apps) handle(ev api.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch ev.Type {
	case api.EventSubscribed:
		id := ev.Subscribed.FrameworkID.Value
		if id != a.frameworkID {
			if err := a.store.putRaw(keyFrameworkID, id); err != nil {
				return err
			}
			a.frameworkID = id
		}
		// Explicit reconciliation of what we launched, then implicit for
		// what the master knows that we do not.
		var rts []api.ReconcileTask
		for _, t := range a.tasks {
			rt := api.ReconcileTask{TaskID: api.ID{Value: t.ID}}
			if t.AgentID != "" {
				rt.AgentID = &api.ID{Value: t.AgentID}
			}
			rts = append(rts, rt)
		}
		if len(rts) > 0 {
			_ = a.cfg.Scheduler.Reconcile(a.sub, api.ReconcileCall{Tasks: rts})
		}
		_ = a.cfg.Scheduler.Reconcile(a.sub, api.ReconcileCall{})
		a.reconcileBy = a.cfg.Now().Add(reconcileGrace)
		a.revive = true
	case api.EventOffers:
		a.offersLocked(ev.Offers.Offers)
	case api.EventUpdate:
		return a.updateLocked(ev.Update.Status)
	case api.EventError:
		return fmt.Errorf("master: %s", ev.Error.Message)
	}
	return nil
}

// updateLocked applies a status update. The task's change is persisted
// before the update is acknowledged (and applied): an update that could
// not be written is left unacknowledged, and the agent sends it again.
// It returns an error only when this term lost leadership.
func (a *Apps) updateLocked(st api.TaskStatus) error {
	ack := func() {
		if len(st.UUID) > 0 && st.AgentID != nil {
			_ = a.cfg.Scheduler.Acknowledge(a.sub, api.AcknowledgeCall{AgentID: *st.AgentID, TaskID: st.TaskID, UUID: st.UUID})
		}
	}
	id := st.TaskID.Value
	if handled, err := a.podUpdateLocked(st); handled {
		return err // a pod task (podsched.go)
	}
	t := a.tasks[id]
	if t == nil {
		delete(a.reconciling, id)
		if err := a.residentStatusLocked(st); err != nil {
			return a.unackedLocked(id, err)
		}
		ack()
		if !st.State.Terminal() && st.State != api.TaskLost && st.State != api.TaskUnknown {
			a.log.Info("killing a task the apps framework does not know", "task_id", id)
			kc := api.KillCall{TaskID: st.TaskID, AgentID: st.AgentID}
			_ = a.cfg.Scheduler.Kill(a.sub, kc)
		}
		return nil
	}
	now := a.cfg.Now()
	prev := t.State
	old := t.clone()
	t.State = st.State
	ipsChanged := t.recordIPs(st) // network.go
	if st.State == api.TaskRunning && t.StartedAt.IsZero() {
		t.StartedAt = now
	}
	unreachable, reachable := false, false
	switch {
	case st.State == api.TaskUnreachable && t.UnreachableSince.IsZero():
		t.UnreachableSince, unreachable = now, true
	case st.State != api.TaskUnreachable && !t.UnreachableSince.IsZero():
		t.UnreachableSince, t.Inactive, reachable = time.Time{}, false, true
	}
	var healthEvents []func()
	healthChanged := st.State == api.TaskRunning && st.Healthy != nil && a.healthLocked(t, *st.Healthy, st.Message, now, &healthEvents)
	if healthChanged {
		// Per check: healthchecks.go, healthevents.go.
		t.recordChecks(st.HealthChecks, now)
		healthEvents = append(healthEvents, a.healthEventsLocked(old, t, *st.Healthy, st.Message, st.HealthChecks)...)
	}
	// Persist, then acknowledge and apply.
	var op *clientv3.Op
	switch {
	case gone(st.State):
		del := clientv3.OpDelete(prefixTasks + id)
		op = &del
	case prev != st.State || healthChanged || ipsChanged:
		put, err := putOp(prefixTasks+id, t)
		if err != nil {
			*t = *old
			return a.unackedLocked(id, err)
		}
		op = &put
	}
	applied := func() { a.appliedLocked(st, t, prev, unreachable, reachable, healthEvents, now, ack) }
	if b := a.updBatch; b != nil { // written with the updates beside it (batch.go)
		b.add(prefixTasks+id, op, func() { *t = *old }, applied)
		return nil
	}
	var err error
	if op != nil {
		err = a.store.commit(*op)
	}
	if err == nil {
		err = a.residentStatusLocked(st)
	}
	if err != nil {
		*t = *old
		return a.unackedLocked(id, err)
	}
	applied()
	return nil
}

// appliedLocked finishes a status update of an app task once it is
// persisted: acknowledgement, events, and the end of a task that is gone.
func (a *Apps) appliedLocked(st api.TaskStatus, t *task, prev api.TaskState, unreachable, reachable bool, healthEvents []func(), now time.Time, ack func()) {
	id := st.TaskID.Value
	ack()
	delete(a.reconciling, id)
	if unreachable {
		a.log.Warn("app task unreachable", "app_id", t.AppID, "task_id", id, "agent_id", t.AgentID)
	}
	if reachable {
		a.log.Info("app task reachable again", "app_id", t.AppID, "task_id", id, "state", st.State)
	}
	if prev != st.State {
		a.publishLocked("status_update_event", map[string]any{
			"slaveId": t.AgentID, "taskId": id, "taskStatus": string(st.State), "message": st.Message,
			"appId": t.AppID, "host": t.Host, "ipAddresses": taskIPs(t), "ports": portsOf(t), "version": t.Version,
		})
		a.publishLocked("instance_changed_event", map[string]any{
			"instanceId": id, "condition": condition(st.State), "runSpecId": t.AppID, "agentId": t.AgentID,
			"host": t.Host, "runSpecVersion": t.Version, "goal": goal(t),
		})
	}
	for _, publish := range healthEvents {
		publish()
	}
	if gone(st.State) {
		a.removeTaskLocked(id)
		app := a.apps[t.AppID]
		healthKill := st.Reason == api.ReasonHealthCheckFailed
		if healthKill {
			a.publishLocked("unhealthy_task_kill_event", map[string]any{
				"appId": t.AppID, "taskId": id, "instanceId": id, "version": t.Version, "reason": st.Message,
				"host": t.Host, "slaveId": t.AgentID,
			})
		}
		if app != nil && (!t.Killing && st.State != api.TaskKilled || healthKill) {
			msg := st.Message
			if healthKill && msg == "" {
				msg = "Task was killed since health check failed"
			}
			app.lastFailure = &TaskFailure{
				AppID: t.AppID, Host: t.Host, Message: msg, State: string(st.State), TaskID: id,
				Timestamp: formatTime(now), Version: t.Version, SlaveID: t.AgentID,
			}
			if app.def != nil && t.ConfigVersion == app.def.VersionInfo.LastConfigChangeAt {
				app.bumpBackoff(now)
				a.saveDelayLocked(t.AppID, app)
			}
			a.log.Info("app task ended", "app_id", t.AppID, "task_id", id, "state", st.State, "message", st.Message)
		}
		a.revive = true
	}
}

// unackedLocked handles a status update that could not be persisted: it
// is not acknowledged, so the agent retries it. Lost leadership ends the
// term (the error); anything else waits for the retry.
func (a *Apps) unackedLocked(taskID string, err error) error {
	if errors.Is(err, cluster.ErrLostLeadership) {
		return err
	}
	a.log.Warn("status update not persisted; left unacknowledged for a retry", "task_id", taskID, "err", err)
	return nil
}

// clone is a copy of t that shares nothing mutable with it.
func (t *task) clone() *task {
	c := *t
	if t.Health != nil {
		h := *t.Health
		c.Health = &h
	}
	c.Ports = slices.Clone(t.Ports)
	c.Checks = slices.Clone(t.Checks)
	c.Attrs = maps.Clone(t.Attrs)
	c.IPs = slices.Clone(t.IPs)
	return &c
}

// healthLocked records a health report; true when the task's health changed.
// Its events are appended to events, to be published once the change is
// persisted.
func (a *Apps) healthLocked(t *task, alive bool, cause string, now time.Time, events *[]func()) bool {
	h := t.Health
	changed := h == nil || h.Alive != alive
	if h == nil {
		h = &health{}
		t.Health = h
	}
	h.Alive = alive
	if alive {
		h.ConsecutiveFailures = 0
		h.LastSuccess = now
		if h.FirstSuccess.IsZero() {
			h.FirstSuccess = now
		}
	} else {
		h.ConsecutiveFailures++
		h.LastFailure = now
		h.LastFailureCause = cause
	}
	appID, id := t.AppID, t.ID
	if changed { // its events are per check (healthevents.go)
		*events = append(*events, func() {
			a.log.Info("app task health changed", "app_id", appID, "task_id", id, "alive", alive)
		})
	}
	return true // counters moved: checkpoint
}

// condition is Marathon's instance condition for a Mesos task state
// ("Running", "Killed", "Unreachable", ...).
func condition(s api.TaskState) string {
	c := strings.ToLower(strings.TrimPrefix(string(s), "TASK_"))
	parts := strings.Split(c, "_")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "")
}

// goal is Marathon's instance goal: what the scheduler wants of it.
func goal(t *task) string {
	if t.Killing {
		return "Decommissioned"
	}
	return "Running"
}

// gone: the task no longer counts as an instance and is forgotten.
// TASK_UNREACHABLE is not gone: the app's unreachableStrategy decides (see
// unreachableLocked); TASK_LOST and TASK_UNKNOWN mean the master lost it
// and a replacement is launched.
func gone(s api.TaskState) bool {
	return s.Terminal() || s == api.TaskLost || s == api.TaskUnknown
}

// bumpBackoff delays the next launch: backoffSeconds, then × backoffFactor
// per failure, up to maxLaunchDelaySeconds.
func (s *appState) bumpBackoff(now time.Time) {
	d := s.def
	if s.backoff == 0 {
		s.backoff = seconds(*d.BackoffSeconds)
	} else {
		s.backoff = time.Duration(float64(s.backoff) * *d.BackoffFactor)
	}
	if max := seconds(*d.MaxLaunchDelaySeconds); s.backoff > max {
		s.backoff = max
	}
	s.launchAfter = now.Add(s.backoff)
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
