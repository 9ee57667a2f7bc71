package runtime

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"nodectl/cluster/api"
	"nodectl/storage"
)

// openAgent makes an agent on dir without running it (no master needed).
func openAgent(t *testing.T, dir string) *Agent {
	t.Helper()
	a, err := New(Config{WorkDir: dir, Masters: []string{"127.0.0.1:1"}, Port: 5051, ShimPath: "/nonexistent",
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testVolume(id string, mb float64) api.Resources {
	rs := api.Resources{api.ScalarResource("disk", mb)}.Reserve("db", "p", nil)
	rs[0].Disk = &api.DiskInfo{Persistence: &api.Persistence{ID: id}, Volume: &api.DiskVolume{ContainerPath: "data", Mode: "RW"}}
	return rs.Add(nil)
}

// Volumes are created and destroyed to match the master's set, the set
// survives a restart, and a DESTROY cut short by a crash is finished on
// the next start.
func TestVolumeLifecycle(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	a := openAgent(t, dir)
	v1, v2 := testVolume("v1", 1), testVolume("v2", 1)
	a.applyCheckpoint(ctx, v1.Add(v2))
	p1, p2 := volumePath(dir, "db", "v1"), volumePath(dir, "db", "v2")
	for _, p := range []string{p1, p2} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("volume dir: %v", err)
		}
	}
	if err := os.WriteFile(filepath.Join(p1, "f"), make([]byte, 3000), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(p1, "f"), filepath.Join(p1, "g")); err != nil {
		t.Fatal(err)
	}
	if used, err := diskUsage(p1); err != nil || used != 3000 {
		t.Fatalf("usage %d (%v), want 3000 (hard links once)", used, err)
	}
	// A crash between marking v2 destroying and removing its directory.
	must(t, a.store.PutVolume(ctx, storage.Volume{Role: "db", PersistenceID: "v2", Path: p2, Destroying: true}))
	must(t, a.Close())

	a = openAgent(t, dir)
	if got := a.checkpointedResources(); !got.Equal(v1.Add(v2)) {
		t.Fatalf("restored %v", got)
	}
	if _, err := os.Stat(p2); !os.IsNotExist(err) {
		t.Fatalf("interrupted destroy not finished: %v", err)
	}
	a.applyCheckpoint(ctx, v1)
	m, err := a.volumeMounts(api.TaskInfo{Resources: v1}, filepath.Join(dir, "sb"), "/mnt/mesos/sandbox")
	if err != nil || len(m) != 1 || m[0].Source != p1 || m[0].Destination != "/mnt/mesos/sandbox/data" || m[0].ReadOnly {
		t.Fatalf("mounts %+v %v", m, err)
	}
	a.applyCheckpoint(ctx, nil)
	if _, err := os.Stat(p1); !os.IsNotExist(err) {
		t.Fatalf("destroyed volume still there: %v", err)
	}
	st, err := a.store.LoadState(ctx, true)
	if err != nil || len(st.Volumes) != 0 || string(st.Resources) != "[]" {
		t.Fatalf("checkpoint after destroy: %+v %v", st.Volumes, err)
	}
	must(t, a.Close())
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
