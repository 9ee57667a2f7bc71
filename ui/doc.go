// Package ui serves nodectl's built-in web UI: static assets embedded with
// go:embed and their handlers. The UI reads the master's public JSON API
// from the browser; the package declares the little it needs from the
// master and imports no other nodectl package.
package ui
