package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"nodectl/cluster/api"
)

// ErrUnknownAgent is returned for pings and calls naming an agent the
// registry does not hold; the agent must register again.
var ErrUnknownAgent = errors.New("unknown agent")

// ErrNotLeader is returned by leader-only operations on a standby.
var ErrNotLeader = errors.New("not the leading master")

// agent is the master's view of one admitted agent. The persisted part
// (Info, times) lives in etcd; liveness is the leader's memory only.
type agent struct {
	Info             api.AgentInfo `json:"info"`
	RegisteredTime   time.Time     `json:"registered_time"`
	ReregisteredTime *time.Time    `json:"reregistered_time,omitempty"`

	lastPing time.Time
	active   bool
}

func (m *Master) loadRegistry(ctx context.Context) ([]*agent, error) {
	resp, err := m.cfg.Etcd.Get(ctx, keyAgentsPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("read agents: %w", err)
	}
	out := make([]*agent, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var a agent
		if err := json.Unmarshal(kv.Value, &a); err != nil {
			return nil, fmt.Errorf("decode agent %s: %w", kv.Key, err)
		}
		out = append(out, &a)
	}
	return out, nil
}

func (m *Master) storeAgent(ctx context.Context, a *agent) error {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode agent %s: %w", a.Info.ID, err)
	}
	if _, err := m.cfg.Etcd.Put(ctx, keyAgentsPrefix+a.Info.ID, string(b)); err != nil {
		return fmt.Errorf("store agent %s: %w", a.Info.ID, err)
	}
	return nil
}

// register admits a new agent or re-admits a known one. The registry write
// commits before the agent hears its id, as the Mesos registrar does.
func (m *Master) register(ctx context.Context, info api.AgentInfo) (api.RegisterResponse, error) {
	now := m.cfg.Now()
	m.mu.Lock()
	if !m.elected {
		m.mu.Unlock()
		return api.RegisterResponse{}, ErrNotLeader
	}
	rec := &agent{Info: info, RegisteredTime: now}
	re := false
	if info.ID == "" {
		rec.Info.ID = fmt.Sprintf("%s-S%d", m.info.ID, m.nextAgent)
		m.nextAgent++
	} else if old, ok := m.agents[info.ID]; ok {
		re = true
		rec.RegisteredTime = old.RegisteredTime
		rec.ReregisteredTime = &now
	}
	m.mu.Unlock()

	if err := m.storeAgent(ctx, rec); err != nil {
		return api.RegisterResponse{}, err
	}
	rec.lastPing, rec.active = now, true
	m.mu.Lock()
	m.agents[rec.Info.ID] = rec
	m.mu.Unlock()
	if re {
		m.m.reregistrations.Inc()
		m.log.Info("agent re-registered", "agent_id", rec.Info.ID, "hostname", info.Hostname)
	} else {
		m.m.registrations.Inc()
		m.log.Info("agent registered", "agent_id", rec.Info.ID, "hostname", info.Hostname, "resources", info.Resources.String())
	}
	return api.RegisterResponse{
		AgentID:             rec.Info.ID,
		MasterID:            m.info.ID,
		PingIntervalSeconds: m.cfg.AgentPingTimeout.Seconds(),
	}, nil
}

// ping records an agent's liveness and reactivates it if it was inactive.
func (m *Master) ping(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.elected {
		return ErrNotLeader
	}
	a, ok := m.agents[id]
	if !ok {
		return ErrUnknownAgent
	}
	a.lastPing = m.cfg.Now()
	if !a.active {
		a.active = true
		m.log.Info("agent active again", "agent_id", id)
	}
	return nil
}

// checkLiveness marks agents inactive whose pings stopped for longer than
// AgentPingTimeout × MaxAgentPingTimeouts.
func (m *Master) checkLiveness() {
	window := m.cfg.AgentPingTimeout * time.Duration(m.cfg.MaxAgentPingTimeouts)
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, a := range m.agents {
		if a.active && now.Sub(a.lastPing) > window {
			a.active = false
			m.m.unhealthy.Inc()
			m.log.Warn("agent inactive: no ping", "agent_id", id, "silent_for", now.Sub(a.lastPing).Round(time.Millisecond))
		}
	}
}
