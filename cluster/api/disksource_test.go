package api

import (
	"strings"
	"testing"
)

const mountDisk = `[{"name":"disk","type":"SCALAR","scalar":{"value":2048},"disk":{"source":{"type":"MOUNT","mount":{"root":"/mnt/ssd-1"}}}},
 {"name":"disk","type":"SCALAR","scalar":{"value":4096},"disk":{"source":{"type":"PATH","path":{"root":"/mnt/data"}}}},
 {"name":"disk","type":"SCALAR","scalar":{"value":1000}}]`

// TestDiskSourcesParse: PATH and MOUNT disks stay apart from the root
// disk and from each other, round-trip through the text syntax, and bad
// sources are refused by name.
func TestDiskSourcesParse(t *testing.T) {
	rs, err := ParseResources(mountDisk)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 {
		t.Fatalf("got %d entries, want 3 disks: %s", len(rs), rs)
	}
	if got := rs.String(); got != "disk[MOUNT:/mnt/ssd-1]:2048;disk[PATH:/mnt/data]:4096;disk:1000" {
		t.Errorf("String: %s", got)
	}
	back, err := ParseResources(rs.String())
	if err != nil || !back.Equal(rs) {
		t.Errorf("text round trip: %s, %v", back, err)
	}
	if srcs := rs.DiskSources(); len(srcs) != 2 || srcs[0].Root() != "/mnt/ssd-1" || srcs[1].Type != DiskSourcePath {
		t.Errorf("DiskSources: %+v", srcs)
	}
	bad := map[string]string{
		`[{"name":"disk","type":"SCALAR","scalar":{"value":1},"disk":{"source":{"type":"BLOCK"}}}]`:                                "BLOCK",
		`[{"name":"disk","type":"SCALAR","scalar":{"value":1},"disk":{"source":{"type":"MOUNT"}}}]`:                                "mount.root",
		`[{"name":"disk","type":"SCALAR","scalar":{"value":1},"disk":{"source":{"type":"MOUNT","mount":{"root":"/a"},"id":"x"}}}]`: "CSI",
		`[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"disk":{"source":{"type":"MOUNT","mount":{"root":"/a"}}}}]`:          "only disk",
		`[{"name":"disk","type":"SCALAR","scalar":{"value":1},"disk":{"source":{"type":"MOUNT","mount":{"root":"/a"}}}},
		  {"name":"disk","type":"SCALAR","scalar":{"value":1},"disk":{"source":{"type":"PATH","path":{"root":"/a/"}}}}]`: "listed twice",
		"disk[RAW:/x]:1": "RAW",
	}
	for in, want := range bad {
		if _, err := ParseResources(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error naming %s", in, err, want)
		}
	}
}

// TestMountDiskWhole: a MOUNT disk is contained only whole, so no part of
// it can be booked twice; PATH disks and the root disk are divisible, and
// the root disk never stands in for a source disk or the other way round.
func TestMountDiskWhole(t *testing.T) {
	rs, _ := ParseResources(mountDisk)
	mount := rs.Filter(Resource.IsMount)
	half := mount.Subtract(Resources{ScalarResource("disk", 0)})
	half[0].Scalar = &ScalarVal{Value: 1024}
	if rs.Contains(half) {
		t.Error("half a MOUNT disk is contained")
	}
	if !rs.Contains(mount) {
		t.Error("the whole MOUNT disk is not contained")
	}
	if left := rs.Subtract(mount); left.Contains(mount) || len(left.Filter(Resource.IsMount)) != 0 {
		t.Errorf("after taking the MOUNT disk: %s", left)
	}
	path := rs.Filter(func(r Resource) bool { return r.Source() != nil && !r.IsMount() })
	path[0].Scalar = &ScalarVal{Value: 100}
	if !rs.Contains(path) {
		t.Error("part of a PATH disk is not contained")
	}
	if rs.Contains(Resources{ScalarResource("disk", 2000)}) {
		t.Error("the root disk (1000) is made up from source disks")
	}
	// Reserving and unreserving keeps the source.
	res := mount.Reserve("r", "p", nil)
	if res[0].Source() == nil || res[0].Unreserved().Source() == nil || !(Resources{res[0].Unreserved()}).Equal(mount) {
		t.Errorf("reserve/unreserve lost the source: %s", res)
	}
	v := res[0]
	v.Disk = &DiskInfo{Source: v.Disk.Source, Persistence: &Persistence{ID: "id"}, Volume: &DiskVolume{ContainerPath: "data"}}
	if w := v.WithoutVolume(); !(Resources{w}).Equal(res) {
		t.Errorf("WithoutVolume: %s, want %s", Resources{w}, res)
	}
}
