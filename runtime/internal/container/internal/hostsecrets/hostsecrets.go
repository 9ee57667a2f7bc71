// Package hostsecrets lists the host paths no command task sees, whatever
// the agent's flags, and tells whether a path is one of them. It is a leaf
// (no cgo, no runc) so both the container driver, in the agent, and the
// OCI configuration, in the shim, use one list.
package hostsecrets

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// hostSecrets are host paths no command task sees, whatever the agent's
// flags: password and group hashes, root's home, users' SSH keys and the
// host's SSH keys. Patterns are expanded with filepath.Glob when a
// container is configured.
var hostSecrets = []string{
	"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-",
	"/etc/security/opasswd",
	"/root",
	"/home/*/.ssh",
	"/etc/ssh/ssh_host_*_key",
}

// Paths returns the host secrets' patterns (filepath.Glob syntax).
func Paths() []string { return slices.Clone(hostSecrets) }

// IsHidden reports whether the resolved host path p is one of the host
// secrets or of hidden (patterns too), or lies beneath one.
func IsHidden(p string, hidden []string) bool {
	for _, m := range expand(hidden) {
		if r, err := filepath.EvalSymlinks(m); err == nil {
			m = r
		}
		if p == m || strings.HasPrefix(p, strings.TrimSuffix(m, "/")+"/") {
			return true
		}
	}
	return false
}

// Matches expands the host secrets and hidden (patterns too) into the host
// paths that exist now, sorted, each with its kind ("d" directory, "f"
// regular file, "o" other): what a command task's container configured now
// hides. A container made ahead of its task (a warm one) is taken over
// only while this is still what it hid.
func Matches(hidden []string) []string {
	var out []string
	for _, m := range expand(hidden) {
		kind := "o"
		if st, err := os.Stat(m); err == nil && st.IsDir() {
			kind = "d"
		} else if err == nil && st.Mode().IsRegular() {
			kind = "f"
		}
		out = append(out, m+" "+kind)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// expand returns the paths the host secrets' and hidden's absolute
// patterns match now.
func expand(hidden []string) []string {
	var out []string
	for _, p := range append(Paths(), hidden...) {
		if p == "" || !filepath.IsAbs(p) {
			continue
		}
		matches, err := filepath.Glob(filepath.Clean(p))
		if err != nil {
			continue // only ErrBadPattern; the agent validates operator paths
		}
		out = append(out, matches...)
	}
	return out
}
