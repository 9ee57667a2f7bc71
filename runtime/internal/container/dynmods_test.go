package container

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
)

func TestReconfigureOptions(t *testing.T) {
	tests := map[string][]string{
		"rw":                                    nil,
		"rw,nsdelegate,memory_recursiveprot":    {"nsdelegate", "memory_recursiveprot"},
		"ro,favordynmods":                       {"favordynmods"},
		"rw,nsdelegate,,memory_localevents,x=1": {"nsdelegate", "memory_localevents", "x=1"},
	}
	for in, want := range tests {
		if got := reconfigureOptions(in); !slices.Equal(got, want) {
			t.Errorf("reconfigureOptions(%q) = %q, want %q", in, got, want)
		}
	}
}

// cgroup2Options is the superblock options of the host's cgroup2 mount.
func cgroup2Options(t *testing.T) (string, []string) {
	t.Helper()
	ms, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup2"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Skip("no cgroup2 mount on this host")
	}
	return ms[0].Mountpoint, strings.Split(ms[0].VFSOptions, ",")
}

// TestFavorDynMods turns the option on for real (every agent does at start
// by default) and checks that the mount keeps its other options: a
// reconfiguration resets what it is not given.
func TestFavorDynMods(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	mp, before := cgroup2Options(t)
	gotMP, changed, err := FavorDynMods()
	if errors.Is(err, ErrNoCgroup2) {
		t.Fatalf("FavorDynMods found no cgroup2 mount, mountinfo has %s", mp)
	}
	if err != nil {
		t.Fatalf("FavorDynMods: %v", err)
	}
	if gotMP != mp {
		t.Errorf("mount point %q, want %q", gotMP, mp)
	}
	_, after := cgroup2Options(t)
	if !slices.Contains(after, dynModsOption) {
		t.Fatalf("after FavorDynMods the cgroup2 options are %q", after)
	}
	if changed == slices.Contains(before, dynModsOption) {
		t.Errorf("changed = %v, but the options were %q before", changed, before)
	}
	for _, o := range before {
		if !slices.Contains(after, o) {
			t.Errorf("option %q lost: before %q, after %q", o, before, after)
		}
	}
	// A second call finds it on.
	if _, changed, err := FavorDynMods(); err != nil || changed {
		t.Errorf("second FavorDynMods: changed %v, err %v", changed, err)
	}
}
