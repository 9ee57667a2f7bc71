package api

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Reservation types (Mesos Resource.ReservationInfo.Type).
const (
	ReservationDynamic = "DYNAMIC"
	ReservationStatic  = "STATIC"
)

// Volume modes (Mesos Volume.Mode).
const (
	VolumeRW = "RW"
	VolumeRO = "RO"
)

// ReservationInfo is one entry of a resource's reservation stack, in the
// post-refinement JSON shape. The pre-refinement shape ("role" beside
// "reservation": {principal, labels}) uses the same struct with Type and
// Role empty.
type ReservationInfo struct {
	Type      string  `json:"type,omitempty"`
	Role      string  `json:"role,omitempty"`
	Principal string  `json:"principal,omitempty"`
	Labels    *Labels `json:"labels,omitempty"`
}

// DiskInfo is Mesos Resource.DiskInfo: what makes reserved disk a
// persistent volume.
type DiskInfo struct {
	Persistence *Persistence `json:"persistence,omitempty"`
	Volume      *DiskVolume  `json:"volume,omitempty"`
	Source      *DiskSource  `json:"source,omitempty"` // a PATH or MOUNT disk (disksource.go); nil: the root disk
}

// Persistence names a persistent volume; ID is unique per role per agent.
type Persistence struct {
	ID        string `json:"id"`
	Principal string `json:"principal,omitempty"`
}

// DiskVolume is where a persistent volume appears in a task's sandbox.
type DiskVolume struct {
	ContainerPath string `json:"container_path"`
	Mode          string `json:"mode,omitempty"`
}

// normReservation brings the two Mesos JSON shapes of a reservation to one:
// Reservations holds the stack (the last entry is the current one), Role is
// that entry's role, and Reservation mirrors it in the pre-refinement shape
// so that older clients can read it. Static reservations written in the
// text syntax ("cpus(web):1") carry neither and stay that way.
func (r *Resource) normReservation() {
	switch {
	case len(r.Reservations) > 0:
		top := r.Reservations[len(r.Reservations)-1]
		if top.Type == "" {
			top.Type = ReservationDynamic
		}
		r.Reservations = slices.Clone(r.Reservations)
		r.Reservations[len(r.Reservations)-1] = top
		r.Role = top.Role
		if top.Type == ReservationDynamic {
			r.Reservation = &ReservationInfo{Principal: top.Principal, Labels: top.Labels}
		} else {
			r.Reservation = nil
		}
	case r.Reservation != nil:
		res := *r.Reservation
		r.Reservation = &ReservationInfo{Principal: res.Principal, Labels: res.Labels}
		r.Reservations = []ReservationInfo{{Type: ReservationDynamic, Role: normRole(r.Role), Principal: res.Principal, Labels: res.Labels}}
	}
	if r.Disk != nil && r.Disk.Persistence == nil && r.Disk.Volume == nil && r.Disk.Source == nil {
		r.Disk = nil
	}
}

// Dynamic returns the current dynamic reservation of r, or nil when r is
// unreserved or statically reserved.
func (r Resource) Dynamic() *ReservationInfo {
	if len(r.Reservations) > 0 {
		top := r.Reservations[len(r.Reservations)-1]
		if top.Type == ReservationDynamic || top.Type == "" {
			return &top
		}
		return nil
	}
	if r.Reservation != nil {
		return &ReservationInfo{Type: ReservationDynamic, Role: normRole(r.Role), Principal: r.Reservation.Principal, Labels: r.Reservation.Labels}
	}
	return nil
}

// PersistenceID returns r's persistent volume id, or "".
func (r Resource) PersistenceID() string {
	if r.Disk == nil || r.Disk.Persistence == nil {
		return ""
	}
	return r.Disk.Persistence.ID
}

// Unreserved returns r as the plain unreserved resource it was made from:
// no role, no reservation, no volume (a PATH or MOUNT disk keeps its
// source: that is which disk it is).
func (r Resource) Unreserved() Resource {
	r.Role, r.Reservation, r.Reservations = "*", nil, nil
	return r.WithoutVolume()
}

// WithoutVolume returns r without its persistent volume info: the reserved
// disk a DESTROY gives back.
func (r Resource) WithoutVolume() Resource {
	if s := r.Source(); s != nil {
		r.Disk = &DiskInfo{Source: s}
	} else {
		r.Disk = nil
	}
	return r
}

// Label returns the value of a label of r's current dynamic reservation.
func (r Resource) Label(key string) string {
	d := r.Dynamic()
	if d == nil || d.Labels == nil {
		return ""
	}
	for _, l := range d.Labels.Labels {
		if l.Key == key {
			return l.Value
		}
	}
	return ""
}

