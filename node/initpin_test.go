package node

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// cpuCount is how many CPUs a Cpus_allowed_list ("0-3,6") names.
func cpuCount(t *testing.T, list string) int {
	t.Helper()
	n := 0
	for _, r := range strings.Split(list, ",") {
		lo, hi, found := strings.Cut(r, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			t.Fatalf("Cpus_allowed_list %q: %v", list, err)
		}
		b := a
		if found {
			if b, err = strconv.Atoi(hi); err != nil {
				t.Fatalf("Cpus_allowed_list %q: %v", list, err)
			}
		}
		n += b - a + 1
	}
	return n
}

// initpin keeps the process on one CPU while its packages are initialised;
// node's init must give every thread all of them back (runtime.NumCPU is
// what the process started with).
func TestInitPinReleased(t *testing.T) {
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil || len(tasks) == 0 {
		t.Fatalf("threads: %v %v", tasks, err)
	}
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread has gone
		}
		for _, line := range strings.Split(string(b), "\n") {
			if list, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				if n := cpuCount(t, strings.TrimSpace(list)); n != runtime.NumCPU() {
					t.Errorf("%s: %d CPUs allowed (%s), the process started with %d", f, n, strings.TrimSpace(list), runtime.NumCPU())
				}
			}
		}
	}
}
