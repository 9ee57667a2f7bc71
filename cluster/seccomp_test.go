package cluster

import (
	"testing"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
)

func TestMayRunUnconfined(t *testing.T) {
	task := func(sc *api.SeccompInfo) api.TaskInfo {
		return api.TaskInfo{Container: &api.ContainerInfo{Type: "MESOS", LinuxInfo: &api.LinuxInfo{Seccomp: sc}}}
	}
	user, admin := auth.Principal{Name: "fw"}, auth.Principal{Name: "admin", Superuser: true}
	for _, tt := range []struct {
		name string
		p    auth.Principal
		ti   api.TaskInfo
		ok   bool
	}{
		{"no container", user, api.TaskInfo{}, true},
		{"named profile", user, task(&api.SeccompInfo{ProfileName: "p.json"}), true},
		{"unconfined by a user", user, task(&api.SeccompInfo{Unconfined: true}), false},
		{"unconfined by a superuser", admin, task(&api.SeccompInfo{Unconfined: true}), true},
	} {
		if err := mayRunUnconfined(tt.p, tt.ti); (err == nil) != tt.ok {
			t.Errorf("%s: %v, want ok %v", tt.name, err, tt.ok)
		}
	}
	bad := task(&api.SeccompInfo{ProfileName: "p.json", Unconfined: true})
	bad.Command = &api.CommandInfo{Value: "true"}
	if err := validateCommand(bad); err == nil {
		t.Error("profile_name with unconfined accepted")
	}
}