// Reserve returns rs reserved dynamically for role by principal with
// labels (nil: none).
func (rs Resources) Reserve(role, principal string, labels *Labels) Resources {
	out := make(Resources, 0, len(rs))
	for _, r := range rs {
		r = r.Unreserved()
		r.Reservations = []ReservationInfo{{Type: ReservationDynamic, Role: role, Principal: principal, Labels: labels}}
		r.normReservation()
		out = append(out, r)
	}
	return out.Add(nil)
}

// sameReservation compares what Mesos compares to merge reservations: the
// whole stack (role, principal and labels of each entry).
func sameReservation(a, b Resource) bool {
	da, db := a.Dynamic(), b.Dynamic()
	if (da == nil) != (db == nil) {
		return false
	}
	if da == nil {
		return true
	}
	return da.Role == db.Role && da.Principal == db.Principal && labelsEqual(da.Labels, db.Labels)
}

func labelsEqual(a, b *Labels) bool {
	var la, lb []Label
	if a != nil {
		la = a.Labels
	}
	if b != nil {
		lb = b.Labels
	}
	return slices.Equal(la, lb)
}

func sameDisk(a, b Resource) bool {
	if a.PersistenceID() != b.PersistenceID() || !sameSource(a.Source(), b.Source()) {
		return false
	}
	var pa, pb DiskVolume
	if a.Disk != nil && a.Disk.Volume != nil {
		pa = *a.Disk.Volume
	}
	if b.Disk != nil && b.Disk.Volume != nil {
		pb = *b.Disk.Volume
	}
	return pa.ContainerPath == pb.ContainerPath && normMode(pa.Mode) == normMode(pb.Mode)
}

func normMode(m string) string {
	if m == "" {
		return VolumeRW
	}
	return m
}

// validateReservation checks the reservation and disk parts of r.
func (r Resource) validateReservation() error {
	if d := r.Dynamic(); d != nil {
		if d.Type != ReservationDynamic && d.Type != ReservationStatic && d.Type != "" {
			return fmt.Errorf("%w: %s: unknown reservation type %q", ErrBadResources, r.Name, d.Type)
		}
		if normRole(d.Role) == "*" {
			return fmt.Errorf("%w: %s: a dynamic reservation needs a role other than \"*\"", ErrBadResources, r.Name)
		}
	}
	if r.Disk == nil {
		return nil
	}
	if r.Name != "disk" {
		return fmt.Errorf("%w: %s: only disk resources have disk info", ErrBadResources, r.Name)
	}
	if s := r.Disk.Source; s != nil {
		if err := s.validate(); err != nil {
			return err
		}
	}
	if p := r.Disk.Persistence; p != nil {
		if err := ValidateVolumeID(p.ID); err != nil {
			return err
		}
		if normRole(r.Role) == "*" {
			return fmt.Errorf("%w: persistent volume %s: needs reserved disk", ErrBadResources, p.ID)
		}
		if r.Disk.Volume == nil {
			return fmt.Errorf("%w: persistent volume %s: no volume (container_path)", ErrBadResources, p.ID)
		}
	}
	if v := r.Disk.Volume; v != nil {
		if err := ValidateContainerPath(v.ContainerPath); err != nil {
			return err
		}
		if m := normMode(v.Mode); m != VolumeRW && m != VolumeRO {
			return fmt.Errorf("%w: volume mode %q: want RW or RO", ErrBadResources, v.Mode)
		}
	}
	return nil
}

// ValidateVolumeID checks a persistence id: it names a directory on the
// agent, so it must be one safe path component.
func ValidateVolumeID(id string) error {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\x00") || len(id) > 255 {
		return fmt.Errorf("%w: invalid persistence id %q", ErrBadResources, id)
	}
	return nil
}

// ValidateContainerPath checks a persistent volume's container path: a
// relative path inside the sandbox that does not climb out of it.
func ValidateContainerPath(p string) error {
	if p == "" || path.IsAbs(p) || strings.Contains(p, "\x00") {
		return fmt.Errorf("%w: container_path %q must be a relative path", ErrBadResources, p)
	}
	if c := path.Clean(p); c == ".." || strings.HasPrefix(c, "../") || c == "." {
		return fmt.Errorf("%w: container_path %q leaves the sandbox", ErrBadResources, p)
	}
	return nil
}

// Volumes returns the persistent volumes in rs.
func (rs Resources) Volumes() Resources {
	var out Resources
	for _, r := range rs {
		if r.PersistenceID() != "" {
			out = append(out, r)
		}
	}
	return out
}

// Reserved returns the dynamically reserved resources of rs (volumes
// included).
func (rs Resources) Reserved() Resources {
	var out Resources
	for _, r := range rs {
		if r.Dynamic() != nil {
			out = append(out, r)
		}
	}
	return out
}
