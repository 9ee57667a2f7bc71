package ociconf

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"nodectl/runtime/internal/container/internal/hostroot"
	"nodectl/runtime/internal/container/internal/hostsecrets"
)

// hiddenTmpfsSize bounds the tmpfs laid over a hidden directory that holds
// the task's own mounts: it only holds their (empty) mount points.
const hiddenTmpfsSize = "size=64k"

// hide hides the host paths in hidden (plus hostSecrets) from a command task
// whose bind mounts land on dests. It returns the mounts to place after the
// host root's binds and before the task's own binds, and adds to spec's
// read-only (and, for odd file types, masked) paths. blank is a directory
// of the container's own (its run directory) where hide puts the empty,
// mode-0000 file that hidden files are covered with.
//
// Hidden paths become unreadable rather than empty: a directory gets an
// empty read-only tmpfs of mode 0000 and a file a bind of an empty mode-0000
// file; tasks lack CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so even root in
// the task gets EACCES (runc's masks, a /dev/null bind or an empty tmpfs,
// would let `cat /etc/shadow` succeed with nothing).
//
// A directory with some of dests beneath it (the agent's work dir holds the
// task's sandbox) cannot be covered so, nor masked: libcontainer applies
// masks after every mount, which would hide the sandbox too. It gets an
// empty tmpfs (mode 0755) mounted over it before the task's binds, so the
// binds' mount points are created on the tmpfs, and is then listed in the
// read-only paths: libcontainer rebinds it read-only after the mounts, which
// leaves the submounts (the sandbox, the volumes) writable. The task sees
// the way to its own sandbox and nothing else of the work dir.
func hide(spec *specs.Spec, hidden, dests []string, blank string) ([]specs.Mount, error) {
	var paths []string
	for _, p := range append(hostsecrets.Paths(), hidden...) {
		if p == "" || !filepath.IsAbs(p) {
			continue
		}
		matches, err := filepath.Glob(filepath.Clean(p))
		if err != nil {
			continue // only ErrBadPattern; the agent validates operator paths
		}
		paths = append(paths, matches...) // absent paths have nothing to hide
	}
	slices.Sort(paths)
	paths = slices.Compact(paths)

	var covers []string // directories hidden behind a tmpfs
	var mounts []specs.Mount
	blankFile := ""
	for _, p := range paths {
		if slices.ContainsFunc(covers, func(c string) bool { return under(p, c) }) {
			continue // already behind a parent's tmpfs
		}
		if top := "/" + strings.Split(p, "/")[1]; hostroot.Replaced[top] {
			continue // the container has its own /proc, /sys, /dev, /tmp
		}
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		holdsMount := slices.ContainsFunc(dests, func(d string) bool { return d != p && under(d, p) })
		switch {
		case st.IsDir() && holdsMount:
			covers = append(covers, p)
			mounts = append(mounts, specs.Mount{
				Destination: p, Type: "tmpfs", Source: "tmpfs",
				Options: []string{"nosuid", "nodev", "noexec", "mode=0755", hiddenTmpfsSize},
			})
			spec.Linux.ReadonlyPaths = append(spec.Linux.ReadonlyPaths, p)
		case slices.Contains(dests, p):
			// the task's own mount sits exactly there
		case st.IsDir():
			covers = append(covers, p)
			mounts = append(mounts, specs.Mount{
				Destination: p, Type: "tmpfs", Source: "tmpfs",
				Options: []string{"ro", "nosuid", "nodev", "noexec", "mode=000", hiddenTmpfsSize},
			})
		case st.Mode().IsRegular():
			if blankFile == "" {
				blankFile = filepath.Join(blank, "hidden")
				f, err := os.OpenFile(blankFile, os.O_CREATE|os.O_WRONLY, 0)
				if err != nil {
					return nil, fmt.Errorf("hidden paths: %w", err)
				}
				f.Close()
				if err := os.Chmod(blankFile, 0); err != nil {
					return nil, fmt.Errorf("hidden paths: %w", err)
				}
			}
			mounts = append(mounts, specs.Mount{
				Destination: p, Type: "bind", Source: blankFile,
				Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"},
			})
		default:
			spec.Linux.MaskedPaths = append(spec.Linux.MaskedPaths, p)
		}
	}
	return mounts, nil
}

// under reports whether p is dir or beneath it.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}
