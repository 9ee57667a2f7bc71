package apps

import (
	"bytes"
	"encoding/json"
)

// Marathon's defaults of a pod container's resources when the definition
// leaves them out (the Resources type of Marathon's RAML,
// docs/docs/rest-api/public/api/v2/types/resources.raml: cpus 1.0, mem
// 128.0, disk 0).
const (
	defaultPodCpus = 1.0
	defaultPodMem  = 128.0
)

// UnmarshalJSON decodes resources strictly and records which of cpus and
// mem were given, so an absent one gets Marathon's default while a given
// 0 is refused.
func (r *PodResources) UnmarshalJSON(b []byte) error {
	type plain PodResources
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		return err
	}
	*r = PodResources(p)
	_, r.hasCpus = keys["cpus"]
	_, r.hasMem = keys["mem"]
	return nil
}

// defaults gives a container's resources Marathon's defaults for what the
// definition left out (all of them when it has no "resources").
func (r *PodResources) defaults() {
	if !r.hasCpus && r.Cpus == 0 {
		r.Cpus = defaultPodCpus
	}
	if !r.hasMem && r.Mem == 0 {
		r.Mem = defaultPodMem
	}
	r.hasCpus, r.hasMem = true, true
}
