package runtime

import "testing"

// TestHealthResults: a task with several checks reports each check's
// latest result (a failing one with its cause) and names the first
// failing check; a single check reports Healthy alone.
func TestHealthResults(t *testing.T) {
	yes, no := true, false
	h := &taskHealth{latest: []*bool{&yes, &no, nil}, causes: []string{"", "connection refused", ""}, kinds: []string{"HTTP", "TCP", "COMMAND"}}
	r := h.resultsLocked()
	if len(r) != 3 || *r[0].Healthy != true || r[0].Message != "" || *r[1].Healthy != false || r[1].Message != "connection refused" || r[2].Healthy != nil {
		t.Fatalf("results %+v", r)
	}
	if got, want := h.failingLocked(), "health check 1 (TCP) failed: connection refused"; got != want {
		t.Errorf("failing %q, want %q", got, want)
	}
	if r := (&taskHealth{latest: []*bool{&no}, causes: []string{"x"}, kinds: []string{"TCP"}}).resultsLocked(); r != nil {
		t.Errorf("a single check's results %+v, want none", r)
	}
}
