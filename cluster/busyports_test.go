package cluster

import (
	"testing"

	"nodectl/cluster/api"
)

// Ports an agent reports busy are rescinded from outstanding offers and
// left out of the next ones; once freed they are offered again.
func TestBusyPortsNotOffered(t *testing.T) {
	h := newHarness(t)
	ag := h.agent("a1", "cpus:2;mem:1024;ports:[31000-31002]")
	fw := h.subscribe(api.FrameworkInfo{Name: "f"})
	h.m.allocate()
	if os := fw.offers(); len(os) != 1 || !samePorts(os[0].Resources, "[31000-31002]") {
		t.Fatalf("first offers %v", os)
	}
	h.m.reportBusyPorts(ag, []api.Range{{Begin: 31000, End: 31000}})
	evs := fw.events()
	var rescinded, offered bool
	for _, e := range evs {
		switch e.Type {
		case api.EventRescind:
			rescinded = true
		case api.EventOffers:
			offered = true
			for _, o := range e.Offers.Offers {
				if !samePorts(o.Resources, "[31001-31002]") {
					t.Fatalf("offer after busy report has ports %s", o.Resources)
				}
			}
		}
	}
	if !rescinded {
		t.Fatalf("the offer holding busy port 31000 was not rescinded: %v", eventTypes(evs))
	}
	if !offered {
		h.m.allocate()
		if os := fw.offers(); len(os) != 1 || !samePorts(os[0].Resources, "[31001-31002]") {
			t.Fatalf("offers after busy report %v", os)
		}
	}
	// An unchanged report changes nothing.
	h.m.reportBusyPorts(ag, []api.Range{{Begin: 31000, End: 31000}})
	if evs := fw.events(); len(evs) != 0 {
		t.Fatalf("an unchanged report sent %v", eventTypes(evs))
	}
}

func samePorts(rs api.Resources, want string) bool {
	return api.Resources{api.RangesResource("ports", rs.RangesOf("ports")...)}.String() == "ports:"+want
}

func TestWithoutBusyPorts(t *testing.T) {
	total, err := api.ParseResources("cpus:1;ports:[31000-31005]")
	if err != nil {
		t.Fatal(err)
	}
	got := withoutBusyPorts(total, []api.Range{{Begin: 31002, End: 31003}, {Begin: 40000, End: 40000}})
	if !samePorts(got, "[31000-31001,31004-31005]") || got.Scalar("cpus") != 1 {
		t.Fatalf("withoutBusyPorts = %s", got)
	}
	if !holdsBusyPort(total, []api.Range{{Begin: 31005, End: 31010}}) || holdsBusyPort(total, []api.Range{{Begin: 31006, End: 31010}}) {
		t.Fatal("holdsBusyPort wrong at the range's edge")
	}
}
