package image

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestGCWithAge: unused blobs and layers stored after the cutoff stay;
// with a later cutoff they go; a stored image's layer never goes.
func TestGCWithAge(t *testing.T) {
	requireRoot(t)
	s := newStore(t, RootfsCopy)
	ctx := testCtx(t)
	dir := t.TempDir()
	a := writeTar(t, filepath.Join(dir, "a.tar"), []entry{file("a", "a")}, false)
	b := writeTar(t, filepath.Join(dir, "b.tar"), []entry{file("b", "b")}, false)
	before := time.Now().Add(-time.Second) // ctime granularity: a second back is safely before
	imgA, err := s.Import(ctx, a, "a:1")
	if err != nil {
		t.Fatal(err)
	}
	imgB, err := s.Import(ctx, b, "b:1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Remove(ctx, "a:1"); err != nil {
		t.Fatal(err)
	}
	st, err := s.GCWith(ctx, GCOptions{StoredBefore: before})
	if err != nil || st.Blobs != 0 || st.Layers != 0 {
		t.Fatalf("GC of what was stored after the cutoff = %+v, %v; want nothing removed", st, err)
	}
	if _, err := os.Stat(s.layerPath(imgA.Layers[0])); err != nil {
		t.Fatalf("a's young layer removed: %v", err)
	}
	st, err = s.GCWith(ctx, GCOptions{StoredBefore: time.Now().Add(time.Second)})
	if err != nil || st.Layers != 1 || st.Blobs < 2 {
		t.Fatalf("GC past the cutoff = %+v, %v; want a's layer and blobs", st, err)
	}
	if _, err := os.Stat(s.layerPath(imgA.Layers[0])); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a's layer still there: %v", err)
	}
	if _, err := os.Stat(s.layerPath(imgB.Layers[0])); err != nil {
		t.Errorf("the stored image b's layer removed: %v", err)
	}
}
