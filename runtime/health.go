package runtime

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
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
// host network with the task) until the task ends or ctx does. Each change
// of health is reported as a TASK_RUNNING update with Healthy set; after
// ConsecutiveFailures failures in a row outside the grace period the task
// is killed. Health is derived from the latest probes, not accumulated.
func (a *Agent) runHealthCheck(ctx context.Context, t *task) {
	hc := t.info.HealthCheck
	interval := seconds(hc.IntervalSeconds, healthInterval)
	grace := seconds(hc.GracePeriodSeconds, healthGrace)
	maxFailing := hc.ConsecutiveFailures
	if maxFailing <= 0 {
		maxFailing = healthMaxFailing
	}
	started := time.Now()
	timer := time.NewTimer(seconds(hc.DelaySeconds, healthDelay))
	defer timer.Stop()
	var healthy *bool
	failing, succeeded := 0, false
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		a.tasks.mu.Lock()
		over := t.state.Terminal() || t.killing
		a.tasks.mu.Unlock()
		if over {
			return
		}
		err := a.probe(ctx, t, hc, seconds(hc.TimeoutSeconds, healthTimeout))
		ok := err == nil
		if ok {
			failing, succeeded = 0, true
		} else if succeeded || time.Since(started) > grace {
			failing++ // failures in the grace period before a first success don't count
		}
		if healthy == nil || *healthy != ok {
			if ok || failing > 0 {
				healthy = &ok
				msg := "health check passed"
				if !ok {
					msg = "health check failed: " + err.Error()
				}
				a.updateTask(t, api.TaskRunning, api.ReasonHealthCheckFailed, msg, nil, healthy)
			}
		}
		if failing >= maxFailing {
			a.log.Warn("killing unhealthy task", "task_id", t.id, "failures", failing, "err", err)
			a.tasks.mu.Lock()
			t.killReason = api.ReasonHealthCheckFailed
			t.killMessage = fmt.Sprintf("health check failed %d times in a row: %v", failing, err)
			a.tasks.mu.Unlock()
			a.kill(ctx, &api.KillMessage{FrameworkID: api.ID{Value: t.frameworkID}, TaskID: api.ID{Value: t.id}})
			return
		}
		timer.Reset(interval)
	}
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
		// Runs on the host with the task's environment and sandbox as its
		// working directory (not inside the task's mount namespace).
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", hc.Command.Value)
		cmd.Dir = t.sandbox
		cmd.Env = taskEnv(t, a.ID(), a.cfg.Hostname, t.sandbox, nil)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%w: %s", err, truncate(string(out), 200))
		}
		return nil
	}
	return fmt.Errorf("unknown health check type %q", hc.Type)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
