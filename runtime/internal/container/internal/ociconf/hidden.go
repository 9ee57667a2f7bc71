package ociconf

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
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

// hiddenTmpfsSize bounds the tmpfs laid over a hidden directory that holds
// the task's own mounts: it only holds their (empty) mount points.
const hiddenTmpfsSize = "size=64k"

// hide hides the host paths in hidden (plus hostSecrets) from a command task
// whose bind mounts land on dests. It returns the mounts to place after the
// host root's binds and before the task's own binds, and adds to spec's
// masked and read-only paths.
//
// A hidden path with none of dests beneath it is masked, as runc masks
// /proc/kcore: libcontainer applies masks after every mount, so masking a
// directory that holds the task's sandbox (the agent's work dir does) would
// hide the sandbox too. Such a directory instead gets an empty tmpfs mounted
// over it before the task's binds, so the binds land on the tmpfs (their
// mount points are created on it), and is then listed in the read-only
// paths: libcontainer rebinds it read-only after the mounts, which leaves the
// submounts (the sandbox, the volumes) as they are. The task sees the path
// to its own sandbox and nothing else of the work dir.
func hide(spec *specs.Spec, hidden, dests []string) []specs.Mount {
	var paths []string
	for _, p := range append(slices.Clone(hostSecrets), hidden...) {
		if p == "" || !filepath.IsAbs(p) {
			continue
		}
		p = filepath.Clean(p)
		if !strings.ContainsAny(p, `*?[\`) {
			paths = append(paths, p) // absent ones are skipped by libcontainer
			continue
		}
		matches, err := filepath.Glob(p)
		if err != nil {
			continue // only ErrBadPattern; the agent validates operator paths
		}
		paths = append(paths, matches...)
	}
	slices.Sort(paths)
	paths = slices.Compact(paths)

	var covers []string // directories hidden behind a tmpfs
	var mounts []specs.Mount
	for _, p := range paths {
		if slices.ContainsFunc(covers, func(c string) bool { return under(p, c) }) {
			continue // already behind a parent's tmpfs
		}
		holdsMount := slices.ContainsFunc(dests, func(d string) bool { return d != p && under(d, p) })
		st, err := os.Stat(p)
		if holdsMount && err == nil && st.IsDir() {
			covers = append(covers, p)
			mounts = append(mounts, specs.Mount{
				Destination: p, Type: "tmpfs", Source: "tmpfs",
				Options: []string{"nosuid", "nodev", "noexec", "mode=0755", hiddenTmpfsSize},
			})
			spec.Linux.ReadonlyPaths = append(spec.Linux.ReadonlyPaths, p)
			continue
		}
		if slices.Contains(dests, p) {
			continue // the task's own mount sits exactly there
		}
		spec.Linux.MaskedPaths = append(spec.Linux.MaskedPaths, p)
	}
	return mounts
}

// under reports whether p is dir or beneath it.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}
