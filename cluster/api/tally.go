package api

import (
	"slices"
	"strings"
)

// Tally adds up resources for a summary without building a bag: the totals
// /state-summary reports are over every task of a framework (300,000 at the
// scale goal), and Sum's normalised bag compares every added resource with
// every entry by name, role, reservation and volume, which a summary never
// looks at. The zero value is an empty tally.
//
// t.Summary() is Sum(the added bags).Summary(): scalars summed in thousandths
// over roles, ranges united, set items united (sorted).
type Tally struct {
	entries []tallyEntry
}

type tallyEntry struct {
	name    string
	typ     ValueType
	millis  int64
	ranges  []Range
	merged  int // len(ranges) when last coalesced
	items   []string
	present bool // a non-empty value was added
}

// Add counts every resource of rs.
func (t *Tally) Add(rs Resources) {
	for i := range rs {
		t.add(&rs[i])
	}
}

func (t *Tally) entry(name string, typ ValueType) *tallyEntry {
	for i := range t.entries {
		if e := &t.entries[i]; e.name == name && e.typ == typ {
			return e
		}
	}
	t.entries = append(t.entries, tallyEntry{name: name, typ: typ})
	return &t.entries[len(t.entries)-1]
}

func (t *Tally) add(r *Resource) {
	switch r.Type {
	case Scalar:
		if m := r.millis(); m > 0 {
			e := t.entry(r.Name, Scalar)
			e.millis += m
			e.present = true
		}
	case Ranges:
		if r.Ranges != nil && len(r.Ranges.Range) > 0 {
			e := t.entry(r.Name, Ranges)
			e.ranges = append(e.ranges, r.Ranges.Range...)
			e.present = true
			if len(e.ranges) > 2*e.merged+64 { // amortised: a framework's ports over 10,000 agents
				e.ranges = coalesceInPlace(e.ranges)
				e.merged = len(e.ranges)
			}
		}
	case Set:
		if r.Set != nil && len(r.Set.Item) > 0 {
			e := t.entry(r.Name, Set)
			e.items = unionItems(e.items, r.Set.Item)
			e.present = true
		}
	}
}

// Merge adds what o counted.
func (t *Tally) Merge(o *Tally) {
	for i := range o.entries {
		oe := &o.entries[i]
		if !oe.present {
			continue
		}
		e := t.entry(oe.name, oe.typ)
		e.present = true
		switch oe.typ {
		case Scalar:
			e.millis += oe.millis
		case Ranges:
			e.ranges = append(e.ranges, oe.ranges...)
			if len(e.ranges) > 2*e.merged+64 {
				e.ranges = coalesceInPlace(e.ranges)
				e.merged = len(e.ranges)
			}
		case Set:
			e.items = unionItems(e.items, oe.items)
		}
	}
}

// Summary is the tally in the shape of Resources.Summary.
func (t *Tally) Summary() map[string]any {
	out := map[string]any{"cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0}
	for i := range t.entries {
		e := &t.entries[i]
		if !e.present {
			continue
		}
		switch e.typ {
		case Scalar:
			out[e.name] = fromMillis(e.millis)
		case Ranges:
			e.ranges = coalesceInPlace(e.ranges)
			e.merged = len(e.ranges)
			out[e.name] = formatRanges(e.ranges)
		case Set:
			out[e.name] = "{" + strings.Join(slices.Sorted(slices.Values(e.items)), ", ") + "}"
		}
	}
	return out
}
