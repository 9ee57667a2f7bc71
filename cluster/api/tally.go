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

// tallyEntry is one name and type's total; an entry exists only once a
// non-empty value of it was added.
type tallyEntry struct {
	name   string
	typ    ValueType
	millis int64
	ranges []Range
	merged int // len(ranges) when last coalesced
	items  []string
}

// Add counts every resource of rs.
func (t *Tally) Add(rs Resources) {
	for i := range rs {
		switch r := &rs[i]; r.Type {
		case Scalar:
			if m := r.millis(); m > 0 {
				t.put(r.Name, Scalar, m, nil, nil)
			}
		case Ranges:
			if r.Ranges != nil && len(r.Ranges.Range) > 0 {
				t.put(r.Name, Ranges, 0, r.Ranges.Range, nil)
			}
		case Set:
			if r.Set != nil && len(r.Set.Item) > 0 {
				t.put(r.Name, Set, 0, nil, r.Set.Item)
			}
		}
	}
}

// Merge adds what o counted.
func (t *Tally) Merge(o *Tally) {
	for i := range o.entries {
		e := &o.entries[i]
		t.put(e.name, e.typ, e.millis, e.ranges, e.items)
	}
}

// put adds a non-empty value (of its type's field) to name's entry.
func (t *Tally) put(name string, typ ValueType, millis int64, ranges []Range, items []string) {
	var e *tallyEntry
	for i := range t.entries {
		if t.entries[i].name == name && t.entries[i].typ == typ {
			e = &t.entries[i]
			break
		}
	}
	if e == nil {
		t.entries = append(t.entries, tallyEntry{name: name, typ: typ})
		e = &t.entries[len(t.entries)-1]
	}
	e.millis += millis
	e.items = unionItems(e.items, items)
	if len(ranges) > 0 {
		e.ranges = append(e.ranges, ranges...)
		if len(e.ranges) > 2*e.merged+64 { // amortised: a framework's ports over 10,000 agents
			e.ranges = coalesceInPlace(e.ranges)
			e.merged = len(e.ranges)
		}
	}
}

// Summary is the tally in the shape of Resources.Summary.
func (t *Tally) Summary() map[string]any {
	out := map[string]any{"cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0}
	for i := range t.entries {
		switch e := &t.entries[i]; e.typ {
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
