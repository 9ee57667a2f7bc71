package apps

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster/api"
)

// A pod's terminationHistory (Marathon types/podStatus.raml
// TerminationHistory, shown by GET /v2/pods/{id}::status): the pod's
// most recent instance terminations, newest first, at most
// podTerminationsKept. An instance terminates when all its tasks have
// ended (failed, killed or finished); the record keeps when it started
// (its first task's TASK_RUNNING, else when it was staged), when it
// ended, why (the first container that ended other than finished or
// killed) and each container's last state and exit. Marathon itself
// shows one entry, its last task failure; "most recent instance
// terminations" is the schema's description.
//
// The history is persisted under podterminations/<pod id>, written in the
// transaction that forgets the terminated instance (so through the
// leader's fenced commit, store.go) and deleted with the pod.

const prefixPodTerminations = prefix + "podterminations/"

// podTerminationsKept bounds a pod's termination history.
const podTerminationsKept = 5

func podTerminationsKey(id string) string { return prefixPodTerminations + escapeID(id) }

// podTermination is one terminated instance.
type podTermination struct {
	InstanceID   string                  `json:"instanceID"`
	StartedAt    time.Time               `json:"startedAt"`
	TerminatedAt time.Time               `json:"terminatedAt"`
	Message      string                  `json:"message,omitempty"`
	Containers   []podContainerTerminate `json:"containers"`
}

// podContainerTerminate is one container of a terminated instance
// (ContainerTerminationHistory).
type podContainerTerminate struct {
	ContainerID    string `json:"containerId"`
	LastKnownState string `json:"lastKnownState,omitempty"`
	ExitCode       *int   `json:"exitCode,omitempty"`
	Message        string `json:"message,omitempty"`
}

// terminationOf is the record of instance i, all of whose tasks ended.
func terminationOf(i *podInstance, now time.Time) podTermination {
	rec := podTermination{InstanceID: i.ID, StartedAt: i.StagedAt, TerminatedAt: now}
	var started time.Time
	for _, t := range i.Tasks {
		if !t.StartedAt.IsZero() && (started.IsZero() || t.StartedAt.Before(started)) {
			started = t.StartedAt
		}
		if rec.Message == "" && t.State != api.TaskFinished && t.State != api.TaskKilled {
			rec.Message = t.Message
			if rec.Message == "" {
				rec.Message = fmt.Sprintf("container %s: %s", t.Container, t.State)
			}
		}
		rec.Containers = append(rec.Containers, podContainerTerminate{
			ContainerID: t.ID, LastKnownState: string(t.State), ExitCode: t.ExitCode, Message: t.Message,
		})
	}
	if !started.IsZero() {
		rec.StartedAt = started
	}
	return rec
}

// instanceGoneLocked forgets instance i, all of whose tasks ended: its
// key is deleted and, for a pod that still exists, its termination
// recorded in the same transaction. Memory changes only once committed.
func (a *Apps) instanceGoneLocked(i *podInstance, now time.Time) error {
	ops := []clientv3.Op{clientv3.OpDelete(prefixPodInstances + i.ID)}
	ps := a.pods.pods[i.PodID]
	var hist []podTermination
	if ps != nil {
		hist = append([]podTermination{terminationOf(i, now)}, ps.terminations...)
		if len(hist) > podTerminationsKept {
			hist = hist[:podTerminationsKept]
		}
		op, err := putOp(podTerminationsKey(i.PodID), hist)
		if err != nil {
			return err
		}
		ops = append(ops, op)
	}
	if err := a.store.commit(ops...); err != nil {
		return err
	}
	if ps != nil {
		ps.terminations = hist
	}
	return nil
}

// loadPodTerminations reads the pods' termination histories into pt.
func (a *Apps) loadPodTerminations(ctx context.Context, pt podTable) error {
	kvs, err := a.store.list(ctx, prefixPodTerminations)
	if err != nil {
		return err
	}
	for k, v := range kvs {
		id := "/" + strings.ReplaceAll(strings.TrimPrefix(k, prefixPodTerminations), "_", "/")
		ps := pt.pods[id]
		if ps == nil {
			continue // its pod's deletion removes it
		}
		if err := json.Unmarshal(v, &ps.terminations); err != nil {
			return fmt.Errorf("decode %s: %w", k, err)
		}
	}
	return nil
}

// terminationHistoryJSON is a pod's terminationHistory.
func terminationHistoryJSON(ps *podState) []any {
	out := []any{}
	for _, rec := range ps.terminations {
		var cs []any
		for _, c := range rec.Containers {
			cj := map[string]any{"containerId": c.ContainerID}
			if c.LastKnownState != "" {
				cj["lastKnownState"] = c.LastKnownState
			}
			term := map[string]any{}
			if c.ExitCode != nil {
				term["exitCode"] = *c.ExitCode
			}
			if c.Message != "" {
				term["message"] = c.Message
			}
			if len(term) > 0 {
				cj["termination"] = term
			}
			cs = append(cs, cj)
		}
		r := map[string]any{
			"instanceID": rec.InstanceID, "startedAt": formatTime(rec.StartedAt), "terminatedAt": formatTime(rec.TerminatedAt),
			"containers": cs,
		}
		if rec.Message != "" {
			r["message"] = rec.Message
		}
		out = append(out, r)
	}
	return out
}
