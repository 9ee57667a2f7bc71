package mesospb

import (
	"encoding/json"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"nodectl/cluster/api"
)

// The maintenance parts of the scheduler API in protobuf: offers with an
// unavailability, inverse offers and their answers, round trips and
// golden against mesos-go.
func TestMaintenanceWire(t *testing.T) {
	refuse := 7.0
	u := api.Unavailability{Start: &api.TimeInfo{Nanoseconds: 1 << 60}, Duration: &api.DurationInfo{Nanoseconds: 3600e9}}
	for _, c := range []api.Call{
		{Type: api.CallAcceptInverseOffers, FrameworkID: &api.ID{Value: "f"}, AcceptInverseOffers: &api.InverseOffersCall{
			InverseOfferIDs: []api.ID{{Value: "io1"}}, Filters: &api.Filters{RefuseSeconds: &refuse}}},
		{Type: api.CallDeclineInverseOffers, FrameworkID: &api.ID{Value: "f"}, DeclineInverseOffers: &api.InverseOffersCall{
			InverseOfferIDs: []api.ID{{Value: "io1"}, {Value: "io2"}}}},
	} {
		t.Run(c.Type, func(t *testing.T) { roundTrip(t, SchedulerCall, c) })
	}
	offers := api.Event{Type: api.EventOffers, Offers: &api.OffersEvent{Offers: []api.Offer{{ID: api.ID{Value: "o"}, FrameworkID: api.ID{Value: "f"},
		AgentID: api.ID{Value: "a"}, Hostname: "h", Resources: res(), Unavailability: &u}}}}
	inverse := api.Event{Type: api.EventInverseOffers, InverseOffers: &api.InverseOffersEvent{InverseOffers: []api.InverseOffer{{
		ID: api.ID{Value: "io"}, FrameworkID: api.ID{Value: "f"}, AgentID: api.ID{Value: "a"}, Unavailability: u}}}}
	rescind := api.Event{Type: api.EventRescindInverseOffer, RescindInverseOffer: &api.RescindInverseOfferEvent{InverseOfferID: api.ID{Value: "io"}}}
	for _, e := range []api.Event{offers, inverse, rescind} {
		t.Run(e.Type, func(t *testing.T) { roundTrip(t, SchedulerEvent, e) })
	}

	// mesos-go decodes what nodectl sends ...
	decode := func(e api.Event) *scheduler.Event {
		t.Helper()
		js, _ := json.Marshal(e)
		pb, err := FromJSON(SchedulerEvent, js)
		if err != nil {
			t.Fatalf("FromJSON %s: %v", js, err)
		}
		var ev scheduler.Event
		if err := ev.Unmarshal(pb); err != nil {
			t.Fatalf("mesos-go cannot decode nodectl's %s: %v", e.Type, err)
		}
		return &ev
	}
	if o := decode(offers).GetOffers().Offers[0]; o.GetUnavailability().Start.Nanoseconds != 1<<60 || o.GetUnavailability().GetDuration().Nanoseconds != 3600e9 {
		t.Errorf("mesos-go decoded offer %+v", o)
	}
	ev := decode(inverse)
	if io := ev.GetInverseOffers().InverseOffers; ev.Type != scheduler.Event_INVERSE_OFFERS || len(io) != 1 || io[0].OfferID.Value != "io" ||
		io[0].GetAgentID().GetValue() != "a" || io[0].Unavailability.Start.Nanoseconds != 1<<60 {
		t.Errorf("mesos-go decoded %+v", ev)
	}
	if ev := decode(rescind); ev.Type != scheduler.Event_RESCIND_INVERSE_OFFER || ev.GetRescindInverseOffer().InverseOfferID.Value != "io" {
		t.Errorf("mesos-go decoded %+v", ev)
	}
	// ... and nodectl reads what mesos-go sends.
	call := &scheduler.Call{Type: scheduler.Call_DECLINE_INVERSE_OFFERS, FrameworkID: &mesos.FrameworkID{Value: "f"},
		DeclineInverseOffers: &scheduler.Call_DeclineInverseOffers{InverseOfferIDs: []mesos.OfferID{{Value: "io"}}, Filters: &mesos.Filters{RefuseSeconds: &refuse}}}
	pb, err := call.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ToJSON(SchedulerCall, pb)
	if err != nil {
		t.Fatal(err)
	}
	var back api.Call
	if err := json.Unmarshal(got, &back); err != nil || back.Type != api.CallDeclineInverseOffers || back.DeclineInverseOffers == nil ||
		back.DeclineInverseOffers.InverseOfferIDs[0].Value != "io" || *back.DeclineInverseOffers.Filters.RefuseSeconds != refuse {
		t.Errorf("mesos-go's DECLINE_INVERSE_OFFERS read as %s (%v)", got, err)
	}
}
