package api

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Disks beyond the agent's work dir (Mesos "Multiple Disks",
// https://mesos.apache.org/documentation/latest/multiple-disk/): a disk
// resource whose disk.source names a PATH or MOUNT disk. The operator
// lists them in --resources (JSON form):
//
//	[{"name":"disk","type":"SCALAR","scalar":{"value":2048},
//	  "disk":{"source":{"type":"MOUNT","mount":{"root":"/mnt/ssd-1"}}}}]
//
// A PATH disk is shared: volumes on it take part of it and live under
// <root>/volumes/roles/<role>/<persistence id>. A MOUNT disk is
// exclusive: it is offered, reserved and used whole, and its one volume is
// the root itself (Mesos' src/slave/paths.cpp getPersistentVolumePath).
// Disk without a source is the agent's root disk (its work dir).

// Disk source types (Mesos Resource.DiskInfo.Source.Type).
const (
	DiskSourcePath  = "PATH"
	DiskSourceMount = "MOUNT"
)

// DiskSource is Mesos Resource.DiskInfo.Source for PATH and MOUNT disks.
// ID, Profile, Vendor and Metadata belong to CSI-provided disks, which
// nodectl does not have; they are decoded only to be refused.
type DiskSource struct {
	Type     string          `json:"type"`
	Path     *DiskSourceRoot `json:"path,omitempty"`
	Mount    *DiskSourceRoot `json:"mount,omitempty"`
	ID       string          `json:"id,omitempty"`
	Profile  string          `json:"profile,omitempty"`
	Vendor   string          `json:"vendor,omitempty"`
	Metadata *Labels         `json:"metadata,omitempty"`
}

// DiskSourceRoot is DiskInfo.Source.Path and .Mount: the disk's directory
// on the agent (relative: under the agent's work dir).
type DiskSourceRoot struct {
	Root string `json:"root"`
}

// Source returns r's disk source, or nil for the root disk.
func (r Resource) Source() *DiskSource {
	if r.Disk == nil {
		return nil
	}
	return r.Disk.Source
}

// Root returns the disk's root as given ("" for a malformed source).
func (s *DiskSource) Root() string {
	switch {
	case s == nil:
		return ""
	case s.Type == DiskSourcePath && s.Path != nil:
		return s.Path.Root
	case s.Type == DiskSourceMount && s.Mount != nil:
		return s.Mount.Root
	}
	return ""
}

// RootDir resolves the disk's root on an agent with the given work dir:
// a relative root is under the work dir, as in Mesos.
func (s *DiskSource) RootDir(workDir string) string {
	root := s.Root()
	if root != "" && !filepath.IsAbs(root) {
		return filepath.Join(workDir, root)
	}
	return filepath.Clean(root)
}

// IsMount reports whether r is (part of) an exclusive MOUNT disk.
func (r Resource) IsMount() bool {
	s := r.Source()
	return s != nil && s.Type == DiskSourceMount
}

func sameSource(a, b *DiskSource) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Type == b.Type && a.Root() == b.Root()
}

func (s *DiskSource) validate() error {
	switch s.Type {
	case DiskSourcePath, DiskSourceMount:
	case "":
		return fmt.Errorf("%w: disk.source: no type (want PATH or MOUNT)", ErrBadResources)
	default:
		return fmt.Errorf("%w: disk.source.type %q is not supported (want PATH or MOUNT)", ErrBadResources, s.Type)
	}
	if s.ID != "" || s.Profile != "" || s.Vendor != "" || s.Metadata != nil {
		return fmt.Errorf("%w: disk.source: id, profile, vendor and metadata are for CSI disks, which are not supported", ErrBadResources)
	}
	field := strings.ToLower(s.Type)
	if (s.Type == DiskSourcePath) != (s.Path != nil) || (s.Type == DiskSourceMount) != (s.Mount != nil) {
		return fmt.Errorf("%w: disk.source of type %s needs %s.root and nothing else", ErrBadResources, s.Type, field)
	}
	root := s.Root()
	if root == "" || strings.ContainsAny(root, "\x00;") {
		return fmt.Errorf("%w: disk.source.%s.root %q: want a directory", ErrBadResources, field, root)
	}
	if c := filepath.Clean(root); c == ".." || strings.HasPrefix(c, "../") {
		return fmt.Errorf("%w: disk.source.%s.root %q leaves the work dir", ErrBadResources, field, root)
	}
	return nil
}

// sourceText is how a source disk appears in the text syntax, after the
// name and role: "[MOUNT:/mnt/ssd-1]", as Mesos prints such resources.
func (s *DiskSource) sourceText() string {
	if s == nil {
		return ""
	}
	return "[" + s.Type + ":" + s.Root() + "]"
}

// parseSourceText reads sourceText's form ("MOUNT:/mnt/ssd-1").
func parseSourceText(s string) (*DiskSource, error) {
	typ, root, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("%w: disk source %q: want [PATH:root] or [MOUNT:root]", ErrBadResources, s)
	}
	src := &DiskSource{Type: strings.TrimSpace(typ)}
	r := &DiskSourceRoot{Root: strings.TrimSpace(root)}
	switch src.Type {
	case DiskSourcePath:
		src.Path = r
	case DiskSourceMount:
		src.Mount = r
	default:
		return nil, fmt.Errorf("%w: disk source type %q: want PATH or MOUNT", ErrBadResources, src.Type)
	}
	return src, nil
}

// DiskSources returns the PATH and MOUNT disks of rs, one entry per root.
func (rs Resources) DiskSources() []*DiskSource {
	var out []*DiskSource
	seen := map[string]bool{}
	for _, r := range rs {
		if s := r.Source(); s != nil && !seen[s.Type+":"+s.Root()] {
			seen[s.Type+":"+s.Root()] = true
			out = append(out, s)
		}
	}
	return out
}
