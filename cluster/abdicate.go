package cluster

import (
	"context"
	"errors"
)

// errAbdicated ends a term whose leader abdicated.
var errAbdicated = errors.New("leader abdicated")

// Abdicate makes the leading master step down: its term ends as on a lost
// lease (state handed over through etcd, streams closed), it resigns its
// election key, and it campaigns again after the masters already waiting,
// so another master leads if there is one, else it is re-elected
// (Marathon's DELETE /v2/leader, docs: rest-api leader.raml).
func (m *Master) Abdicate() error {
	if !m.IsLeader() {
		return ErrNotLeader
	}
	select {
	case m.abdicate <- struct{}{}:
	default: // already asked
	}
	return nil
}

// awaitAbdication ends the term (errAbdicated) when Abdicate is called,
// or returns nil when ctx ends.
func (m *Master) awaitAbdication(ctx context.Context) error {
	select {
	case <-m.abdicate:
		return errAbdicated
	case <-ctx.Done():
		return nil
	}
}
