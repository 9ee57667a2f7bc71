package simagent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"nodectl/cluster/api"
)

// FrameworkConfig describes a Framework.
type FrameworkConfig struct {
	// Master is the base URL (https://host:port) of the master to
	// subscribe to; a standby's redirect is followed.
	Master string
	// Client reaches it with credentials the scheduler API takes.
	Client *http.Client
	// Name and User are the FrameworkInfo's; defaults "simagent", "root".
	Name, User string
	// FailoverTimeout is the FrameworkInfo's failover_timeout; default a
	// day, so that a benchmark killing the leader leaves the tasks alone.
	FailoverTimeout time.Duration
	// TaskCPUs and TaskMem are each task's resources; defaults 0.1, 32.
	TaskCPUs, TaskMem float64
	// Callers is how many calls are in flight at once; default 16.
	Callers int
	// MaxInFlight caps a phase's tasks launched and not yet in its state
	// (0: no cap), as Marathon paces its launches: offers that arrive
	// with the cap reached are declined, and a REVIVE asks for them again
	// once half the tasks in flight have arrived.
	MaxInFlight int
}

// Framework is a scheduler on the Mesos v1 HTTP API
// (https://mesos.apache.org/documentation/latest/scheduler-http-api/): it
// subscribes once, launches tasks in phases (Launch) into every offer,
// and acknowledges every status update.
type Framework struct {
	cfg      FrameworkConfig
	url      string // the scheduler endpoint that answered SUBSCRIBE
	streamID string
	id       string
	calls    chan api.Call
	callers  sync.WaitGroup
	cancel   context.CancelFunc
	done     chan struct{} // the event stream ended
	loopErr  error         // why; set before done closes

	acksQueued, acksDone, callErrs atomic.Int64
	firstCallErr                   atomic.Value // string

	mu     sync.Mutex // guards phase and phases
	phase  *phase
	phases int
}

type phase struct {
	prefix     string
	cmd        string
	until      api.TaskState
	want       int
	perOffer   int
	launched   int // tasks launched and not lost
	seq        int // tasks launched, for their ids
	reached    int
	lost       int             // tasks lost (relaunched)
	unlaunched int             // tasks whose ACCEPT failed (relaunched)
	capped     bool            // offers were declined at MaxInFlight
	done       map[string]bool // tasks that reached until
	failed     error
	all        chan struct{} // closed when reached == want or failed is set
}

// Subscribe subscribes a framework and starts serving its events until
// Close or the end of ctx.
func Subscribe(ctx context.Context, cfg FrameworkConfig) (*Framework, error) {
	if cfg.Name == "" {
		cfg.Name = "simagent"
	}
	if cfg.User == "" {
		cfg.User = "root"
	}
	if cfg.FailoverTimeout <= 0 {
		cfg.FailoverTimeout = 24 * time.Hour
	}
	if cfg.TaskCPUs <= 0 {
		cfg.TaskCPUs = 0.1
	}
	if cfg.TaskMem <= 0 {
		cfg.TaskMem = 32
	}
	if cfg.Callers <= 0 {
		cfg.Callers = 16
	}
	body, _ := json.Marshal(api.Call{Type: api.CallSubscribe, Subscribe: &api.SubscribeCall{FrameworkInfo: api.FrameworkInfo{
		Name: cfg.Name, User: cfg.User, FailoverTimeout: cfg.FailoverTimeout.Seconds()}}})
	lctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(lctx, http.MethodPost, cfg.Master+api.PathScheduler, bytes.NewReader(body))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cfg.Client.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("subscribe: %s: %s", resp.Status, b)
	}
	f := &Framework{cfg: cfg, url: resp.Request.URL.String(), streamID: resp.Header.Get(api.StreamIDHeader),
		calls: make(chan api.Call, 1<<16), cancel: cancel, done: make(chan struct{})}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	subscribed, err := f.next(br)
	if err != nil || subscribed.Type != api.EventSubscribed || subscribed.Subscribed == nil {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("subscribe: first event %v: %w", subscribed.Type, err)
	}
	f.id = subscribed.Subscribed.FrameworkID.Value
	for range cfg.Callers {
		f.callers.Add(1)
		go func() { defer f.callers.Done(); f.caller(lctx) }()
	}
	go func() {
		defer close(f.done)
		defer resp.Body.Close()
		f.loopErr = f.serve(lctx, br)
	}()
	return f, nil
}

