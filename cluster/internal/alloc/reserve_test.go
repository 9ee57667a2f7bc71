package alloc

import (
	"errors"
	"testing"
	"time"

	"nodectl/cluster/api"
)

// TestReservedOfferedToRoleOnly: after an operator reserves part of an
// agent for "db", only the framework in "db" is offered it; the other one
// gets the unreserved rest. An offered reservation can be undone in the
// offer.
func TestReservedOfferedToRoleOnly(t *testing.T) {
	a := newAlloc(t)
	now := time.Unix(0, 0)
	mustOK(t, a.AddAgent(Agent{ID: "s1", Resources: res(t, "cpus:4;mem:1024")}, nil))
	plain := res(t, "cpus:1;mem:256")
	reserved := plain.Reserve("db", "ops", &api.Labels{Labels: []api.Label{{Key: "k", Value: "v"}}})
	mustOK(t, a.UpdateAvailable("s1", plain, reserved))
	if err := a.UpdateAvailable("s1", res(t, "cpus:9"), res(t, "cpus:9").Reserve("db", "", nil)); !errors.Is(err, ErrNotAllocated) {
		t.Fatalf("reserving more than is free: %v", err)
	}
	if err := a.UpdateAvailable("s1", res(t, "cpus:1"), res(t, "mem:1").Reserve("db", "", nil)); !errors.Is(err, ErrBadConversion) {
		t.Fatalf("amount-changing conversion: %v", err)
	}
	mustOK(t, a.AddFramework(Framework{ID: "web", Roles: []string{"web"}}))
	offers := a.Allocate(now)
	if len(offers) != 1 || len(offers[0].Resources.Reserved()) != 0 || offers[0].Resources.Scalar("cpus") != 3 {
		t.Fatalf("web got %+v", offers)
	}
	mustOK(t, a.AddFramework(Framework{ID: "db", Roles: []string{"db"}}))
	offers = a.Allocate(now)
	if len(offers) != 1 || offers[0].FrameworkID != "db" || !offers[0].Resources.Equal(reserved) {
		t.Fatalf("db got %+v", offers)
	}
	mustOK(t, a.UpdateAllocation("db", "s1", "db", reserved, plain))
	ar, _ := a.Agent("s1")
	if len(ar.Total.Reserved()) != 0 || len(ar.Offered.Reserved()) != 0 || ar.Offered.Scalar("cpus") != 4 {
		t.Fatalf("after unreserve in the offer: %+v", ar)
	}
}
