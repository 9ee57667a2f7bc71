package api

import "testing"

// The restart-on-boot policy is off unless the label says true; other
// values than true/false (any case) are errors; the last label wins.
func TestRestartOnBoot(t *testing.T) {
	l := func(kv ...string) *Labels {
		out := &Labels{}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Labels = append(out.Labels, Label{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		labels *Labels
		on     bool
		err    bool
	}{
		{"no labels", nil, false, false},
		{"other labels", l("a", "true"), false, false},
		{"true", l(LabelRestartOnBoot, "true"), true, false},
		{"TRUE", l(LabelRestartOnBoot, " TRUE "), true, false},
		{"false", l(LabelRestartOnBoot, "false"), false, false},
		{"empty", l(LabelRestartOnBoot, ""), false, true},
		{"yes", l(LabelRestartOnBoot, "yes"), false, true},
		{"last wins", l(LabelRestartOnBoot, "false", LabelRestartOnBoot, "true"), true, false},
	} {
		on, err := RestartOnBoot(tc.labels)
		if on != tc.on || (err != nil) != tc.err {
			t.Errorf("%s: %v %v, want %v (error %v)", tc.name, on, err, tc.on, tc.err)
		}
	}
}
