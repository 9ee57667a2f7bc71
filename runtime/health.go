package runtime

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

	"nodectl/cluster/api"
)

// Mesos' health check defaults.
const (
	healthDelay      = 15 * time.Second
	healthInterval   = 10 * time.Second
	healthTimeout    = 20 * time.Second
	healthGrace      = 10 * time.Second
	healthMaxFailing = 3
)

func seconds(v float64, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return time.Duration(v * float64(time.Second))
}

// runHealthCheck probes a task's health next to it (the agent shares the
// host network with the task) until the task ends or ctx does. It runs
// HealthCheck and every one of MoreHealthChecks, each at its own pace; the
// task is healthy when all of them pass and unhealthy as soon as one
// fails. Each change of that health is reported as a TASK_RUNNING update
// with Healthy set; once one check has failed ConsecutiveFailures times in
// a row outside its grace period the task is killed. Health is derived
// from the latest probes, not accumulated.
func (a *Agent) runHealthCheck(ctx context.Context, t *task) {
	checks := append([]api.HealthCheck{*t.info.HealthCheck}, t.info.MoreHealthChecks...)
	h := &taskHealth{latest: make([]*bool, len(checks)), causes: make([]string, len(checks))}
	for _, c := range checks {
		h.kinds = append(h.kinds, c.Type)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if a.runCheck(ctx, t, i, &checks[i], h) {
				cancel() // the task is being killed: the other checks stop
			}
		}()
	}
	wg.Wait()
}

// taskHealth is the latest verdict of each of a task's checks and what was
// last reported.
type taskHealth struct {
	mu       sync.Mutex // guards the fields below; held while reporting, so reports stay in order
	latest   []*bool    // per check; nil until it has a verdict
	causes   []string   // per check: why its latest probe failed
	kinds    []string   // per check: its type, fixed
	reported *bool
	changed  bool // a check's verdict changed since the last report
}

// failingLocked names the first failing check and why.
func (h *taskHealth) failingLocked() string {
	for i, v := range h.latest {
		if v != nil && !*v {
			return fmt.Sprintf("health check %d (%s) failed: %s", i, h.kinds[i], h.causes[i])
		}
	}
	return "health check failed"
}

// resultsLocked are the checks' latest results for a status update: nil
// for a single check (Healthy says it all).
func (h *taskHealth) resultsLocked() []api.CheckResult {
	if len(h.latest) < 2 {
		return nil
	}
	out := make([]api.CheckResult, len(h.latest))
	for i, v := range h.latest {
		out[i] = api.CheckResult{Healthy: v}
		if v != nil && !*v {
			out[i].Message = h.causes[i]
		}
	}
	return out
}

// verdictLocked is the task's health from its checks' latest results:
// false when any fails, true when all pass, nil while undecided.
func (h *taskHealth) verdictLocked() *bool {
	all := true
	for _, v := range h.latest {
		switch {
		case v == nil:
			all = false
		case !*v:
			return v
		}
	}
	if !all {
		return nil
	}
	ok := true
	return &ok
}

