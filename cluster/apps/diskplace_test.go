package apps

import (
	"slices"
	"strings"
	"testing"

	"nodectl/cluster/api"
)

// Marathon's Postgres example, with a command instead of its image and
// sizes that fit a test.
const mountApp = `{"id":"/pg","cmd":"sleep 1000","cpus":0.5,"mem":64,"instances":1,
 "container":{"type":"MESOS","volumes":[{"containerPath":"pgdata","mode":"RW",
  "persistent":{"type":"mount","size":100,"maxSize":1000,"constraints":[["path","LIKE","/mnt/ssd-.+"]]}}]},
 "upgradeStrategy":{"maximumOverCapacity":0,"minimumHealthCapacity":0}}`

// TestMountVolumePlacement: a mount volume takes the smallest whole MOUNT
// disk whose root meets its constraints and whose size is within
// [size, maxSize]; the reservation, volume and task carry the disk's
// source and size; a relaunch finds it again, and deleting the app
// destroys and unreserves the whole disk.
func TestMountVolumePlacement(t *testing.T) {
	h := newHarness(t)
	if code := h.do("POST", "/v2/apps", mountApp, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	n := h.acceptCount()
	h.offerFrom("a", "cpus:4;mem:1024;disk:1000;disk[MOUNT:/mnt/hdd-1]:500;disk[MOUNT:/mnt/ssd-big]:2000;ports:[31000-31010]")
	if h.acceptCount() != n && slices.Contains(opTypes(h.lastAccept()), api.OperationReserve) {
		t.Fatalf("placed on a disk that does not match: %v", h.lastAccept().Operations)
	}
	h.offerFrom("a", "cpus:4;mem:1024;disk:1000;disk[MOUNT:/mnt/ssd-1]:800;disk[MOUNT:/mnt/ssd-2]:600;disk[MOUNT:/mnt/hdd-1]:500;ports:[31000-31010]")
	acc := h.lastAccept()
	if got := opTypes(acc); !slices.Equal(got, []string{api.OperationReserve, api.OperationCreate, api.OperationLaunch}) {
		t.Fatalf("ops %v", got)
	}
	mounts := acc.Operations[0].Reserve.Resources.Filter(api.Resource.IsMount)
	if len(mounts) != 1 || mounts[0].Source().Root() != "/mnt/ssd-2" || mounts[0].Scalar.Value != 600 {
		t.Fatalf("reserved %s, want the whole /mnt/ssd-2 (600)", acc.Operations[0].Reserve.Resources)
	}
	if d := acc.Operations[0].Reserve.Resources.Filter(func(r api.Resource) bool { return r.Name == "disk" && r.Source() == nil }); len(d) != 0 {
		t.Fatalf("root disk reserved for a mount volume: %s", d)
	}
	vol := acc.Operations[1].Create.Volumes[0]
	if vol.Source().Root() != "/mnt/ssd-2" || vol.Scalar.Value != 600 || vol.Disk.Volume.ContainerPath != "pgdata" {
		t.Fatalf("volume %s", api.Resources{vol})
	}
	ti := acc.Operations[2].Launch.TaskInfos[0]
	if v := ti.Resources.Volumes(); len(v) != 1 || v[0].Source().Root() != "/mnt/ssd-2" {
		t.Fatalf("task volumes %s", ti.Resources)
	}
	h.status(ti.TaskID.Value, api.TaskRunning)
	h.status(ti.TaskID.Value, api.TaskFailed)
	h.now = h.now.Add(10 * 60e9)
	h.offerWithReserved("a", "cpus:1;mem:128;ports:[31000-31010]")
	acc = h.lastAccept()
	if got := opTypes(acc); !slices.Equal(got, []string{api.OperationLaunch}) {
		t.Fatalf("relaunch ops %v", got)
	}
	if v := acc.Operations[0].Launch.TaskInfos[0].Resources.Volumes(); len(v) != 1 || v[0].PersistenceID() != vol.PersistenceID() {
		t.Fatalf("relaunch volumes %v", v)
	}

	h.a.mu.Lock()
	var reserved api.Resources
	for _, r := range h.a.reservations {
		reserved = reserved.Add(r.Resources)
	}
	h.a.mu.Unlock()
	if code := h.do("DELETE", "/v2/apps/pg", "", nil); code != 200 {
		t.Fatalf("delete: %d", code)
	}
	h.offer++
	o := api.Offer{ID: api.ID{Value: "last"}, AgentID: api.ID{Value: "agent-a"}, Hostname: "a", Resources: reserved}
	if err := h.a.handle(api.Event{Type: api.EventOffers, Offers: &api.OffersEvent{Offers: []api.Offer{o}}}); err != nil {
		t.Fatal(err)
	}
	acc = h.lastAccept()
	if got := opTypes(acc); !slices.Equal(got, []string{api.OperationDestroy, api.OperationUnreserve}) {
		t.Fatalf("release ops %v", got)
	}
	un := acc.Operations[1].Unreserve.Resources.Filter(api.Resource.IsMount)
	if len(un) != 1 || un[0].Scalar.Value != 600 || un[0].Source().Root() != "/mnt/ssd-2" {
		t.Fatalf("unreserve %s", acc.Operations[1].Unreserve.Resources)
	}
}

// TestPickVolumeDisks: path volumes take part of the PATH disk with the
// most room among those their constraints allow (UNLIKE excludes); root
// volumes and scratch disk never come from a PATH or MOUNT disk.
func TestPickVolumeDisks(t *testing.T) {
	avail, err := api.ParseResources("disk:100;disk[PATH:/data/a]:500;disk[PATH:/data/b]:300;disk[PATH:/data/c]:200")
	if err != nil {
		t.Fatal(err)
	}
	def := &App{Container: &Container{Volumes: []Volume{
		{ContainerPath: "x", Persistent: &PersistentVolume{Type: "path", Size: 250, Constraints: [][]string{{"path", "UNLIKE", "/data/a"}}}},
		{ContainerPath: "y", Persistent: &PersistentVolume{Type: "path", Size: 150}},
		{ContainerPath: "z", Persistent: &PersistentVolume{Type: "root", Size: 100}},
	}}}
	got, ok := pickVolumeDisks(def.persistentSpecs(), avail)
	if !ok || len(got) != 3 {
		t.Fatalf("picked %s, %v", got, ok)
	}
	for i, want := range []string{"disk[PATH:/data/b]:250", "disk[PATH:/data/a]:150", "disk:100"} {
		if s := (api.Resources{got[i]}).String(); s != want {
			t.Errorf("volume %d: %s, want %s", i, s, want)
		}
	}
	def.Container.Volumes[2].Persistent.Size = 101
	if _, ok := pickVolumeDisks(def.persistentSpecs(), avail); ok {
		t.Error("a root volume larger than the root disk was placed")
	}
	// A partial regex does not match: Marathon matches the whole root.
	def.Container.Volumes = []Volume{{ContainerPath: "x", Persistent: &PersistentVolume{Type: "path", Size: 1, Constraints: [][]string{{"path", "LIKE", "data"}}}}}
	if got, ok := pickVolumeDisks(def.persistentSpecs(), avail); ok {
		t.Errorf("LIKE data matched %s", got)
	}
}

// TestDiskVolumeValidation: constraints and maxSize are checked; with
// agents known, a path or mount volume no agent has a disk for is a 422
// naming what does not match.
func TestDiskVolumeValidation(t *testing.T) {
	h := newHarness(t)
	vol := func(p string) string {
		return `{"id":"/a","cmd":"x","container":{"volumes":[{"containerPath":"d","mode":"RW","persistent":` + p + `}]}}`
	}
	for name, c := range map[string]struct{ body, path, msg string }{
		"field":    {vol(`{"type":"mount","size":1,"constraints":[["hostname","LIKE","x"]]}`), "/container/volumes/0/persistent/constraints", "hostname"},
		"operator": {vol(`{"type":"path","size":1,"constraints":[["path","UNIQUE","x"]]}`), "/container/volumes/0/persistent/constraints", "UNIQUE"},
		"regex":    {vol(`{"type":"path","size":1,"constraints":[["path","LIKE","("]]}`), "/container/volumes/0/persistent/constraints", "regular expression"},
		"arity":    {vol(`{"type":"path","size":1,"constraints":[["path","LIKE"]]}`), "/container/volumes/0/persistent/constraints", "[field, operator, value]"},
		"maxSize":  {vol(`{"type":"mount","size":10,"maxSize":5}`), "/container/volumes/0/persistent/maxSize", "greater than or equal"},
		"root":     {vol(`{"type":"root","size":1,"constraints":[["path","LIKE","x"]]}`), "/container/volumes/0/persistent/constraints", "root volumes"},
	} {
		var out struct{ Details []Detail }
		if code := h.do("POST", "/v2/apps", c.body, &out); code != 422 || !slices.ContainsFunc(out.Details, func(d Detail) bool {
			return d.Path == c.path && strings.Contains(strings.Join(d.Errors, " "), c.msg)
		}) {
			t.Errorf("%s: %d %+v, want 422 at %s naming %q", name, code, out.Details, c.path, c.msg)
		}
	}
	disks, _ := api.ParseResources("disk[MOUNT:/mnt/hdd-1]:500;disk[MOUNT:/mnt/ssd-x]:2000;disk[PATH:/data]:10")
	h.a.cfg.AgentDisks = func() (api.Resources, bool) { return disks, true }
	for name, c := range map[string]struct{ body, path string }{
		"constraints": {strings.Replace(mountApp, "/mnt/ssd-.+", "/mnt/nvme-.+", 1), "/container/volumes/0/persistent/constraints"},
		"size":        {mountApp, "/container/volumes/0/persistent/size"}, // ssd-x is over maxSize
		"path size":   {vol(`{"type":"path","size":11}`), "/container/volumes/0/persistent/size"},
	} {
		var out struct{ Details []Detail }
		if code := h.do("POST", "/v2/apps", c.body, &out); code != 422 || !slices.ContainsFunc(out.Details, func(d Detail) bool { return d.Path == c.path }) {
			t.Errorf("%s: %d %+v, want 422 at %s", name, code, out.Details, c.path)
		}
	}
	if code := h.do("POST", "/v2/apps", strings.Replace(mountApp, "/mnt/ssd-.+", "/mnt/hdd-[0-9]", 1), nil); code != 201 {
		t.Errorf("a mount volume an agent has a disk for: %d, want 201", code)
	}
	h.a.cfg.AgentDisks = func() (api.Resources, bool) { return nil, false }
	if code := h.do("POST", "/v2/apps", strings.Replace(vol(`{"type":"path","size":11}`), "/a", "/b", 1), nil); code != 201 {
		t.Errorf("no agent known: %d, want 201 (the app waits for offers)", code)
	}
}
