package cluster

import (
	"testing"

	"nodectl/cluster/api"
)

func TestWithMinimums(t *testing.T) {
	parse := func(s string) api.Resources {
		t.Helper()
		rs, err := api.ParseResources(s)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	avail := parse("cpus:1;mem:256;disk:100")
	for _, tc := range []struct{ task, want string }{
		{"disk:10", "cpus:0.01;mem:32;disk:10"},
		{"cpus:0.001;mem:1;disk:1", "cpus:0.01;mem:32;disk:1"},
		{"cpus:0.5;mem:64", "cpus:0.5;mem:64"},
	} {
		got, err := withMinimums(parse(tc.task), avail)
		if err != nil {
			t.Fatalf("%s: %v", tc.task, err)
		}
		if !got.Equal(parse(tc.want)) {
			t.Errorf("%s: got %s, want %s", tc.task, got, tc.want)
		}
	}
	if _, err := withMinimums(parse("disk:1"), parse("cpus:1;mem:16;disk:100")); err == nil {
		t.Error("topped up from an offer without the memory")
	}
}
