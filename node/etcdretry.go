package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// startupRetryTimeout bounds the retries of one start-up write: a leader
// election in a loaded cluster takes seconds, not minutes.
const startupRetryTimeout = 2 * time.Minute

// transientEtcdErrors are etcd's answers that say "not now" rather than
// "no": a leader election, a request that timed out or was cut off with a
// leader, a member too busy or not yet healthy. The same request may well
// succeed a moment later.
var transientEtcdErrors = []error{
	rpctypes.ErrTimeout,
	rpctypes.ErrTimeoutDueToLeaderFail,
	rpctypes.ErrTimeoutDueToConnectionLost,
	rpctypes.ErrTimeoutWaitAppliedIndex,
	rpctypes.ErrLeaderChanged,
	rpctypes.ErrNoLeader,
	rpctypes.ErrNotLeader,
	rpctypes.ErrTooManyRequests,
	rpctypes.ErrUnhealthy,
}

// transientEtcd reports whether err is worth retrying: one of
// transientEtcdErrors (matched by text as well: they reach a joining
// master through another master's HTTP answer), a gRPC Unavailable or
// DeadlineExceeded (the member is restarting, or the attempt's own
// deadline passed), an HTTP 503 from a master, or an attempt's deadline.
// Anything else (a foreign CA, a refused certificate, a bad request) is
// permanent, and so is a cancelled context.
func transientEtcd(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	msg := err.Error()
	for _, e := range transientEtcdErrors {
		if errors.Is(err, e) || strings.Contains(msg, e.Error()) {
			return true
		}
	}
	for _, s := range []string{"code = Unavailable", "code = DeadlineExceeded", "503 Service Unavailable"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// retryEtcd calls f until it succeeds, fails for good (not transientEtcd),
// ctx ends, or startupRetryTimeout has passed, backing off from 100 ms to
// 3 s between attempts. what names the step in logs and errors.
func retryEtcd(ctx context.Context, log *slog.Logger, what string, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, startupRetryTimeout)
	defer cancel()
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := f(ctx)
		if err == nil || !transientEtcd(err) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: gave up after %d attempts: %w", what, attempt, err)
		}
		log.Warn("etcd busy; retrying", "step", what, "attempt", attempt, "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: gave up after %d attempts: %w", what, attempt, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 3*time.Second)
	}
}
