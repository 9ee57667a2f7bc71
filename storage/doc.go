// Package storage is the agent's sqlite checkpoint store (modernc.org/sqlite):
// Open/Close, ordered migrations keyed by PRAGMA user_version, typed records
// and transactions. The recovery issue fills it in.
//
// storage imports no other nodectl package.
package storage
