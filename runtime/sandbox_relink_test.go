package runtime

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestRelinkConcurrent: the tasks of one group make their sandboxes at
// once and relink the executor's "latest" together; none may fail.
func TestRelinkConcurrent(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "latest")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() { errs <- relink(link, "run1") })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, err := os.Readlink(link); err != nil || got != "run1" {
		t.Fatalf("latest -> %q, %v", got, err)
	}
	if m, _ := filepath.Glob(link + ".tmp*"); len(m) != 0 {
		t.Errorf("temporary links left: %v", m)
	}
}
