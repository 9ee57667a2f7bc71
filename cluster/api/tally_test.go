package api

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// TestTallySummaryIsSumSummary: a tally of any bags (or two tallies of
// them merged) summarises as the Sum of those bags does — scalars over roles and reservations, ranges united
// across bags, set items united, zero and negative values left out.
func TestTallySummaryIsSumSummary(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 20))
	roles := []string{"", "*", "web", "db"}
	resource := func() Resource {
		role := roles[rnd.IntN(len(roles))]
		switch rnd.IntN(6) {
		case 0, 1:
			name := []string{"cpus", "mem", "disk", "gpus", "foo"}[rnd.IntN(5)]
			return Resource{Name: name, Type: Scalar, Role: role, Scalar: &ScalarVal{Value: float64(rnd.IntN(4000)-200) / 1000}}
		case 2:
			return Resource{Name: "disk", Type: Scalar, Role: "db", Scalar: &ScalarVal{Value: 0.5},
				Reservations: []ReservationInfo{{Type: "DYNAMIC", Role: "db"}}}
		case 3, 4:
			var rg []Range
			for range rnd.IntN(3) {
				b := uint64(31000 + rnd.IntN(2000))
				rg = append(rg, Range{Begin: b, End: b + uint64(rnd.IntN(20))})
			}
			return Resource{Name: "ports", Type: Ranges, Role: role, Ranges: &RangesVal{Range: rg}}
		default:
			var items []string
			for range rnd.IntN(3) {
				items = append(items, []string{"a", "b", "c", "d"}[rnd.IntN(4)])
			}
			return Resource{Name: "zones", Type: Set, Role: role, Set: &SetVal{Item: items}}
		}
	}
	for n := range 300 {
		bags := make([]Resources, n%40)
		for i := range bags {
			for range rnd.IntN(4) {
				bags[i] = append(bags[i], resource())
			}
		}
		var tl Tally
		for _, b := range bags {
			tl.Add(b)
		}
		want := Sum(slices.Values(bags)).Summary()
		if got := tl.Summary(); !reflect.DeepEqual(got, want) {
			t.Fatalf("bags %v:\n tally %v\n sum   %v", bags, got, want)
		}
		var a, b, merged Tally // the same bags, tallied in two parts
		for i, bag := range bags {
			if i%2 == 0 {
				a.Add(bag)
			} else {
				b.Add(bag)
			}
		}
		merged.Merge(&a)
		merged.Merge(&b)
		if got := merged.Summary(); !reflect.DeepEqual(got, want) {
			t.Fatalf("bags %v:\n merged %v\n sum    %v", bags, got, want)
		}
	}
}

// TestTallyKeepsRangesBounded: a framework's ports on 10,000 agents (the
// same few ports on each) stay a few ranges, not 10,000 of them.
func TestTallyKeepsRangesBounded(t *testing.T) {
	var tl Tally
	for range 10000 {
		tl.Add(Resources{{Name: "ports", Type: Ranges, Ranges: &RangesVal{Range: []Range{{31000, 31004}, {31010, 31010}}}}})
	}
	if n := len(tl.entries[0].ranges); n > 2*2+64+2 {
		t.Fatalf("%d ranges kept", n)
	}
	if got := tl.Summary()["ports"]; got != "[31000-31004, 31010-31010]" {
		t.Fatalf("ports %v", got)
	}
}
