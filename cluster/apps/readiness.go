package apps

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Readiness checks are run by the leader, as Marathon runs them: a new
// task of an app with a readiness check is probed from when it runs until
// it is ready once; until then it does not count as healthy for rolling
// restarts and deployments (task.healthy).

// readinessProbe is one probe to run, picked under the lock.
type readinessProbe struct {
	taskID, url string
	check       ReadinessCheck
}

// runReadiness probes due tasks every tick until ctx ends.
func (a *Apps) runReadiness(ctx context.Context) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.readinessRound(ctx)
	}
}

// readinessRound runs the probes that are due, concurrently, and records
// the tasks that became ready.
func (a *Apps) readinessRound(ctx context.Context) {
	probes := a.dueReadiness()
	if len(probes) == 0 {
		return
	}
	ready := make([]bool, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Go(func() { ready[i] = probeReady(ctx, p) == nil })
	}
	wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	changed := false
	for i, p := range probes {
		t := a.tasks[p.taskID]
		if !ready[i] || t == nil || t.Ready {
			continue
		}
		c := t.clone()
		c.Ready = true
		if err := a.store.put(prefixTasks+t.ID, c); err != nil {
			a.log.Warn("checkpoint task readiness; probed again", "task_id", t.ID, "err", err)
			continue
		}
		t.Ready, changed = true, true
		a.log.Info("app task ready", "app_id", t.AppID, "task_id", t.ID)
	}
	if changed {
		a.poke()
	}
}

// dueReadiness picks the running, not yet ready tasks whose check
// interval has passed.
func (a *Apps) dueReadiness() []readinessProbe {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.cfg.Now()
	var out []readinessProbe
	for _, t := range a.tasks {
		if !t.ReadinessChecked || t.Ready || !t.running() || t.Killing {
			continue
		}
		st := a.apps[t.AppID]
		if st == nil || st.def == nil || len(st.def.ReadinessChecks) == 0 {
			continue
		}
		c := st.def.ReadinessChecks[0]
		if !t.readyProbeAt.IsZero() && now.Sub(t.readyProbeAt) < time.Duration(c.IntervalSeconds)*time.Second {
			continue
		}
		i := slices.IndexFunc(st.def.hostPortDefs(), func(pd PortDefinition) bool { return pd.Name == c.PortName })
		if i < 0 || i >= len(t.Ports) {
			continue
		}
		t.readyProbeAt = now
		scheme := "http"
		if c.Protocol == "HTTPS" {
			scheme = "https"
		}
		url := scheme + "://" + net.JoinHostPort(t.Host, strconv.Itoa(t.Ports[i])) + c.Path
		out = append(out, readinessProbe{taskID: t.ID, url: url, check: c})
	}
	return out
}

// probeReady is one readiness GET; nil when the status is a ready one.
func probeReady(ctx context.Context, p readinessProbe) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(p.check.TimeoutSeconds)*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return err
	}
	// The task's own certificate is not ours to verify, as in Marathon.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if !slices.Contains(p.check.HTTPStatusCodesForReady, resp.StatusCode) {
		return fmt.Errorf("GET %s: %s", p.url, resp.Status)
	}
	return nil
}

// readinessResult is one entry of a deployment action's
// readinessCheckResults.
type readinessResult struct {
	Name         string `json:"name"`
	TaskID       string `json:"taskId"`
	Ready        bool   `json:"ready"`
	LastResponse any    `json:"lastResponse"`
}

// withReadinessLocked is a copy of d whose current actions show the
// readiness of their app's readiness-checked tasks.
func (a *Apps) withReadinessLocked(d *Deployment) *Deployment {
	c := *d
	c.Originals = nil // rollback state, not part of Marathon's plan
	cur := d.CurrentActions
	if i := a.currentStepLocked(d); i > 0 {
		c.CurrentStep, cur = i+1, d.Steps[i].Actions
	}
	c.CurrentActions = make([]Action, len(cur))
	for i, act := range cur {
		act.ReadinessCheckResults = []any{}
		if st := a.apps[act.App]; st != nil && st.def != nil && len(st.def.ReadinessChecks) > 0 {
			for _, t := range a.tasksOfLocked(act.App) {
				if t.ReadinessChecked && t.alive() {
					act.ReadinessCheckResults = append(act.ReadinessCheckResults,
						readinessResult{Name: st.def.ReadinessChecks[0].Name, TaskID: t.ID, Ready: t.Ready})
				}
			}
		}
		c.CurrentActions[i] = act
	}
	return &c
}
