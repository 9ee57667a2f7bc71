package node

import (
	"strings"
	"testing"

	"nodectl/cluster"
	"nodectl/cluster/api"
)

func TestParseWeights(t *testing.T) {
	t.Parallel()
	got, err := cluster.ParseWeights("a=2, b/c=0.5,")
	if err != nil || len(got) != 2 || got["a"] != 2 || got["b/c"] != 0.5 {
		t.Fatalf("ParseWeights = %v, %v", got, err)
	}
	for _, bad := range []string{"a", "a=0", "a=-1", "=2", "a=x"} {
		if _, err := cluster.ParseWeights(bad); err == nil {
			t.Errorf("ParseWeights(%q) accepted", bad)
		}
	}
	if err := cluster.ValidateRolesConfig(cluster.RolesConfig{Whitelist: []string{"a"}, Weights: map[string]float64{"b": 2}}); err == nil || !strings.Contains(err.Error(), "not a role of --roles") {
		t.Errorf("weight outside --roles: %v", err)
	}
}

func TestWithDefaultRole(t *testing.T) {
	t.Parallel()
	rs, err := api.ParseResources("cpus:2;mem:1024;disk(web):10;ports:[31000-31001]")
	if err != nil {
		t.Fatal(err)
	}
	if got := withDefaultRole(rs, "*"); got.String() != rs.String() {
		t.Errorf("default role * changed %s to %s", rs, got)
	}
	if got := withDefaultRole(rs, "ops").String(); got != "cpus(ops):2;mem(ops):1024;disk(web):10;ports(ops):[31000-31001]" {
		t.Errorf("default role ops: %s", got)
	}
}

// TestRoleFlags: Mesos' spellings and MESOS_* variables reach the config;
// bad values and a --roles without the apps framework's role exit 2.
func TestRoleFlags(t *testing.T) {
	clearMesosEnv(t)
	cfg, err := parse(t, map[string]string{"MESOS_WEIGHTS": "a=2,marathon=1.5"}, "--work-dir", t.TempDir(), "--resources", "cpus:1;mem:64",
		"--roles", "a,marathon", "--whitelist", "/etc/agents", "--default_role", "ops")
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Roles
	if r.Master.Weights["a"] != 2 || r.Master.Weights["marathon"] != 1.5 || strings.Join(r.Master.Whitelist, ",") != "a,marathon" ||
		r.Master.AgentWhitelist != "/etc/agents" || r.DefaultRole != "ops" {
		t.Errorf("role flags: %+v", r)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--weights", "a=0"}, "weights must be positive"},
		{[]string{"--roles", "a"}, "--mesos-role"},
		{[]string{"--roles", "a,marathon", "--weights", "b=2"}, "b is not a role of --roles"},
		{[]string{"--default_role", "-bad"}, "--default_role"},
	} {
		_, err := parse(t, map[string]string{"MESOS_WEIGHTS": ""}, append(c.args, "--work-dir", t.TempDir(), "--resources", "cpus:1;mem:64")...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error containing %q", c.args, err, c.want)
		}
	}
}
