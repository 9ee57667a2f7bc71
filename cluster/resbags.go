package cluster

import (
	"slices"
	"strconv"
	"strings"

	"nodectl/cluster/api"
)

// Tasks with the same resources share one bag. A framework launches many
// tasks of the same size (an app's instances, a job's executors), and a
// leader of 300,000 tasks held a bag of its own for each: ~300 bytes a
// task, ~90 MB (make bench-scale, a heap profile). Only bags of unreserved
// scalars are shared (cpus, mem, disk, gpus: what their key below says
// whole); ports and reserved resources or volumes differ from task to task
// and are kept as they are. A shared bag is never changed: the master
// treats a task's resources as a value (api.Resources' operations return
// new bags), and its capacity is its length, so an append copies it.

// maxSharedBags bounds the distinct bags shared; beyond it a task keeps
// its own (the table is never emptied: at most ~1 MB).
const maxSharedBags = 4096

// resourceBags is the leader's table of shared bags, under Master.mu.
type resourceBags struct {
	byKey map[string]api.Resources
}

// share returns the shared bag equal to rs, rs itself when it is not one
// to share.
func (b *resourceBags) share(rs api.Resources) api.Resources {
	key, ok := scalarBagKey(rs)
	if !ok {
		return rs
	}
	if s, ok := b.byKey[key]; ok {
		return s
	}
	if len(b.byKey) >= maxSharedBags {
		return rs
	}
	if b.byKey == nil {
		b.byKey = map[string]api.Resources{}
	}
	s := slices.Clip(rs)
	b.byKey[key] = s
	return s
}

// scalarBagKey is a key that two bags of unreserved scalars have in
// common only when they are equal (every field of each api.Resource:
// name, role and value; type scalar, the others unset); ok is false for
// any other bag.
func scalarBagKey(rs api.Resources) (key string, ok bool) {
	if len(rs) == 0 {
		return "", false
	}
	var sb strings.Builder
	for _, r := range rs {
		if r.Type != api.Scalar || r.Scalar == nil || r.Ranges != nil || r.Set != nil || r.Reservation != nil || r.Reservations != nil || r.Disk != nil {
			return "", false
		}
		sb.WriteString(r.Name)
		sb.WriteByte(0)
		sb.WriteString(r.Role)
		sb.WriteByte(0)
		sb.WriteString(strconv.FormatFloat(r.Scalar.Value, 'g', -1, 64))
		sb.WriteByte(0)
	}
	return sb.String(), true
}
