package apps

import (
	"fmt"
	"math"
	"regexp"
	"sort"

	"nodectl/cluster/api"
)

// Persistent volumes on PATH and MOUNT disks (Marathon's "Persistent
// Volumes" page, https://mesosphere.github.io/marathon/docs/persistent-volumes.html;
// the disks are Mesos' "Multiple Disks", an agent's --resources).
//
// A volume's persistent.type picks the kind of disk: root (the agent's
// work dir disk), path (part of a PATH disk) or mount (a whole MOUNT
// disk, at least size and at most maxSize MiB; the volume's size is then
// the disk's). persistent.constraints narrow the disks by their root:
// ["path", "LIKE"|"UNLIKE", regex], the regex matching the whole root as
// Marathon's VolumeConstraints does (Java's String.matches). As in
// Marathon's ResourceMatcher, a mount volume takes the smallest disk that
// fits and a path volume the PATH disk with the most room.

// volumeConstraint is one compiled persistent.constraints entry.
type volumeConstraint struct {
	like bool
	re   *regexp.Regexp
}

// compileVolumeConstraints compiles a volume's constraints; the error
// names what is wrong with the first bad one.
func compileVolumeConstraints(cs [][]string) ([]volumeConstraint, error) {
	var out []volumeConstraint
	for i, c := range cs {
		if len(c) != 3 {
			return nil, fmt.Errorf("constraint %d: want [field, operator, value]", i)
		}
		if c[0] != "path" {
			return nil, fmt.Errorf("constraint %d: unsupported field %q (only path)", i, c[0])
		}
		if c[1] != "LIKE" && c[1] != "UNLIKE" {
			return nil, fmt.Errorf("constraint %d: unsupported operator %q (only LIKE and UNLIKE)", i, c[1])
		}
		re, err := regexp.Compile(`^(?:` + c[2] + `)$`)
		if err != nil {
			return nil, fmt.Errorf("constraint %d: invalid regular expression %q: %w", i, c[2], err)
		}
		out = append(out, volumeConstraint{like: c[1] == "LIKE", re: re})
	}
	return out, nil
}

// volumeDiskMatches reports whether disk d (of any size) could hold volume
// pv by kind and constraints.
func volumeDiskMatches(pv *PersistentVolume, cs []volumeConstraint, d api.Resource) bool {
	if d.Name != "disk" || d.Type != api.Scalar {
		return false
	}
	s := d.Source()
	switch pv.Type {
	case "root", "":
		return s == nil
	case "path":
		if s == nil || s.Type != api.DiskSourcePath {
			return false
		}
	case "mount":
		if s == nil || s.Type != api.DiskSourceMount {
			return false
		}
	default:
		return false
	}
	for _, c := range cs {
		if c.re.MatchString(s.Root()) != c.like {
			return false
		}
	}
	return true
}

// mountFits: a whole MOUNT disk of size mb holds the volume.
func mountFits(pv *PersistentVolume, mb float64) bool {
	maxSize := pv.MaxSize
	if maxSize == 0 {
		maxSize = math.Inf(1)
	}
	return mb >= pv.Size && mb <= maxSize
}

// pickVolumeDisks picks, for each persistent volume in order (an app's
// or a pod's), the unreserved disk it takes out of avail: the amount of
// the disk (a whole MOUNT disk) with its source. False when one does not
// fit.
func pickVolumeDisks(pvs []*PersistentVolume, avail api.Resources) (api.Resources, bool) {
	left := avail.Filter(func(r api.Resource) bool {
		return r.Name == "disk" && r.Dynamic() == nil && (r.Role == "" || r.Role == "*")
	})
	var out api.Resources
	for _, pv := range pvs {
		cs, err := compileVolumeConstraints(pv.Constraints)
		if err != nil {
			return nil, false
		}
		var cands api.Resources
		for _, d := range left {
			if !volumeDiskMatches(pv, cs, d) {
				continue
			}
			if pv.Type == "mount" && !mountFits(pv, d.Scalar.Value) || pv.Type != "mount" && d.Scalar.Value < pv.Size {
				continue
			}
			cands = append(cands, d)
		}
		if len(cands) == 0 {
			return nil, false
		}
		sort.SliceStable(cands, func(i, j int) bool {
			if pv.Type == "mount" {
				return cands[i].Scalar.Value < cands[j].Scalar.Value // the smallest disk that fits
			}
			return cands[i].Scalar.Value > cands[j].Scalar.Value // the most room
		})
		take := cands[0]
		if pv.Type != "mount" {
			take.Scalar = &api.ScalarVal{Value: pv.Size}
		}
		out = append(out, take)
		left = left.Subtract(api.Resources{take})
	}
	return out, true
}

// diskDetails are the 422 details of path and mount volumes that no
// registered agent has a disk for (by kind, constraints and, for mount,
// size and maxSize), like hostPathDetails for hostPaths: with agents
// known, such an app could never be placed. Without agents (or without
// Config.AgentDisks) nothing is told and the app waits for offers.
func (a *Apps) diskDetails(app *App) []Detail {
	if a.cfg.AgentDisks == nil || app.Container == nil {
		return nil
	}
	var disks api.Resources
	var known bool
	var ds []Detail
	for i, v := range app.Container.Volumes {
		pv := v.Persistent
		if pv == nil || pv.Type != "path" && pv.Type != "mount" {
			continue
		}
		cs, err := compileVolumeConstraints(pv.Constraints)
		if err != nil {
			continue // validateResident names it
		}
		if disks == nil && !known {
			if disks, known = a.cfg.AgentDisks(); !known {
				return nil
			}
		}
		kind, fits := false, false
		for _, d := range disks {
			if volumeDiskMatches(pv, cs, d) {
				kind = true
				if pv.Type == "mount" && mountFits(pv, d.Scalar.Value) || pv.Type == "path" && d.Scalar.Value >= pv.Size {
					fits = true
				}
			}
		}
		p := fmt.Sprintf("/container/volumes/%d/persistent", i)
		switch {
		case !kind && len(pv.Constraints) > 0:
			ds = append(ds, Detail{Path: p + "/constraints", Errors: []string{
				fmt.Sprintf("no agent has a %s disk whose root meets these constraints (agents list their disks in --resources)", pv.Type)}})
		case !kind:
			ds = append(ds, Detail{Path: p + "/type", Errors: []string{
				fmt.Sprintf("no agent has a %s disk (agents list their disks in --resources)", pv.Type)}})
		case !fits:
			ds = append(ds, Detail{Path: p + "/size", Errors: []string{
				fmt.Sprintf("no agent's matching %s disk is large enough (size %g MiB%s)", pv.Type, pv.Size, maxSizeText(pv))}})
		}
	}
	return ds
}

func maxSizeText(pv *PersistentVolume) string {
	if pv.MaxSize == 0 {
		return ""
	}
	return fmt.Sprintf(", maxSize %g MiB", pv.MaxSize)
}
