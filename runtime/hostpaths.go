package runtime

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"nodectl/cluster/api"
)

// HostPathRule is one entry of --allowed-host-paths: a host directory (or
// file) that tasks' hostPath volumes may mount, it or anything beneath it,
// read-only unless RW.
type HostPathRule struct {
	Path string
	RW   bool
}

// String is the flag form of the rule: "/data/shared:rw" or "/srv/ro".
func (r HostPathRule) String() string {
	if r.RW {
		return r.Path + ":rw"
	}
	return r.Path
}

func allowedHostPathStrings(rules []HostPathRule) []string {
	var out []string
	for _, r := range rules {
		out = append(out, r.String())
	}
	return out
}

// ParseAllowedHostPaths parses --allowed-host-paths: comma-separated
// absolute paths, each optionally suffixed ":rw" (read-write) or ":ro"
// (read-only, the default), e.g. "/data/shared:rw,/srv/ro". "" allows none.
func ParseAllowedHostPaths(s string) ([]HostPathRule, error) {
	var out []HostPathRule
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		r := HostPathRule{Path: e}
		if p, mode, ok := strings.Cut(e, ":"); ok {
			switch mode {
			case "rw":
				r = HostPathRule{Path: p, RW: true}
			case "ro":
				r = HostPathRule{Path: p}
			default:
				return nil, fmt.Errorf("%q: the mode after ':' must be rw or ro", e)
			}
		}
		if !filepath.IsAbs(r.Path) {
			return nil, fmt.Errorf("%q: not an absolute path", e)
		}
		r.Path = filepath.Clean(r.Path)
		out = append(out, r)
	}
	return out, nil
}

// errHostPath is a hostPath volume the agent refuses; the task ends
// TASK_ERROR with the message.
var errHostPath = errors.New("hostPath volume refused")

// within reports whether p is dir or beneath it (both clean and absolute).
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// checkHostPaths decides each hostPath volume of ti against the allowed
// list: the host path (symlinks resolved) must be an allowed entry or
// beneath one, and must neither be, contain nor lie inside the node's work
// dir, whatever the list says. It returns the mounts to make, with the
// resolved source, read-only unless both the volume and its entry say rw.
func (a *Agent) checkHostPaths(ti api.TaskInfo) ([]api.Volume, error) {
	vols := volumes(ti)
	if len(vols) == 0 {
		return nil, nil
	}
	wd := a.cfg.WorkDir
	if p, err := filepath.EvalSymlinks(wd); err == nil {
		wd = p
	}
	wd, _ = filepath.Abs(wd)
	allowed := make([]HostPathRule, 0, len(a.cfg.AllowedHostPaths))
	for _, r := range a.cfg.AllowedHostPaths {
		if p, err := filepath.EvalSymlinks(r.Path); err == nil {
			r.Path = p
		}
		allowed = append(allowed, r)
	}
	out := make([]api.Volume, 0, len(vols))
	for _, v := range vols {
		if !filepath.IsAbs(v.HostPath) {
			// Sandbox-relative: only a persistent volume of the task, which
			// volumeMounts binds (persistentByPath).
			if _, ok := a.persistentByPath(ti, v.HostPath); !ok {
				return nil, fmt.Errorf("%w: hostPath %q is relative but is not the containerPath of one of the task's persistent volumes", errHostPath, v.HostPath)
			}
			continue
		}
		real, err := filepath.EvalSymlinks(v.HostPath)
		if err != nil {
			return nil, fmt.Errorf("%w: hostPath %q: %w", errHostPath, v.HostPath, err)
		}
		name := fmt.Sprintf("%q", v.HostPath)
		if real != filepath.Clean(v.HostPath) {
			name += " (resolves to " + real + ")"
		}
		if within(real, wd) || within(wd, real) {
			return nil, fmt.Errorf("%w: hostPath %s is or overlaps the agent's work dir %s, which tasks never mount", errHostPath, name, wd)
		}
		// The most specific entry decides (rw on a tie).
		var rule *HostPathRule
		for i := range allowed {
			r := &allowed[i]
			if !within(real, r.Path) {
				continue
			}
			if rule == nil || len(r.Path) > len(rule.Path) || len(r.Path) == len(rule.Path) && r.RW {
				rule = r
			}
		}
		if rule == nil {
			list := "none"
			if len(a.cfg.AllowedHostPaths) > 0 {
				parts := make([]string, len(a.cfg.AllowedHostPaths))
				for i, r := range a.cfg.AllowedHostPaths {
					parts[i] = r.String()
				}
				list = strings.Join(parts, ",")
			}
			return nil, fmt.Errorf("%w: hostPath %s is not under the agent's --allowed-host-paths (%s)", errHostPath, name, list)
		}
		mode := "RO"
		if rule.RW && v.Mode != "RO" {
			mode = "RW"
		}
		out = append(out, api.Volume{ContainerPath: v.ContainerPath, HostPath: real, Mode: mode})
	}
	return out, nil
}
