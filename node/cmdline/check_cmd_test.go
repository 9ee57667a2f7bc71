package cmdline

import (
	"strings"
	"testing"

	"nodectl/cluster/api"
)

func TestPluginRange(t *testing.T) {
	for _, c := range []struct {
		spec   string
		alerts []float64
		quiet  []float64
	}{
		{"10", []float64{-1, 11}, []float64{0, 5, 10}},
		{"10:", []float64{9, -5}, []float64{10, 1e9}},
		{"~:10", []float64{11}, []float64{-1e9, 10}},
		{"10:20", []float64{9, 21}, []float64{10, 15, 20}},
		{"@10:20", []float64{10, 15, 20}, []float64{9, 21}},
		{"2:", []float64{0, 1}, []float64{2, 3}},
	} {
		r, err := parsePluginRange(c.spec)
		if err != nil {
			t.Fatalf("%s: %v", c.spec, err)
		}
		for _, v := range c.alerts {
			if !r.alerts(v) {
				t.Errorf("%s: %v does not alert", c.spec, v)
			}
		}
		for _, v := range c.quiet {
			if r.alerts(v) {
				t.Errorf("%s: %v alerts", c.spec, v)
			}
		}
	}
	for _, bad := range []string{"", "x", "5:1", "1:y", "@"} {
		if _, err := parsePluginRange(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestEvaluateCheck(t *testing.T) {
	rng := func(s string) *pluginRange {
		r, err := parsePluginRange(s)
		if err != nil {
			t.Fatal(err)
		}
		return &r
	}
	healthy := api.Quorum{Voters: 3, Quorum: 2, HealthyVoters: 3, Healthy: true, DBQuota: 1000, Members: []api.Member{{DBSize: 100}, {DBSize: 300}}}
	st := checkState{Leader: "master@127.0.0.1:5050", ActivatedSlaves: 3, Masters: healthy, Frameworks: []checkFwJSON{{Name: "marathon", Active: true}, {Name: "gone"}}}
	for _, c := range []struct {
		name string
		st   checkState
		o    checkOptions
		code int
		in   string
	}{
		{"all fine", st, checkOptions{warn: rng("4:"), crit: rng("2:"), framework: "marathon", quorum: true, diskHeadroom: 20}, checkWarning, "3 agents active (warning 4:)"},
		{"ok", st, checkOptions{warn: rng("3:"), crit: rng("2:"), framework: "marathon", quorum: true, diskHeadroom: 20}, checkOK, "framework marathon registered"},
		{"too few agents", st, checkOptions{crit: rng("5:")}, checkCritical, "3 agents active (critical 5:)"},
		{"no framework", st, checkOptions{framework: "chronos"}, checkCritical, "framework chronos not registered"},
		{"disconnected framework", st, checkOptions{framework: "gone"}, checkCritical, "framework gone disconnected"},
		{"voter down", func() checkState { s := st; s.Masters.HealthyVoters = 2; return s }(), checkOptions{quorum: true}, checkWarning, "quorum 2/3"},
		{"quorum lost", func() checkState { s := st; s.Masters.HealthyVoters, s.Masters.Healthy = 1, false; return s }(), checkOptions{quorum: true}, checkCritical, "quorum 1/3"},
		{"etcd db filling", st, checkOptions{diskHeadroom: 80}, checkWarning, "etcd database 70% of quota free"},
		{"etcd db full", func() checkState { s := st; s.Masters.Members = []api.Member{{DBSize: 950}}; return s }(), checkOptions{diskHeadroom: 20}, checkCritical, "etcd database 5% of quota free"},
		{"alarm", func() checkState { s := st; s.Masters.Alarms = []string{"NOSPACE"}; return s }(), checkOptions{}, checkCritical, "etcd alarm NOSPACE"},
	} {
		r := evaluateCheck(c.st, c.o)
		line := r.line()
		if r.code != c.code || !strings.Contains(line, c.in) || !strings.HasPrefix(line, "NODECTL "+checkNames[c.code]+" - ") {
			t.Errorf("%s: %d %q, want %d containing %q", c.name, r.code, line, c.code, c.in)
		}
		if !strings.Contains(line, " | agents=3;") {
			t.Errorf("%s: no agents perfdata in %q", c.name, line)
		}
	}
	if got := evaluateCheck(st, checkOptions{warn: rng("3:"), crit: rng("2:")}).line(); !strings.Contains(got, "agents=3;3:;2:;0;") {
		t.Errorf("perfdata thresholds: %q", got)
	}
}
