package runtime

import (
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"
)

// A filesystem with room is full for an agent that must leave more than
// all of it to a master's etcd (Config.DiskFullBelow), and launches are
// refused naming the full disk.
func TestDiskFullBelow(t *testing.T) {
	a := &Agent{cfg: Config{WorkDir: t.TempDir()}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if a.checkDiskSpace() || a.diskFullRefusal() != "" {
		t.Fatal("an empty temporary directory's filesystem called full")
	}
	a.cfg.DiskFullBelow = math.MaxUint64
	if !a.checkDiskSpace() {
		t.Fatal("not full below DiskFullBelow")
	}
	if msg := a.diskFullRefusal(); !strings.Contains(msg, "disk is full") {
		t.Fatalf("refusal %q", msg)
	}
	if a.diskSpaceJSON()["disk_full"] != true {
		t.Fatalf("/health detail %v", a.diskSpaceJSON())
	}
	a.cfg.DiskFullBelow = 0
	if a.checkDiskSpace() {
		t.Fatal("still full with space and no DiskFullBelow")
	}
}