// ID is the framework id.
func (f *Framework) ID() string { return f.id }

// Done is closed when the event stream has ended (Err says why).
func (f *Framework) Done() <-chan struct{} { return f.done }

// Err is why the event stream ended (after Done).
func (f *Framework) Err() error { return f.loopErr }

// Close ends the subscription (the framework stays registered until its
// failover timeout) and waits for its goroutines.
func (f *Framework) Close() {
	f.cancel()
	<-f.done
	close(f.calls)
	f.callers.Wait()
}

// CallErrors counts calls the master did not answer 202, with the first
// such answer.
func (f *Framework) CallErrors() (int64, string) {
	s, _ := f.firstCallErr.Load().(string)
	return f.callErrs.Load(), s
}

func (f *Framework) next(br *bufio.Reader) (api.Event, error) {
	var ev api.Event
	rec, err := api.ReadRecord(br, 256<<20)
	if err != nil {
		return ev, fmt.Errorf("event stream: %w", err)
	}
	if err := json.Unmarshal(rec, &ev); err != nil {
		return ev, fmt.Errorf("event: %w", err)
	}
	return ev, nil
}

func (f *Framework) caller(ctx context.Context) {
	for call := range f.calls {
		call.FrameworkID = &api.ID{Value: f.id}
		err := f.post(ctx, call)
		if err != nil && ctx.Err() == nil {
			if f.callErrs.Add(1) == 1 {
				f.firstCallErr.Store(err.Error())
			}
			if call.Type == api.CallAccept && f.unlaunched(call.Accept) {
				// Its tasks are launched again into the next offers (a
				// REVIVE clears the filters of those declined meanwhile;
				// one shed as the ACCEPT may have been is called again).
				_ = f.postUntilTaken(ctx, api.Call{Type: api.CallRevive, FrameworkID: call.FrameworkID, Revive: &api.RolesCall{}})
			}
		}
		if call.Type == api.CallAcknowledge {
			f.acksDone.Add(1)
		}
	}
}

