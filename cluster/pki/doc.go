// Package pki is the cluster's public-key infrastructure: the cluster CA
// (ECDSA P-256) with its key sealed at rest, node certificates issued from
// CSRs so private keys never leave their node, automatic renewal with an
// atomically swapped certificate, the TLS configurations of the master port,
// the agent port and node-to-node clients, and join tokens that pin the CA.
//
// Files of a node live in one directory (Paths); shared state (the CA record
// and the join tokens) lives in etcd under /nodectl/pki/, reached through the
// etcd client only. docs/security.md describes the threat model.
//
// It uses the standard library's crypto only. It imports no other nodectl
// package but the master API's HTTP client (cluster/client, for the join
// flow) and its wire types (it is a leaf under cluster/, like cluster/api),
// nor etcd's server module; deps_test.go enforces it.
package pki
