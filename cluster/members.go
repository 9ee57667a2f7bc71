package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
)

// Membership of the master quorum (https://mesos.apache.org/documentation/latest/high-availability/ and
// operational-guide/, done online): a new master joins through any running one, which adds it to
// etcd as a learner; the joiner starts its member and asks to be promoted
// to a voter once it has caught up. Joins hold an etcd lock from the
// learner check to the learner's addition, and wait while another learner
// exists (etcd allows one), so simultaneous joins queue instead of
// deadlocking.

const (
	keyJoinLock      = "/nodectl/locks/join"
	keyMastersPrefix = "/nodectl/masters/" // <master id> → MasterInfo, leased by its session
	// joinTimeout bounds one join call, including the wait for an earlier
	// joiner's promotion.
	joinTimeout = 60 * time.Second
)

var (
	// ErrConflict: the request clashes with the current membership, or an
	// operation needs resources the agent does not have (HTTP 409).
	ErrConflict = api.ErrConflict
	// ErrBusy: another master is joining; retry later.
	ErrBusy = api.Kind(api.ErrUnavailable, "busy")
	// ErrNotFound: no such member.
	ErrNotFound = api.ErrNotFound
)

func memberID(id uint64) string { return strconv.FormatUint(id, 16) }

// ParseMemberID reads a hex member id as `nodectl master list` prints it.
func ParseMemberID(s string) (uint64, error) {
	id, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("%w: %q is not a member id (hex)", ErrBadRequest, s)
	}
	return id, nil
}

// retryable reports whether etcd refused a membership change for now only:
// a member joined moments ago, or the learner has not caught up yet.
func retryable(err error) bool {
	return isEtcdErr(err, rpctypes.ErrUnhealthy, rpctypes.ErrMemberLearnerNotReady, rpctypes.ErrTooManyLearners)
}

// isEtcdErr reports whether err is one of etcd's errors es (compared by
// their text too, which survives gRPC and wrapping).
func isEtcdErr(err error, es ...error) bool {
	if err == nil {
		return false
	}
	for _, e := range es {
		if errors.Is(err, e) || strings.HasSuffix(err.Error(), e.Error()) {
			return true
		}
	}
	return false
}

