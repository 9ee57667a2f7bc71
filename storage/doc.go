// Package storage is the agent's checkpoint store: one sqlite database
// (modernc.org/sqlite, WAL mode, synchronous=FULL) holding what a Mesos
// agent keeps under meta/ — the agent record and boot id, frameworks,
// executor runs (containers) with their completed sentinel, tasks, each
// task's status-update stream with its acknowledgements, and the
// checkpointed resources.
//
// What it offers:
//
//   - Open/Close. Open applies the missing schema migrations (an ordered
//     list keyed by PRAGMA user_version, one transaction per step), refuses
//     a database written by a newer nodectl, and runs PRAGMA quick_check so
//     that a damaged file is reported to the operator before anything is
//     recovered from it.
//   - Typed records whose agent-specific parts are opaque JSON blobs: the
//     store indexes ids and states and never interprets TaskInfo, updates
//     or framework info.
//   - Writes in which a record and the state change it describes commit in
//     one transaction (LaunchTask, AppendUpdate, Ack, ...). Concurrent
//     writers are batched into one transaction and one fsync (group commit);
//     every write method returns only once its write is durable.
//   - LoadState, the recovery read, strict or lenient (--no-strict).
//
// storage is a leaf: it must not import any other nodectl package. The
// agent (runtime) converts its own types to and from the JSON blobs.
package storage
