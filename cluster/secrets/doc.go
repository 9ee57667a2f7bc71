// Package secrets is the cluster secret store: named values (paths like
// /team-a/db/password) kept in etcd under /nodectl/secrets/, each sealed
// with AES-256-GCM under a key derived from the cluster secret (the AEAD
// comes in through Config; node derives it with pki.Authority.AEAD), and
// its HTTP API (/v1/secrets), authorized by path with view_secrets and
// manage_secrets. No API ever returns a value: the master resolves the
// secrets a task references when it sends the task to its agent
// (api.TaskInfo.Resolved).
//
// Any master serves the API: a secret is one etcd key written with a
// plain put or delete, not leader-owned state, so no fencing is needed.
//
// It imports cluster/api and cluster/auth only (no pki: the key comes in).
package secrets
