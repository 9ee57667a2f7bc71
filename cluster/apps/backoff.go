package apps

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// An app's launch backoff (Marathon's backoffSeconds, backoffFactor,
// maxLaunchDelaySeconds; Marathon keeps it in its RateLimiter) outlives
// the leader: each bump is written, fenced by the term, under
//
//	delays/<id with / → _>   {configVersion, delay, launchAfter}
//
// and a new leader continues it when it loads the state. A delay applies
// to the config it was earned by (a new config starts afresh, as in
// Marathon), so a stored delay of another config, or of an app that no
// longer exists, is stale: ignored and deleted on load. DELETE
// /v2/queue/{id}/delay deletes it. launchAfter is the leader's wall
// clock: masters' clocks are assumed close (NTP).
const prefixDelays = prefix + "delays/"

func delayKey(id string) string { return prefixDelays + escapeID(id) }

// storedDelay is one app's persisted backoff.
type storedDelay struct {
	ConfigVersion string        `json:"configVersion"`
	Delay         time.Duration `json:"delay"`
	LaunchAfter   time.Time     `json:"launchAfter"`
}

// saveDelayLocked persists st's backoff (a delete once it is reset). A
// failure is logged: the delay still holds in this leader's memory; only
// a successor would start it afresh.
func (a *Apps) saveDelayLocked(id string, st *appState) {
	var err error
	if d, ok := st.storedDelay(); ok {
		err = a.store.put(delayKey(id), d)
	} else {
		err = a.store.del(delayKey(id))
	}
	if err != nil {
		a.log.Warn("persist launch backoff", "app_id", id, "err", err)
	}
}

// storedDelay is st's backoff as stored; false when there is none.
func (st *appState) storedDelay() (storedDelay, bool) {
	if st.backoff == 0 && st.launchAfter.IsZero() || st.def == nil || st.def.VersionInfo == nil {
		return storedDelay{}, false
	}
	return storedDelay{ConfigVersion: st.def.VersionInfo.LastConfigChangeAt, Delay: st.backoff, LaunchAfter: st.launchAfter}, true
}

// loadDelays reads every stored delay, by key.
func (s *store) loadDelays(ctx context.Context) (map[string]storedDelay, error) {
	raw, err := s.list(ctx, prefixDelays)
	if err != nil {
		return nil, err
	}
	out := make(map[string]storedDelay, len(raw))
	for k, v := range raw {
		var d storedDelay
		if err := json.Unmarshal(v, &d); err != nil {
			return nil, fmt.Errorf("decode %s: %w", k, err)
		}
		out[k] = d
	}
	return out, nil
}

// restoreDelaysLocked gives the loaded apps their stored backoff and
// deletes the stale ones.
func (a *Apps) restoreDelaysLocked(delays map[string]storedDelay) error {
	var stale []clientv3.Op
	byKey := make(map[string]*appState, len(a.apps))
	for id, st := range a.apps {
		byKey[delayKey(id)] = st
	}
	for k, d := range delays {
		st := byKey[k]
		if st == nil || st.def == nil || st.def.VersionInfo == nil || st.def.VersionInfo.LastConfigChangeAt != d.ConfigVersion {
			stale = append(stale, clientv3.OpDelete(k))
			continue
		}
		st.backoff, st.launchAfter = d.Delay, d.LaunchAfter
	}
	for len(stale) > 0 {
		n := min(len(stale), 100)
		if err := a.store.commit(stale[:n]...); err != nil {
			return fmt.Errorf("delete stale launch delays: %w", err)
		}
		stale = stale[n:]
	}
	return nil
}
