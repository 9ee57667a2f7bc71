package cluster

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
)

// inverseEvents takes the framework's inverse offers and rescinds.
func (f *fwClient) inverseEvents() (offers []api.InverseOffer, rescinded []string) {
	for _, e := range f.events() {
		switch e.Type {
		case api.EventInverseOffers:
			offers = append(offers, e.InverseOffers.InverseOffers...)
		case api.EventRescindInverseOffer:
			rescinded = append(rescinded, e.RescindInverseOffer.InverseOfferID.Value)
		}
	}
	return offers, rescinded
}

func (h *harness) drainingStatuses(host string) []string {
	h.t.Helper()
	for _, d := range h.maintStatus().DrainingMachines {
		if d.ID.Hostname == host {
			var out []string
			for _, s := range d.Statuses {
				out = append(out, s.FrameworkID.Value+" "+s.Status)
			}
			return out
		}
	}
	h.t.Fatalf("%s is not draining", host)
	return nil
}

// A framework running tasks on a draining machine's agent gets an inverse
// offer with the unavailability (one with nothing there gets none); its
// answer shows in the status, and it is asked again once the answer's
// filter has passed. A schedule change rescinds outstanding inverse
// offers, and so does bringing the machine down.
func TestInverseOffers(t *testing.T) {
	h := newHarness(t)
	a1 := h.agent("a1", "cpus:2;mem:1024")
	h.agent("a2", "cpus:2;mem:1024")
	fw := h.subscribe(api.FrameworkInfo{Name: "fw"})
	fw.running(a1, "t1")
	idle := h.subscribe(api.FrameworkInfo{Name: "idle"}) // runs nothing on a1

	if code, body := h.serve("POST", "/maintenance/schedule", schedule(window(t0, "a1"))); code != 200 {
		t.Fatalf("schedule: %d %s", code, body)
	}
	h.m.allocate()
	ios, _ := fw.inverseEvents()
	if len(ios) != 1 || ios[0].AgentID.Value != a1 || ios[0].FrameworkID.Value != fw.id() || ios[0].Unavailability.Start.Nanoseconds != t0.UnixNano() {
		t.Fatalf("inverse offers %+v, want one for a1", ios)
	}
	if got, _ := idle.inverseEvents(); len(got) != 0 {
		t.Errorf("a framework with nothing on a1 got inverse offers %+v", got)
	}
	wantStrings(t, "statuses before an answer", h.drainingStatuses("a1"), []string{fw.id() + " UNKNOWN"})
	h.m.allocate()
	if again, _ := fw.inverseEvents(); len(again) != 0 {
		t.Errorf("inverse offered twice: %+v", again)
	}

	refuse := 10.0
	must(t, h.m.dispatch(fw.sub, api.Call{Type: api.CallDeclineInverseOffers, DeclineInverseOffers: &api.InverseOffersCall{
		InverseOfferIDs: []api.ID{ios[0].ID}, Filters: &api.Filters{RefuseSeconds: &refuse}}}))
	wantStrings(t, "statuses after a decline", h.drainingStatuses("a1"), []string{fw.id() + " DECLINE"})
	h.m.allocate()
	if again, _ := fw.inverseEvents(); len(again) != 0 {
		t.Errorf("inverse offered within the filter: %+v", again)
	}
	h.now = h.now.Add(11 * time.Second)
	h.m.allocate()
	ios, _ = fw.inverseEvents()
	if len(ios) != 1 {
		t.Fatalf("after the filter: %+v", ios)
	}
	must(t, h.m.dispatch(fw.sub, api.Call{Type: api.CallAcceptInverseOffers, AcceptInverseOffers: &api.InverseOffersCall{InverseOfferIDs: []api.ID{ios[0].ID}}}))
	wantStrings(t, "statuses after an accept", h.drainingStatuses("a1"), []string{fw.id() + " ACCEPT"})
	if err := h.m.dispatch(fw.sub, api.Call{Type: api.CallAcceptInverseOffers}); err == nil {
		t.Error("ACCEPT_INVERSE_OFFERS without its body accepted")
	}

	// A new unavailability: the outstanding inverse offer is rescinded and
	// a new one carries the new window.
	h.now = h.now.Add(6 * time.Second)
	h.m.allocate()
	ios, _ = fw.inverseEvents()
	if len(ios) != 1 {
		t.Fatalf("after the accept's filter: %+v", ios)
	}
	later := t0.Add(time.Hour)
	if code, body := h.serve("POST", "/maintenance/schedule", schedule(window(later, "a1"))); code != 200 {
		t.Fatalf("schedule: %d %s", code, body)
	}
	h.m.allocate()
	fresh, rescinded := fw.inverseEvents()
	wantStrings(t, "rescinded on a new window", rescinded, []string{ios[0].ID.Value})
	if len(fresh) != 1 || fresh[0].Unavailability.Start.Nanoseconds != later.UnixNano() {
		t.Errorf("inverse offers with the new window: %+v", fresh)
	}
	h.m.mu.Lock()
	listed := h.m.inverseOffersOfLocked(h.m.frameworks[fw.id()])
	h.m.mu.Unlock()
	if len(listed) != 1 || listed[0].ID != fresh[0].ID {
		t.Errorf("GET_FRAMEWORKS' inverse offers %+v", listed)
	}
	// GET_FRAMEWORKS carries them in protobuf too.
	req := httptest.NewRequest("POST", "/api/v1", strings.NewReader(`{"type":"GET_FRAMEWORKS"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/x-protobuf")
	rec := httptest.NewRecorder()
	h.m.routes().ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), fresh[0].ID.Value) {
		t.Errorf("GET_FRAMEWORKS in protobuf: %d %q", rec.Code, rec.Body)
	}

	// Down: rescinded; the down machine has no statuses.
	if code, body := h.serve("POST", "/machine/down", `[{"hostname":"a1"}]`); code != 200 {
		t.Fatalf("down: %d %s", code, body)
	}
	_, rescinded = fw.inverseEvents()
	wantStrings(t, "rescinded on down", rescinded, []string{fresh[0].ID.Value})
	if st := h.maintStatus(); len(st.DrainingMachines) != 0 || len(st.DownMachines) != 1 {
		t.Errorf("status after down %+v", st)
	}
}
