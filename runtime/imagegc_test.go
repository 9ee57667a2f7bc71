package runtime

import (
	"archive/tar"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"nodectl/cluster/api"
	"nodectl/runtime/image"
)

func TestPlanImageGC(t *testing.T) {
	now := time.Now()
	week := 7 * 24 * time.Hour
	cfg := ImageGCConfig{Enabled: true, DiskHeadroom: 0.2, DiskWatchInterval: time.Hour}
	for _, c := range []struct {
		name      string
		usage     float64
		cfg       ImageGCConfig
		lastCheck time.Time
		prune     bool
		checked   bool
		age       time.Duration
	}{
		{"no config, empty disk", 0, ImageGCConfig{}, time.Time{}, false, false, time.Duration(0.9 * float64(week))},
		{"no config, full disk: age only", 0.95, ImageGCConfig{}, time.Time{}, false, false, 0},
		{"config, room left", 0.5, cfg, time.Time{}, false, true, time.Duration(0.4 * float64(week))},
		{"config, above 1-headroom", 0.85, cfg, time.Time{}, true, true, 0},
		{"config, checked recently", 0.85, cfg, now.Add(-time.Minute), false, false, time.Duration(0.05 * float64(week))},
	} {
		plan, checked := planImageGC(now, week, 0.1, c.usage, c.cfg, c.lastCheck)
		if plan.prune != c.prune || checked != c.checked || now.Sub(plan.storedBefore).Round(time.Second) != c.age.Round(time.Second) {
			t.Errorf("%s: plan %+v checked %v (age %v), want prune %v checked %v age %v", c.name, plan, checked, now.Sub(plan.storedBefore), c.prune, c.checked, c.age)
		}
	}
}

// importTar stores a one-file rootfs tarball as ref.
func importTar(t *testing.T, s *image.Store, ref, content string) image.Image {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rootfs.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	if err := tw.WriteHeader(&tar.Header{Name: "f", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(tw, content); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	img, err := s.Import(context.Background(), p, ref)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestImageGCKeepsLayersInUse: the agent's image collector removes the
// blobs and layers nothing uses, keeps those of a container's image (its
// lease) and of stored images; at low disk under --image_gc_config it
// prunes unused image names except the excluded ones, never one in use.
func TestImageGCKeepsLayersInUse(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the image store needs root to unpack layers")
	}
	wd := t.TempDir()
	st, err := image.New(image.Config{Dir: filepath.Join(wd, "images"), RootfsMode: image.RootfsCopy})
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{cfg: Config{WorkDir: wd, ImageGC: ImageGCConfig{Enabled: true, ExcludedImages: []string{"keep:1"}}},
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), metrics: api.NewMetrics(), images: st}
	ctx := context.Background()
	used := importTar(t, st, "used:1", "used")
	gone := importTar(t, st, "gone:1", "gone")
	keep := importTar(t, st, "keep:1", "keep")
	drop := importTar(t, st, "drop:1", "drop")
	container := filepath.Join(wd, "container")
	if _, _, err := st.PrepareRootfs(ctx, "used:1", container); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"used:1", "gone:1"} {
		if _, err := st.Remove(ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
	layer := func(img image.Image) string {
		return filepath.Join(wd, "images", "layers", "sha256", img.Layers[0].Hex)
	}
	exists := func(img image.Image) bool {
		_, err := os.Stat(layer(img))
		return err == nil
	}

	// By age: nothing is old enough yet.
	a.collectImages(ctx, imageGCPlan{storedBefore: time.Now().Add(-time.Hour)})
	if !exists(gone) {
		t.Fatal("an unused layer younger than the cutoff was removed")
	}
	a.collectImages(ctx, imageGCPlan{storedBefore: time.Now().Add(time.Second)})
	if exists(gone) || !exists(used) || !exists(keep) || !exists(drop) {
		t.Fatalf("after collection: gone %v (want false), used %v keep %v drop %v (want true)", exists(gone), exists(used), exists(keep), exists(drop))
	}
	m := a.metrics.Snapshot()
	if m["slave/gc_image_layers_removed"] != 1 || m["slave/gc_image_blobs_removed"] < 2 || m["slave/gc_image_bytes_freed"] <= 0 {
		t.Errorf("metrics %v", m)
	}

	// Low disk with --image_gc_config: drop:1 is pruned, keep:1 is
	// excluded, the container's layer stays.
	a.collectImages(ctx, imageGCPlan{storedBefore: time.Now().Add(time.Second), prune: true})
	if exists(drop) || !exists(keep) || !exists(used) {
		t.Fatalf("after pruning: drop %v (want false), keep %v used %v (want true)", exists(drop), exists(keep), exists(used))
	}
	if _, err := st.Get(ctx, "keep:1"); err != nil {
		t.Errorf("excluded image keep:1: %v", err)
	}
	if got := a.metrics.Snapshot()["slave/gc_image_images_removed"]; got != 1 {
		t.Errorf("slave/gc_image_images_removed = %v, want 1", got)
	}
	// Its container released, the last layer goes too.
	if err := st.ReleaseRootfs(container); err != nil {
		t.Fatal(err)
	}
	a.collectImages(ctx, imageGCPlan{storedBefore: time.Now().Add(time.Second)})
	if exists(used) {
		t.Error("a released container's unused layer is still there")
	}
}
