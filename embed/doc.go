// Package embed runs nodectl's embedded etcd server: it translates nodectl's
// settings into an etcd configuration, starts the member and waits until it
// serves, and bridges etcd's zap logs into the node's slog handler.
//
// It is the only nodectl package that imports etcd's server module. It
// imports no other nodectl package; masters talk to the data through etcd's
// client, never through this package's internals.
package embed
