package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"nodectl/cluster/api"
	"nodectl/runtime/image"
	"nodectl/storage"
)

// streamLoop holds the master→agent message stream open and dispatches
// its messages until the stream breaks or ctx ends.
func (a *Agent) streamLoop(ctx context.Context, leader, id string) error {
	u := a.cfg.Scheme + "://" + leader + api.PathStream + "?agent_id=" + url.QueryEscape(id)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("open message stream: %w", err)
	}
	// The stream lives as long as the agent's registration: no client timeout.
	client := *a.cfg.HTTPClient
	client.Timeout = 0
	// A leader too busy to open the stream (503, 429) is asked again, as a
	// busy ping is (pingLoop), for up to pingPatience ping intervals.
	a.mu.Lock()
	patience := time.Now().Add(pingPatience * a.pingInterval)
	a.mu.Unlock()
	var resp *http.Response
	for {
		r, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("open message stream: %w", err)
		}
		if r.StatusCode == http.StatusOK {
			resp = r
			break
		}
		r.Body.Close()
		busy := r.StatusCode == http.StatusServiceUnavailable || r.StatusCode == http.StatusTooManyRequests
		if !busy || time.Now().After(patience) {
			return fmt.Errorf("%w: open message stream: %s", ErrMasterRefused, r.Status)
		}
		a.log.Debug("message stream not opened; trying again", "master", leader, "status", r.Status)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pingRetry):
		}
	}
	defer resp.Body.Close()
	a.status.setOnline(true)
	defer a.status.setOnline(false)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var m api.AgentMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			a.log.Warn("undecodable message from master", "err", err)
			continue
		}
		a.dispatch(ctx, &m)
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("message stream: %w", err)
	}
	return errors.New("message stream closed by master")
}

func (a *Agent) dispatch(connCtx context.Context, m *api.AgentMessage) {
	// Task work belongs to the agent, not to this connection: a stream that
	// breaks must not cancel launches and kills in flight.
	a.mu.Lock()
	ctx := a.runCtx
	a.mu.Unlock()
	if ctx == nil {
		ctx = connCtx
	}
	switch {
	// A task's LAUNCH and KILL take effect here, in the order the master
	// sent them; only the long work (starting, stopping) goes on in
	// goroutines, and a KILL reaches a launch through its kill context.
	case m.Type == api.MsgLaunch && m.Launch != nil:
		if t := a.admitLaunch(ctx, m.Launch); t != nil {
			run := a.launch
			if t.info.Executor != nil {
				run = a.launchOnExecutor // executor.go
			}
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				run(ctx, t)
			}()
		}
	case m.Type == api.MsgKill && m.Kill != nil:
		if t, ctr, grace := a.beginKill(m.Kill); ctr != nil {
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				a.finishKill(ctx, t, ctr, grace)
			}()
		}
	case m.Type == api.MsgAcknowledge && m.Acknowledge != nil:
		ack := m.Acknowledge
		// The ack is checkpointed before it releases the next update.
		if _, err := a.store.Ack(ctx, storage.TaskKey{FrameworkID: ack.FrameworkID.Value, TaskID: ack.TaskID.Value}, ack.UUID); err != nil {
			a.log.Debug("acknowledgement not checkpointed", "task_id", ack.TaskID.Value, "err", err)
		}
		if !a.status.ack(ack.FrameworkID.Value, ack.TaskID.Value, ack.UUID) {
			a.m.invalidAcks.Inc()
		} else {
			a.executorAcked(ack) // executor.go
		}
	case m.Type == api.MsgShutdownFramework && m.ShutdownFramework != nil:
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.shutdownFramework(ctx, m.ShutdownFramework.FrameworkID.Value)
		}()
	case m.Type == api.MsgCheckpointResources && m.CheckpointResources != nil:
		// In line: a LAUNCH after it must find its volume.
		a.applyCheckpoint(ctx, m.CheckpointResources.Resources)
	case m.Type == api.MsgShutdownExecutor && m.Executor != nil:
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.shutdownExecutor(ctx, m.Executor.FrameworkID.Value, m.Executor.ExecutorID.Value)
		}()
	case m.Type == api.MsgFrameworkMessage && m.Executor != nil:
		a.frameworkMessage(m.Executor)
	case m.Type == api.MsgHeartbeat:
	default:
		a.log.Warn("unknown message from master", "type", m.Type)
	}
}

// sendStatus posts one update to the leader.
func (a *Agent) sendStatus(ctx context.Context, u api.StatusUpdate) error {
	a.mu.Lock()
	leader := a.leader
	a.mu.Unlock()
	if leader == "" {
		return errors.New("no master")
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := a.client.post(sctx, leader, api.PathStatus, u, nil)
	return err
}

// sendStatuses posts the updates due together to the leader in batches of
// api.MaxStatusBatch (api.PathStatuses); a master that does not know the
// batch (404 or 405: an older version, during a rolling upgrade) gets
// them one by one from then on. Updates the master refused are named in
// the error; like a failed single update, they are retried.
func (a *Agent) sendStatuses(ctx context.Context, us []api.StatusUpdate) error {
	a.mu.Lock()
	leader, single := a.leader, a.noBatch != "" && a.noBatch == a.leader
	a.mu.Unlock()
	if leader == "" {
		return errors.New("no master")
	}
	var errs []error
	each := func(us []api.StatusUpdate) {
		for _, u := range us {
			if err := a.sendStatus(ctx, u); err != nil {
				errs = append(errs, fmt.Errorf("task %s: %w", u.Status.TaskID.Value, err))
			}
		}
	}
	for chunk := range slices.Chunk(us, api.MaxStatusBatch) {
		if single || len(chunk) == 1 {
			each(chunk)
			continue
		}
		var res api.StatusBatchResult
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := a.client.post(sctx, leader, api.PathStatuses, api.StatusBatch{Updates: chunk}, &res)
		cancel()
		var ref *refusal
		if errors.As(err, &ref) && (ref.code == http.StatusNotFound || ref.code == http.StatusMethodNotAllowed) {
			a.mu.Lock()
			a.noBatch = leader
			a.mu.Unlock()
			single = true
			each(chunk)
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, r := range res.Refused {
			errs = append(errs, fmt.Errorf("task %s: refused: %d %s", r.TaskID, r.Code, r.Message))
		}
	}
	return errors.Join(errs...)
}

// prepareRootfs gives a container its image root filesystem, pulling the
// image first when the store does not have it.
func (a *Agent) prepareRootfs(ctx context.Context, ref, dir string, opts ...image.PullOption) (string, image.ImageConfig, error) {
	if a.images == nil {
		return "", image.ImageConfig{}, errors.New("no image store")
	}
	rootfs, ic, err := a.images.PrepareRootfs(ctx, ref, dir)
	if errors.Is(err, image.ErrNotFound) {
		if _, perr := a.images.Pull(ctx, ref, nil, opts...); perr != nil {
			return "", image.ImageConfig{}, fmt.Errorf("image %s is not in the store and could not be pulled: %w", ref, perr)
		}
		rootfs, ic, err = a.images.PrepareRootfs(ctx, ref, dir)
	}
	return rootfs, ic, err
}