// runCheck probes one check until ctx ends or the task does; true when it
// killed the task.
func (a *Agent) runCheck(ctx context.Context, t *task, idx int, hc *api.HealthCheck, h *taskHealth) bool {
	interval := seconds(hc.IntervalSeconds, healthInterval)
	grace := seconds(hc.GracePeriodSeconds, healthGrace)
	maxFailing := hc.ConsecutiveFailures
	if maxFailing <= 0 {
		maxFailing = healthMaxFailing
	}
	name := "health check"
	if len(h.latest) > 1 {
		name = fmt.Sprintf("health check %d (%s)", idx, hc.Type)
	}
	started := time.Now()
	timer := time.NewTimer(seconds(hc.DelaySeconds, healthDelay))
	defer timer.Stop()
	failing, succeeded := 0, false
	retry := firstProbeRetry
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
		}
		a.tasks.mu.Lock()
		over := t.state.Terminal() || t.killing
		a.tasks.mu.Unlock()
		if over {
			return false
		}
		err := a.probe(ctx, t, hc, seconds(hc.TimeoutSeconds, healthTimeout))
		if ctx.Err() != nil {
			return false
		}
		ok := err == nil
		if ok {
			failing, succeeded = 0, true
		} else if succeeded || time.Since(started) > grace {
			failing++ // failures in the grace period before a first success don't count
		}
		if ok || failing > 0 {
			h.mu.Lock()
			if prev := h.latest[idx]; prev == nil || *prev != ok {
				h.changed = true
			}
			h.latest[idx] = &ok
			if !ok {
				h.causes[idx] = err.Error()
			}
			// Each change of one check's verdict is reported (with every
			// check's result) once the task's verdict is known.
			if v := h.verdictLocked(); v != nil && (h.reported == nil || *h.reported != *v || h.changed && len(h.latest) > 1) {
				h.reported, h.changed = v, false
				msg := "health check passed"
				switch {
				case !*v && err != nil:
					msg = name + " failed: " + err.Error()
				case !*v: // this check passed, another still fails
					msg = h.failingLocked()
				}
				a.tasks.mu.Lock()
				t.checkResults = h.resultsLocked()
				a.tasks.mu.Unlock()
				a.updateTask(t, api.TaskRunning, api.ReasonHealthCheckFailed, msg, nil, v)
			}
			h.mu.Unlock()
		}
		if failing >= maxFailing {
			a.log.Warn("killing unhealthy task", "task_id", t.id, "check", idx, "failures", failing, "err", err)
			a.tasks.mu.Lock()
			t.killReason = api.ReasonHealthCheckFailed
			t.killMessage = fmt.Sprintf("%s failed %d times in a row: %v", name, failing, err)
			a.tasks.mu.Unlock()
			a.kill(ctx, &api.KillMessage{FrameworkID: api.ID{Value: t.frameworkID}, TaskID: api.ID{Value: t.id}})
			return true
		}
		var next time.Duration
		next, retry = nextProbe(hc.Type, ok, succeeded, time.Since(started) <= grace, retry, interval)
		timer.Reset(next)
	}
}

// firstProbeRetry is how soon a TCP or HTTP check that failed before its
// first success, within the grace period, runs again; each further such
// failure doubles it, up to the check's interval.
const firstProbeRetry = 50 * time.Millisecond

// nextProbe is the wait before a check's next probe and the early retry
// after that. A task is usually probed first while its server is still
// starting (Marathon's checks start at once, Mesos' after their delay): a
// TCP or HTTP check that has not passed yet is tried again soon, 50 ms
// doubling, instead of a whole interval later, so that a task is healthy
// about when its server answers rather than an interval after (100 tasks
// with a TCP check every second were healthy ~1 s after running). Such
// failures count for nothing in the grace period, and these probes are a
// connection each from the agent. COMMAND checks, which run a process in
// the container, keep their interval; so does every check once it passed
// or its grace period is over.
func nextProbe(typ string, ok, succeeded, inGrace bool, retry, interval time.Duration) (next, nextRetry time.Duration) {
	switch {
	case ok || succeeded || !inGrace || retry >= interval:
		return interval, retry
	case typ == "TCP" || typ == "HTTP" || typ == "HTTPS":
		return retry, 2 * retry
	}
	return interval, retry
}

// probe runs one check; nil means healthy.
func (a *Agent) probe(ctx context.Context, t *task, hc *api.HealthCheck, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch hc.Type {
	case "HTTP", "HTTPS":
		if hc.HTTP == nil || hc.HTTP.Port == 0 {
			return fmt.Errorf("http check without a port")
		}
		scheme := hc.HTTP.Scheme
		if scheme == "" {
			scheme = "http"
			if hc.Type == "HTTPS" {
				scheme = "https"
			}
		}
		url := scheme + "://127.0.0.1:" + strconv.Itoa(int(hc.HTTP.Port)) + hc.HTTP.Path
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		// The task's own certificate is not ours to verify, as in Mesos.
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if len(hc.HTTP.Statuses) > 0 {
			if !slices.Contains(hc.HTTP.Statuses, uint32(resp.StatusCode)) {
				return fmt.Errorf("GET %s: %s", url, resp.Status)
			}
			return nil
		}
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	case "TCP":
		if hc.TCP == nil || hc.TCP.Port == 0 {
			return fmt.Errorf("tcp check without a port")
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(int(hc.TCP.Port)))
		if err != nil {
			return err
		}
		return c.Close()
	case "COMMAND":
		if hc.Command == nil || hc.Command.Value == "" {
			return fmt.Errorf("command check without a command")
		}
		return a.commandCheck(ctx, t, hc.Command)
	}
	return fmt.Errorf("unknown health check type %q", hc.Type)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
