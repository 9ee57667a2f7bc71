package apps

import (
	"strings"
	"testing"
)

func TestHostPathDetails(t *testing.T) {
	allowed := func(p string) (bool, bool) { return strings.HasPrefix(p, "/data/"), true }
	a := &Apps{cfg: Config{HostPathAllowed: allowed}}
	app := &App{Container: &Container{Type: "MESOS", Volumes: []Volume{
		{ContainerPath: "/ok", HostPath: "/data/x", Mode: "RW"},
		{ContainerPath: "/h", HostPath: "/", Mode: "RW"},
		{ContainerPath: "data", Mode: "RW", Persistent: &PersistentVolume{Size: 1}},
	}}}
	ds := a.hostPathDetails(app)
	if len(ds) != 1 || ds[0].Path != "/container/volumes/1/hostPath" || !strings.Contains(ds[0].Errors[0], "--allowed-host-paths") {
		t.Fatalf("details %+v", ds)
	}
	unknown := &Apps{cfg: Config{HostPathAllowed: func(string) (bool, bool) { return false, false }}}
	if ds := unknown.hostPathDetails(app); len(ds) != 0 {
		t.Fatalf("refused without any agent to tell: %+v", ds)
	}
}