// retry calls f until it succeeds, fails for good, or ctx ends.
func retry(ctx context.Context, f func() error) error {
	for {
		err := f()
		if !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Join adds the caller as a learner and returns how it starts its member.
func (m *Master) Join(ctx context.Context, req api.JoinRequest) (api.JoinResponse, error) {
	if req.Name == "" || len(req.PeerURLs) == 0 {
		return api.JoinResponse{}, fmt.Errorf("%w: name and peer_urls are required", ErrBadRequest)
	}
	for _, u := range req.PeerURLs {
		if p, err := url.Parse(u); err != nil || p.Host == "" {
			return api.JoinResponse{}, fmt.Errorf("%w: peer URL %q is not a URL", ErrBadRequest, u)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	cli := m.cfg.Etcd
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(10), concurrency.WithContext(ctx))
	if err != nil {
		return api.JoinResponse{}, fmt.Errorf("join lock session: %w", err)
	}
	defer sess.Close()
	lock := concurrency.NewMutex(sess, keyJoinLock)
	if err := lock.Lock(ctx); err != nil {
		return api.JoinResponse{}, fmt.Errorf("%w: another master is joining: %w", ErrBusy, err)
	}
	defer func() {
		uctx, ucancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer ucancel()
		_ = lock.Unlock(uctx)
	}()
	for {
		list, err := cli.MemberList(ctx)
		if err != nil {
			return api.JoinResponse{}, fmt.Errorf("list members: %w", err)
		}
		var waiting string
		stale := uint64(0)
		for _, x := range list.Members {
			if sameURLs(x.PeerURLs, req.PeerURLs) {
				if x.IsLearner || x.Name == "" {
					stale = x.ID // an earlier attempt of the same master
					continue
				}
				return api.JoinResponse{}, fmt.Errorf("%w: %s is already a member (id %s); remove it first with `nodectl master remove %s`", ErrConflict, strings.Join(req.PeerURLs, ","), memberID(x.ID), memberID(x.ID))
			}
			if x.IsLearner {
				waiting = memberID(x.ID)
			}
		}
		if stale != 0 {
			if err := retry(ctx, func() error { _, err := cli.MemberRemove(ctx, stale); return err }); err != nil {
				return api.JoinResponse{}, fmt.Errorf("remove the stale learner %s: %w", memberID(stale), err)
			}
			m.log.Info("removed the stale learner of an earlier join attempt", "member_id", memberID(stale))
			continue
		}
		if waiting != "" {
			// Another master joined and is catching up; etcd takes one
			// learner at a time.
			select {
			case <-ctx.Done():
				return api.JoinResponse{}, fmt.Errorf("%w: learner %s has not been promoted; if that master died, remove it with `nodectl master remove %s`", ErrBusy, waiting, waiting)
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		var add *clientv3.MemberAddResponse
		err = retry(ctx, func() error {
			var err error
			add, err = cli.MemberAddAsLearner(ctx, req.PeerURLs)
			return err
		})
		if err != nil {
			return api.JoinResponse{}, fmt.Errorf("add learner: %w", err)
		}
		resp := api.JoinResponse{MemberID: memberID(add.Member.ID)}
		var parts []string
		for _, x := range add.Members {
			name := x.Name
			if x.ID == add.Member.ID {
				name = req.Name
			}
			if name == "" {
				continue // added but never started: not part of the initial cluster
			}
			for _, u := range x.PeerURLs {
				parts = append(parts, name+"="+u)
			}
			resp.Members = append(resp.Members, apiMember(x))
		}
		resp.InitialCluster = strings.Join(parts, ",")
		m.log.Info("master joining as etcd learner", "member_id", resp.MemberID, "name", req.Name, "peer_urls", req.PeerURLs)
		return resp, nil
	}
}

func sameURLs(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if strings.TrimRight(x, "/") == strings.TrimRight(y, "/") {
				return true
			}
		}
	}
	return false
}

func apiMember(x interface {
	GetID() uint64
	GetName() string
	GetPeerURLs() []string
	GetClientURLs() []string
	GetIsLearner() bool
}) api.Member {
	return api.Member{
		ID: memberID(x.GetID()), Name: x.GetName(), PeerURLs: x.GetPeerURLs(), ClientURLs: x.GetClientURLs(),
		Learner: x.GetIsLearner(), Started: x.GetName() != "",
	}
}

// Promote makes a learner a voter, waiting (bounded) until it has caught up.
func (m *Master) Promote(ctx context.Context, id uint64) error {
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	// A leader on a lone member's long lease moves to the short one
	// before the learner can vote (leasefit.go); refused, the promotion
	// waits (503: the joining master retries).
	if err := m.refitLease(ctx, id); err != nil {
		return fmt.Errorf("fit the leadership lease before promoting %s: %w", memberID(id), err)
	}
	err := retry(ctx, func() error { _, err := m.cfg.Etcd.MemberPromote(ctx, id); return err })
	if err != nil {
		if isEtcdErr(err, rpctypes.ErrMemberNotFound) {
			return fmt.Errorf("%w: member %s", ErrNotFound, memberID(id))
		}
		if isEtcdErr(err, rpctypes.ErrMemberNotLearner) {
			return nil // promoted already (a retried call)
		}
		return fmt.Errorf("promote %s: %w", memberID(id), err)
	}
	m.log.Info("promoted learner to voting member", "member_id", memberID(id))
	return nil
}

// RemoveMember removes a master from the quorum. The removed master's etcd
// stops, and it is refused if it comes back with its data.
func (m *Master) RemoveMember(ctx context.Context, id uint64) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	list, err := m.cfg.Etcd.MemberList(ctx)
	if err != nil {
		return fmt.Errorf("list members: %w", err)
	}
	found, voters := false, 0
	for _, x := range list.Members {
		if x.ID == id {
			found = true
		}
		if !x.IsLearner {
			voters++
		}
	}
	if !found {
		return fmt.Errorf("%w: member %s", ErrNotFound, memberID(id))
	}
	if voters == 1 && len(list.Members) == 1 {
		return fmt.Errorf("%w: %s is the last member", ErrConflict, memberID(id))
	}
	err = retry(ctx, func() error { _, err := m.cfg.Etcd.MemberRemove(ctx, id); return err })
	if err != nil {
		return fmt.Errorf("%w: remove %s: %w", ErrConflict, memberID(id), err)
	}
	m.log.Info("removed master from the quorum", "member_id", memberID(id))
	return nil
}

// readQuorum asks etcd for the membership and each member for its status.
// It uses serializable reads so a member without quorum still answers.
func (m *Master) readQuorum(ctx context.Context) (api.Quorum, error) {
	cli := m.cfg.Etcd
	list, err := cli.MemberList(ctx, clientv3.WithSerializable())
	if err != nil {
		return api.Quorum{}, fmt.Errorf("list members: %w", err)
	}
	masters, versions := m.runningMasters(ctx)
	q := api.Quorum{Members: make([]api.Member, len(list.Members))}
	eps := map[string]bool{}
	for _, x := range list.Members {
		if len(x.ClientURLs) > 0 {
			eps[x.ClientURLs[0]] = true
		}
	}
	m.statusConns.keep(eps)
	var wg sync.WaitGroup
	var mu sync.Mutex // guards q's leader fields
	for i, x := range list.Members {
		q.Members[i] = apiMember(x)
		if x.IsLearner {
			q.Learners++
		} else {
			q.Voters++
		}
		q.Members[i].Master, q.Members[i].Version = masters[x.Name], versions[x.Name]
		if len(x.ClientURLs) == 0 {
			continue
		}
		wg.Add(1)
		go func(i int, ep string) {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			st, err := m.statusConns.status(sctx, cli, ep)
			if err != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			q.Members[i].Healthy = true
			q.Members[i].DBSize, q.Members[i].DBSizeInUse = st.DbSize, st.DbSizeInUse
			q.DBQuota = max(q.DBQuota, st.DbSizeQuota)
			if st.Leader != 0 && st.RaftTerm >= q.RaftTerm {
				q.RaftTerm, q.EtcdLeader = st.RaftTerm, memberID(st.Leader)
			}
		}(i, x.ClientURLs[0])
	}
	wg.Wait()
	q.Alarms = m.readAlarms(ctx)
	for i := range q.Members {
		q.Members[i].Leader = q.Members[i].ID == q.EtcdLeader
		if q.Members[i].Healthy && !q.Members[i].Learner {
			q.HealthyVoters++
		}
	}
	q.Quorum = q.Voters/2 + 1
	q.Healthy = q.EtcdLeader != "" && q.HealthyVoters >= q.Quorum
	sort.Slice(q.Members, func(i, j int) bool { return q.Members[i].Name < q.Members[j].Name })
	if l, ok := m.Leader(); ok {
		q.Leader = l.Address()
	}
	m.mu.Lock()
	q.LeaderChanges = m.leaderChanges
	m.mu.Unlock()
	return q, nil
}

// presence is a running master's record under keyMastersPrefix.
type presence struct {
	api.MasterInfo
	EtcdMember string `json:"etcd_member,omitempty"`
}

// runningMasters maps the etcd member name of each running master to its
// API address, and to its nodectl version.
func (m *Master) runningMasters(ctx context.Context) (addrs, versions map[string]string) {
	addrs, versions = map[string]string{}, map[string]string{}
	for _, p := range m.masterInfos(ctx) {
		if p.EtcdMember != "" {
			addrs[p.EtcdMember], versions[p.EtcdMember] = p.Address(), p.Version
		}
	}
	return addrs, versions
}

// masterInfos lists the masters whose election session is alive.
func (m *Master) masterInfos(ctx context.Context) []presence {
	resp, err := m.cfg.Etcd.Get(ctx, keyMastersPrefix, clientv3.WithPrefix(), clientv3.WithSerializable())
	if err != nil {
		return nil
	}
	var out []presence
	for _, kv := range resp.Kvs {
		var p presence
		if json.Unmarshal(kv.Value, &p) == nil && p.Port > 0 {
			out = append(out, p)
		}
	}
	return out
}

// MasterAddrs are the API addresses of the running masters in the order
// they would lead (successionOrder). Agents learn the list from their
// registration answer and, when their leader fails, try its other masters
// in that order: the first is then the new leader, not a standby that
// answers with a redirect after a TLS handshake of its own (at 3,000
// agents the standby spent 4.5 s of CPU on such handshakes while they
// re-registered, a third of the new leader's).
//
// The answer is kept for addrsFresh: every registration has it, and
// reading it from etcd (two reads) for each of 3,000 agents re-registering
// with a new leader was a tenth of that leader's CPU. A master that joins
// or leaves is in the answers a second later.
func (m *Master) MasterAddrs(ctx context.Context) []string {
	c := &m.addrs
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.addrs == nil || time.Since(c.at) >= addrsFresh {
		c.addrs, c.at = m.readMasterAddrs(ctx), time.Now()
	}
	return slices.Clone(c.addrs)
}

// addrsFresh is how long MasterAddrs keeps an answer.
const addrsFresh = time.Second

// addrsCache is MasterAddrs' last answer and when it was read; its lock
// also makes callers that find it stale wait for one read.
type addrsCache struct {
	mu    sync.Mutex
	at    time.Time
	addrs []string
}

func (m *Master) readMasterAddrs(ctx context.Context) []string {
	infos := m.masterInfos(ctx)
	var queue []string
	resp, err := m.cfg.Etcd.Get(ctx, keyElection+"/", clientv3.WithPrefix(), clientv3.WithSerializable(),
		clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	if err == nil {
		for _, kv := range resp.Kvs {
			var in api.MasterInfo
			if json.Unmarshal(kv.Value, &in) == nil {
				queue = append(queue, in.ID)
			}
		}
	}
	return successionOrder(infos, queue)
}

// successionOrder lists the masters' addresses in the election's order,
// queue being the ids of the election's keys by create revision (the lowest
// leads, the next takes over when it is gone: election.go), and the
// masters not campaigning after them, by address.
func successionOrder(infos []presence, queue []string) []string {
	rank := func(id string) int {
		if i := slices.Index(queue, id); i >= 0 {
			return i
		}
		return len(queue)
	}
	infos = slices.Clone(infos)
	slices.SortStableFunc(infos, func(a, b presence) int {
		if c := cmp.Compare(rank(a.ID), rank(b.ID)); c != 0 {
			return c
		}
		return strings.Compare(a.Address(), b.Address())
	})
	var out []string
	for _, info := range infos {
		if !slices.Contains(out, info.Address()) {
			out = append(out, info.Address())
		}
	}
	return out
}

// Quorum is the last quorum health read by the quorum loop.
func (m *Master) Quorum() api.Quorum {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.quorum
}

// quorumLoop refreshes the cached quorum health (for /state and metrics)
// until ctx ends.
func (m *Master) quorumLoop(ctx context.Context) {
	t := time.NewTicker(m.cfg.QuorumCheckInterval)
	defer t.Stop()
	defer m.statusConns.close()
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		q, err := m.readQuorum(qctx)
		cancel()
		if err == nil {
			m.mu.Lock()
			m.quorum = q
			m.mu.Unlock()
			m.placeRaftLeader(ctx, q)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Master) handleJoin(w http.ResponseWriter, r *http.Request) {
	var req api.JoinRequest
	if !readJSON(w, r, &req) {
		return
	}
	resp, err := m.Join(r.Context(), req)
	if err != nil {
		writeMemberErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (m *Master) handleMembers(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	q, err := m.readQuorum(ctx)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, q)
}

func (m *Master) handlePromote(w http.ResponseWriter, r *http.Request) {
	id, err := ParseMemberID(r.PathValue("id"))
	if err == nil {
		err = m.Promote(r.Context(), id)
	}
	if err != nil {
		writeMemberErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (m *Master) handleRemoveMember(w http.ResponseWriter, r *http.Request) {
	id, err := ParseMemberID(r.PathValue("id"))
	if err == nil {
		err = m.RemoveMember(r.Context(), id)
	}
	if err != nil {
		writeMemberErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// authorized wraps a membership or snapshot handler in cfg.Authorize.
func (m *Master) authorized(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, routed := auth.From(r.Context()); !routed && m.cfg.Authorize != nil {
			if err := m.cfg.Authorize(r); err != nil {
				writeError(w, http.StatusForbidden, err.Error())
				return
			}
		}
		h(w, r)
	}
}

// agentOnly wraps an agent protocol handler in cfg.AuthorizeAgent.
func (m *Master) agentOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if m.cfg.AuthorizeAgent != nil {
			if err := m.cfg.AuthorizeAgent(r); err != nil {
				writeError(w, http.StatusForbidden, err.Error())
				return
			}
		}
		h(w, r)
	}
}

func writeMemberErr(w http.ResponseWriter, err error) {
	writeError(w, api.HTTPStatusOr(err, http.StatusServiceUnavailable), err.Error())
}
