package runtime

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"nodectl/cluster/api"
)

// TestSourceDiskVolumes: a volume on a MOUNT disk is the disk's root and
// its DESTROY empties the root but keeps it; a volume on a PATH disk lives
// under <root>/volumes/roles/<role>/<id> and goes entirely (Mesos'
// getPersistentVolumePath and DESTROY).
func TestSourceDiskVolumes(t *testing.T) {
	dir := t.TempDir()
	mnt, pth := filepath.Join(dir, "ssd-1"), filepath.Join(dir, "data")
	must(t, os.Mkdir(mnt, 0o755))
	must(t, os.Mkdir(pth, 0o755))
	disks, err := api.ParseResources("disk[MOUNT:" + mnt + "]:64;disk[PATH:" + pth + "]:64;disk:64")
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{WorkDir: filepath.Join(dir, "work"), Masters: []string{"127.0.0.1:1"}, Port: 5051, ShimPath: "/nonexistent",
		Resources: disks, Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	vol := func(d api.Resource, id string) api.Resource {
		v := api.Resources{d}.Reserve("db", "p", nil)[0]
		v.Disk = &api.DiskInfo{Source: d.Source(), Persistence: &api.Persistence{ID: id}, Volume: &api.DiskVolume{ContainerPath: "data", Mode: "RW"}}
		return v
	}
	mv, pv := vol(disks[0], "m1"), vol(disks[1], "p1")
	ctx := context.Background()
	a.applyCheckpoint(ctx, api.Resources{mv, pv})
	ppath := filepath.Join(pth, "volumes", "roles", "db", "p1")
	for _, p := range []string{mnt, ppath} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("volume dir: %v", err)
		}
	}
	tv := a.taskVolumes(api.TaskInfo{Resources: api.Resources{mv, pv}})
	if len(tv) != 2 || tv[0].hostPath != mnt || tv[1].hostPath != ppath {
		t.Fatalf("task volumes: %+v", tv)
	}
	must(t, os.MkdirAll(filepath.Join(mnt, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(mnt, "sub", "f"), []byte("x"), 0o644))
	a.applyCheckpoint(ctx, nil)
	if ents, err := os.ReadDir(mnt); err != nil || len(ents) != 0 {
		t.Errorf("MOUNT root after DESTROY: %v entries, %v; want it empty and kept", len(ents), err)
	}
	if _, err := os.Stat(ppath); !os.IsNotExist(err) {
		t.Errorf("PATH volume after DESTROY: %v, want it gone", err)
	}
}
