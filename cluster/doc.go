// Package cluster is the master: it campaigns for leadership through an etcd
// election, keeps the registry of admitted agents in etcd, tracks agent
// liveness, and serves the master's HTTP API (agent protocol and Mesos-style
// operator endpoints). Leader-only work runs only while this master leads.
//
// It talks to etcd only through the etcd client. It imports no other nodectl
// package except its own wire-type leaf, cluster/api; in particular it must
// not import embed, runtime, storage, ui or node.
package cluster
