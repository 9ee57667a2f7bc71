package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"nodectl/cluster/pki"
)

func TestTransientEtcd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{fmt.Errorf("publish CA: %w", rpctypes.ErrTimeoutDueToLeaderFail), true},
		{errors.New("publish the cluster CA: publish CA: etcdserver: request timed out, possibly due to previous leader failure"), true},
		{rpctypes.ErrTimeout, true},
		{rpctypes.ErrTimeoutDueToConnectionLost, true},
		{rpctypes.ErrLeaderChanged, true},
		{rpctypes.ErrNoLeader, true},
		{rpctypes.ErrTooManyRequests, true},
		{errors.New("promote: 503 Service Unavailable: promote 1a2b: etcdserver: leader changed"), true},
		{errors.New("rpc error: code = Unavailable desc = connection refused"), true},
		{fmt.Errorf("attempt: %w", context.DeadlineExceeded), true},
		{fmt.Errorf("stop: %w", context.Canceled), false},
		{fmt.Errorf("publish CA: %w", pki.ErrForeignCA), false},
		{rpctypes.ErrPermissionDenied, false},
		{rpctypes.ErrMemberNotFound, false},
		{errors.New("403 Forbidden: not a master certificate"), false},
		{errors.New("rpc error: code = InvalidArgument desc = bad"), false},
	}
	for _, tt := range tests {
		if got := transientEtcd(tt.err); got != tt.want {
			t.Errorf("transientEtcd(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestRetryEtcd(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	calls := 0
	err := retryEtcd(t.Context(), log, "publish CA", func(context.Context) error {
		if calls++; calls < 3 {
			return rpctypes.ErrTimeoutDueToLeaderFail
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("transient twice: err %v after %d calls, want nil after 3", err, calls)
	}
	calls = 0
	err = retryEtcd(t.Context(), log, "publish CA", func(context.Context) error { calls++; return pki.ErrForeignCA })
	if !errors.Is(err, pki.ErrForeignCA) || calls != 1 {
		t.Errorf("permanent: err %v after %d calls, want ErrForeignCA after 1", err, calls)
	}
	ctx, cancel := context.WithCancel(t.Context())
	calls = 0
	err = retryEtcd(ctx, log, "publish CA", func(context.Context) error {
		calls++
		cancel()
		return rpctypes.ErrNoLeader
	})
	if !errors.Is(err, rpctypes.ErrNoLeader) || calls != 1 {
		t.Errorf("cancelled: err %v after %d calls, want the last etcd error after 1", err, calls)
	}
}
