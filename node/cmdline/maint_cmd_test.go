package cmdline

import (
	"testing"

	"nodectl/cluster/api"
)

func TestParseMachine(t *testing.T) {
	for arg, want := range map[string]api.MachineID{
		"host-a":            {Hostname: "host-a"},
		"10.0.0.1":          {IP: "10.0.0.1"},
		"host-a,10.0.0.1":   {Hostname: "host-a", IP: "10.0.0.1"},
		" host-a,10.0.0.1 ": {Hostname: "host-a", IP: "10.0.0.1"},
	} {
		if got, err := parseMachine(arg); err != nil || got != want {
			t.Errorf("parseMachine(%q) = %+v, %v; want %+v", arg, got, err, want)
		}
	}
	for _, bad := range []string{"", ",", "host-a,nope"} {
		if _, err := parseMachine(bad); err == nil {
			t.Errorf("parseMachine(%q) accepted", bad)
		}
	}
}
