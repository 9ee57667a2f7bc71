package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster/api"
)

// readAlarms lists etcd's active alarms by type, sorted and deduplicated
// (nil when there are none or they cannot be read).
func (m *Master) readAlarms(ctx context.Context) []string {
	actx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	resp, err := m.cfg.Etcd.AlarmList(actx)
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range resp.Alarms {
		if t := a.Alarm.String(); !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// noSpace reports whether the last quorum reading saw etcd's NOSPACE alarm.
func (m *Master) noSpace() bool {
	return slices.Contains(m.Quorum().Alarms, api.AlarmNoSpace)
}

// Health is the body of /health when something needs an operator.
type Health struct {
	// Alarms are etcd's active alarms (api.Quorum.Alarms).
	Alarms []string `json:"alarms,omitempty"`
	// Message says what the alarms mean and what to do.
	Message string `json:"message,omitempty"`
}

// HeaderEtcdAlarm names etcd's active alarms on a /health answer.
const HeaderEtcdAlarm = "X-Nodectl-Etcd-Alarm"

// handleHealth answers 200 as Mesos' /health does (it is a liveness
// check: the master serves reads even with a full database). With an etcd
// alarm raised it adds the X-Nodectl-Etcd-Alarm header and a JSON body
// naming the alarms and the recovery (docs/ha.md).
func (m *Master) handleHealth(w http.ResponseWriter, r *http.Request) {
	alarms := m.Quorum().Alarms
	if len(alarms) == 0 {
		w.WriteHeader(http.StatusOK)
		return
	}
	h := Health{Alarms: alarms, Message: "etcd alarm raised"}
	if m.noSpace() {
		h.Message = "etcd database full (NOSPACE): writes fail; recover with `nodectl etcd recover --work-dir DIR` on a master (docs/ha.md)"
	}
	for _, a := range alarms {
		w.Header().Add(HeaderEtcdAlarm, a)
	}
	writeJSON(w, http.StatusOK, h)
}

// SpaceReport says what ReclaimSpace did.
type SpaceReport struct {
	// Revision is the revision compacted to.
	Revision int64
	// Before and After are the members' database sizes, by client URL.
	Before, After map[string]int64
	// Quota is etcd's quota in bytes.
	Quota int64
	// Disarmed: the NOSPACE alarm was raised and is now disarmed.
	Disarmed bool
	Took     time.Duration
}

// ErrStillFull: after compaction and defragmentation a member's database
// still fills more than spaceHeadroom of the quota: live data must go (or
// the quota grow) before the NOSPACE alarm may be disarmed.
var ErrStillFull = errors.New("etcd database still full after compaction and defragmentation")

// spaceHeadroom is the share of the quota a member's database may fill
// for the NOSPACE alarm to be disarmed.
const spaceHeadroom = 0.9

// defragTimeout bounds the defragmentation of one member.
const defragTimeout = 2 * time.Minute

// ReclaimSpace is etcd's documented recovery from a full database
// (etcd.io/docs "Maintenance: Space quota"): compact the history to the
// current revision, defragment every member (one at a time), and disarm
// the NOSPACE alarm once every member's database is back under
// spaceHeadroom of the quota. Deleting live data (old app versions, see
// apps.PruneVersions) must come first when that is what fills it.
// Unreachable members are skipped with a warning: they are defragmented
// when they start (this same recovery runs at a master's start-up).
func ReclaimSpace(ctx context.Context, cli *clientv3.Client, log *slog.Logger) (SpaceReport, error) {
	start := time.Now()
	rep := SpaceReport{Before: map[string]int64{}, After: map[string]int64{}}
	list, err := cli.MemberList(ctx)
	if err != nil {
		return rep, fmt.Errorf("list etcd members: %w", err)
	}
	var eps []string
	for _, mem := range list.Members {
		if len(mem.ClientURLs) > 0 && !mem.IsLearner {
			eps = append(eps, mem.ClientURLs[0])
		}
	}
	status := func(ep string) (*clientv3.StatusResponse, error) {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return cli.Status(sctx, ep)
	}
	for _, ep := range eps {
		if st, err := status(ep); err == nil {
			rep.Before[ep] = st.DbSize
			rep.Revision = max(rep.Revision, st.Header.Revision)
			rep.Quota = max(rep.Quota, st.DbSizeQuota)
		}
	}
	if rep.Revision == 0 {
		return rep, errors.New("no etcd member answered a status call")
	}
	if _, err := cli.Compact(ctx, rep.Revision, clientv3.WithCompactPhysical()); err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		return rep, fmt.Errorf("compact to revision %d: %w", rep.Revision, err)
	}
	full := false
	for _, ep := range eps {
		dctx, cancel := context.WithTimeout(ctx, defragTimeout)
		_, err := cli.Defragment(dctx, ep)
		cancel()
		if err != nil {
			log.Warn("defragment etcd member: skipped", "endpoint", ep, "err", err)
			continue
		}
		st, err := status(ep)
		if err != nil {
			continue
		}
		rep.After[ep] = st.DbSize
		if rep.Quota > 0 && float64(st.DbSize) > spaceHeadroom*float64(rep.Quota) {
			full = true
		}
	}
	if len(rep.After) == 0 {
		return rep, errors.New("no etcd member could be defragmented")
	}
	rep.Took = time.Since(start)
	if full {
		return rep, fmt.Errorf("%w: sizes %v of quota %d bytes: delete data or raise --etcd-quota-backend-bytes", ErrStillFull, rep.After, rep.Quota)
	}
	alarms, err := cli.AlarmList(ctx)
	if err != nil {
		return rep, fmt.Errorf("list etcd alarms: %w", err)
	}
	for _, a := range alarms.Alarms {
		if a.Alarm != pb.AlarmType_NOSPACE {
			continue
		}
		if _, err := cli.AlarmDisarm(ctx, (*clientv3.AlarmMember)(a)); err != nil {
			return rep, fmt.Errorf("disarm NOSPACE of member %s: %w", memberID(a.MemberID), err)
		}
		rep.Disarmed = true
	}
	rep.Took = time.Since(start)
	log.Info("reclaimed etcd space", "revision", rep.Revision, "before", rep.Before, "after", rep.After, "quota", rep.Quota, "disarmed", rep.Disarmed, "took", rep.Took.Round(time.Millisecond))
	return rep, nil
}
