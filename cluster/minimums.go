package cluster

import (
	"fmt"

	"nodectl/cluster/api"
)

// withMinimums returns a task's resources with its cpus and mem topped up
// to Mesos' minimums (api.MinCPUs, api.MinMemMB) out of avail, the offers'
// resources left in one role: the task is then counted, offered around and
// limited at least at those, never as free. Mesos' allocator likewise
// never offers less (src/master/allocator/mesos/hierarchical.cpp,
// allocatable()). It fails when avail lacks the top-up.
func withMinimums(rs, avail api.Resources) (api.Resources, error) {
	out := rs
	for _, m := range []struct {
		name string
		min  float64
	}{{"cpus", api.MinCPUs}, {"mem", api.MinMemMB}} {
		need := m.min - rs.Scalar(m.name)
		if need <= 1e-9 {
			continue
		}
		for _, r := range avail {
			if need <= 1e-9 {
				break
			}
			if r.Name != m.name || r.Scalar == nil || r.Disk != nil || r.Scalar.Value <= 0 {
				continue
			}
			take := r
			take.Scalar = &api.ScalarVal{Value: min(need, r.Scalar.Value)}
			out = out.Add(api.Resources{take})
			need -= take.Scalar.Value
		}
		if need > 1e-9 {
			return rs, fmt.Errorf("task uses less %s (%g) than the minimum (%g) and the offers have too little left to make it up",
				m.name, rs.Scalar(m.name), m.min)
		}
	}
	return out, nil
}