func (f *Framework) post(ctx context.Context, call api.Call) error {
	body, err := json.Marshal(call)
	if err != nil {
		return fmt.Errorf("%s: %w", call.Type, err)
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", call.Type, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(api.StreamIDHeader, f.streamID)
	resp, err := f.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", call.Type, err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode == http.StatusServiceUnavailable {
		return fmt.Errorf("%s: %w: %s", call.Type, errBusy, strings.TrimSpace(string(b)))
	}
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("%s: %s: %s", call.Type, resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// errBusy is a call answered 503: the master sheds load (or has no
// leader); a framework calls again later.
var errBusy = errors.New("503 Service Unavailable")

// postUntilTaken posts call again, backing off, while the master answers
// 503 (a phase's REVIVE must get through a leader busy with the agents).
func (f *Framework) postUntilTaken(ctx context.Context, call api.Call) error {
	backoff := 100 * time.Millisecond
	for {
		err := f.post(ctx, call)
		if !errors.Is(err, errBusy) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (f *Framework) send(c api.Call) { f.calls <- c }

// serve handles events until the stream ends.
func (f *Framework) serve(ctx context.Context, br *bufio.Reader) error {
	long := 3600.0
	zero := 0.0
	for {
		ev, err := f.next(br)
		if err != nil {
			f.fail(err)
			return err
		}
		switch ev.Type {
		case api.EventOffers:
			if ev.Offers == nil {
				continue
			}
			for _, o := range ev.Offers.Offers {
				tasks := f.fill(o)
				if len(tasks) == 0 {
					f.send(api.Call{Type: api.CallDecline, Decline: &api.DeclineCall{OfferIDs: []api.ID{o.ID}, Filters: &api.Filters{RefuseSeconds: &long}}})
					continue
				}
				f.send(api.Call{Type: api.CallAccept, Accept: &api.AcceptCall{OfferIDs: []api.ID{o.ID}, Filters: &api.Filters{RefuseSeconds: &zero},
					Operations: []api.Operation{{Type: api.OperationLaunch, Launch: &api.LaunchOperation{TaskInfos: tasks}}}}})
			}
		case api.EventUpdate:
			if ev.Update == nil {
				continue
			}
			st := ev.Update.Status
			if len(st.UUID) > 0 && st.AgentID != nil {
				f.acksQueued.Add(1)
				f.send(api.Call{Type: api.CallAcknowledge, Acknowledge: &api.AcknowledgeCall{AgentID: *st.AgentID, TaskID: st.TaskID, UUID: st.UUID}})
			}
			if f.update(st) {
				f.send(api.Call{Type: api.CallRevive, Revive: &api.RolesCall{}})
			}
		case api.EventError:
			msg := ""
			if ev.Error != nil {
				msg = ev.Error.Message
			}
			err := fmt.Errorf("ERROR event: %s", msg)
			f.fail(err)
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// fill makes the tasks of the current phase that go into offer o.
func (f *Framework) fill(o api.Offer) []api.TaskInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.phase
	if p == nil || p.launched >= p.want {
		return nil
	}
	n := int(min(o.Resources.Scalar("cpus")/f.cfg.TaskCPUs+1e-9, o.Resources.Scalar("mem")/f.cfg.TaskMem+1e-9))
	n = min(n, p.want-p.launched, p.perOffer)
	if c := f.cfg.MaxInFlight; c > 0 {
		if room := c - (p.launched - p.reached); room < n {
			n, p.capped = max(room, 0), true
		}
	}
	tasks := make([]api.TaskInfo, 0, max(n, 0))
	for range n {
		tasks = append(tasks, api.TaskInfo{
			Name: p.prefix, TaskID: api.ID{Value: fmt.Sprintf("%s-%d", p.prefix, p.seq)}, AgentID: o.AgentID,
			Resources: api.Resources{api.ScalarResource("cpus", f.cfg.TaskCPUs), api.ScalarResource("mem", f.cfg.TaskMem)},
			Command:   &api.CommandInfo{Value: p.cmd},
		})
		p.launched++
		p.seq++
	}
	return tasks
}

// update counts st in the current phase; it reports whether offers are
// to be asked for again (a REVIVE): a lost task is to be launched again,
// or tasks held back at MaxInFlight may go now.
func (f *Framework) update(st api.TaskStatus) (revive bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.phase
	if p == nil || !strings.HasPrefix(st.TaskID.Value, p.prefix+"-") || p.failed != nil || p.reached == p.want {
		return false
	}
	if p.done[st.TaskID.Value] {
		return false // counted already
	}
	switch {
	case st.State == p.until:
		p.reached++
		p.done[st.TaskID.Value] = true
		if p.reached == p.want {
			close(p.all)
			return false
		}
		if p.capped && p.launched-p.reached <= f.cfg.MaxInFlight/2 {
			p.capped = false
			return true // room again: ask for the offers declined meanwhile
		}
	case lostState(st.State):
		// Its agent re-registered without it (the launch was in flight),
		// or went away: launched again, as Marathon would, into the next
		// offer (a REVIVE clears the filters of the offers declined
		// meanwhile).
		p.lost++
		p.launched--
		return true
	case st.State.Terminal() || st.State == api.TaskUnreachable:
		p.failed = fmt.Errorf("task %s: %s %s %s", st.TaskID.Value, st.State, st.Reason, st.Message)
		if p.reached < p.want {
			close(p.all)
		}
	}
	return false
}

func (f *Framework) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.phase; p != nil && p.failed == nil {
		p.failed = err
		if p.reached < p.want {
			close(p.all)
		}
	}
}

// Launch launches n tasks running cmd (a simulated agent finishes "true"
// at once and keeps "sleep …" running), at most perOffer into one offer,
// and returns once all of them reached state until (TASK_FINISHED, or
// TASK_RUNNING) and every acknowledgement sent so far was answered: the
// time from the REVIVE to then. Offers are declined between phases.
func (f *Framework) Launch(ctx context.Context, n int, cmd string, until api.TaskState, perOffer int) (time.Duration, error) {
	if n <= 0 {
		return 0, nil
	}
	f.mu.Lock()
	f.phases++
	p := &phase{prefix: fmt.Sprintf("p%d", f.phases), cmd: cmd, until: until, want: n, perOffer: max(perOffer, 1), all: make(chan struct{}), done: map[string]bool{}}
	f.phase = p
	f.mu.Unlock()
	start := time.Now()
	// REVIVE and SUPPRESS go in order, not through the callers: a
	// phase's SUPPRESS must not overtake the next one's REVIVE.
	if err := f.postUntilTaken(ctx, api.Call{Type: api.CallRevive, FrameworkID: &api.ID{Value: f.id}, Revive: &api.RolesCall{}}); err != nil {
		return 0, err
	}
	defer func() {
		_ = f.postUntilTaken(ctx, api.Call{Type: api.CallSuppress, FrameworkID: &api.ID{Value: f.id}, Suppress: &api.RolesCall{}})
	}()
	select {
	case <-p.all:
	case <-ctx.Done():
		return time.Since(start), fmt.Errorf("%d of %d tasks %s: %w", f.reached(p), n, until, ctx.Err())
	}
	f.mu.Lock()
	failed := p.failed
	f.mu.Unlock()
	if failed != nil {
		return time.Since(start), failed
	}
	// Every acknowledgement of the phase's updates was queued before its
	// last update was counted; wait for their answers.
	queued := f.acksQueued.Load()
	tick := time.NewTicker(2 * time.Millisecond) // polling the callers' progress
	defer tick.Stop()
	for f.acksDone.Load() < queued {
		select {
		case <-tick.C:
		case <-f.done:
			return time.Since(start), fmt.Errorf("event stream ended: %w", f.loopErr)
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("acknowledgements: %w", ctx.Err())
		}
	}
	return time.Since(start), nil
}

// unlaunched takes back the current phase's tasks of an ACCEPT the master
// did not answer 202 (a busy master's request timed out, its connection
// was evicted): their offer is rescinded or still outstanding at the
// master, and no update will come for them. It reports whether any were
// taken back. (Had the master launched them after all, their updates
// still count, and the phase ends at want tasks.)
func (f *Framework) unlaunched(acc *api.AcceptCall) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.phase
	if p == nil || acc == nil || p.reached == p.want || p.failed != nil {
		return false
	}
	n := 0
	for _, op := range acc.Operations {
		if op.Launch == nil {
			continue
		}
		for _, t := range op.Launch.TaskInfos {
			if strings.HasPrefix(t.TaskID.Value, p.prefix+"-") && !p.done[t.TaskID.Value] {
				n++
			}
		}
	}
	p.launched -= n
	p.unlaunched += n
	return n > 0
}

// lostState is a state a task ends in through no fault of its own.
func lostState(s api.TaskState) bool {
	return s == api.TaskLost || s == api.TaskDropped || s == api.TaskGone
}

// Lost is how many of the current phase's tasks were lost and launched
// again.
func (f *Framework) Lost() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.phase == nil {
		return 0
	}
	return f.phase.lost
}

// Unlaunched is how many of the current phase's tasks were in an ACCEPT
// that failed and were launched again.
func (f *Framework) Unlaunched() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.phase == nil {
		return 0
	}
	return f.phase.unlaunched
}

// Progress is the current phase's tasks launched and those that reached
// its state so far.
func (f *Framework) Progress() (launched, reached int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.phase == nil {
		return 0, 0
	}
	return f.phase.launched, f.phase.reached
}

func (f *Framework) reached(p *phase) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return p.reached
}
