// Package ui serves nodectl's built-in web UI: static assets embedded in
// the binary (go:embed) and their handlers, and the /ui/api/ entry point
// through which the pages call the master's public JSON API (forwarded
// to the leader when this master is a standby; proxy.go). It declares the
// little it needs from the master and imports no other nodectl package.
package ui
