package cluster

import (
	"reflect"
	"slices"
	"testing"

	"nodectl/cluster/api"
)

// TestTasksShareResourceBags: tasks launched with equal resources of
// unreserved scalars share one bag (one backing array, capacity its
// length), tasks with other values or with ports keep their own, and a
// task recovered by a new leader shares again; what the master does with
// a shared bag leaves it as it was.
func TestTasksShareResourceBags(t *testing.T) {
	h := newHarness(t)
	ag := h.agent("a1", "cpus:8;mem:4096;ports:[31000-31099]")
	fw := h.subscribe(api.FrameworkInfo{})
	fw.launch(fw.offer(), mkTask("a", "cpus:0.5;mem:64"), mkTask("b", "cpus:0.5;mem:64"), mkTask("c", "cpus:0.25;mem:64"),
		mkTask("p", "cpus:0.5;mem:64;ports:[31000-31000]"))
	res := func(id string) api.Resources {
		h.m.mu.Lock()
		defer h.m.mu.Unlock()
		return h.m.frameworks[fw.id()].tasks[id].info.Resources
	}
	shared := func(x, y api.Resources) bool { return len(x) > 0 && len(y) > 0 && &x[0] == &y[0] }
	if !shared(res("a"), res("b")) {
		t.Errorf("tasks a and b (cpus:0.5;mem:64) keep a bag each")
	}
	if cap(res("a")) != len(res("a")) {
		t.Errorf("shared bag: len %d cap %d", len(res("a")), cap(res("a")))
	}
	if shared(res("a"), res("c")) || shared(res("a"), res("p")) {
		t.Errorf("bags shared across other values, or with ports")
	}
	if got := res("p").String(); got != "cpus:0.5;mem:64;ports:[31000-31000]" {
		t.Errorf("task p's resources %s", got)
	}
	if got := res("c").String(); got != "cpus:0.25;mem:64" {
		t.Errorf("task c's resources %s", got)
	}
	before := res("a").String()
	_ = res("a").Subtract(mustRes(t, "cpus:0.5"))
	_ = append(res("a"), api.ScalarResource("gpus", 1))
	if after := res("a").String(); after != before || res("b").String() != before {
		t.Errorf("a shared bag changed: %s → %s", before, after)
	}
	h.messages(ag)

	h.restart()
	if !shared(res("a"), res("b")) || res("a").String() != before {
		t.Errorf("recovered tasks a and b: %s, %s, not one bag", res("a"), res("b"))
	}
}

// TestScalarBagKeyCoversResource: the shared bags' key (scalarBagKey)
// says a bag whole only while api.Resource has the fields it was written
// for: a field added to api.Resource fails this until the key knows it.
func TestScalarBagKeyCoversResource(t *testing.T) {
	var names []string
	for f := range reflect.TypeFor[api.Resource]().Fields() {
		names = append(names, f.Name)
	}
	want := []string{"Name", "Type", "Scalar", "Ranges", "Set", "Role", "Reservation", "Reservations", "Disk"}
	if !slices.Equal(names, want) {
		t.Fatalf("api.Resource has fields %v; scalarBagKey was written for %v", names, want)
	}
	k1, ok1 := scalarBagKey(mustRes(t, "cpus:0.1;mem:32"))
	k2, ok2 := scalarBagKey(mustRes(t, "cpus:0.1;mem:32.001"))
	k3, ok3 := scalarBagKey(api.Resources{{Name: "cpus", Type: api.Scalar, Scalar: &api.ScalarVal{Value: 0.1}, Role: "web"}, {Name: "mem", Type: api.Scalar, Scalar: &api.ScalarVal{Value: 32}}})
	if !ok1 || !ok2 || !ok3 || k1 == k2 || k1 == k3 {
		t.Errorf("keys %q %q %q (%v %v %v): want three keys, all different", k1, k2, k3, ok1, ok2, ok3)
	}
	if _, ok := scalarBagKey(mustRes(t, "cpus:1;ports:[1-2]")); ok {
		t.Errorf("a bag with ports has a key")
	}
}
