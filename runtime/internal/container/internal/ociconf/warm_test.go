package ociconf

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestSlotCover(t *testing.T) {
	bind := func(dst string) specs.Mount {
		return specs.Mount{Destination: dst, Source: "/slot", Type: "bind", Options: []string{"bind", "ro", "nosuid", "nodev", "noexec", "slave"}}
	}
	// The work dir outside /tmp: hide laid a tmpfs over it, read-only later.
	spec := &specs.Spec{Linux: &specs.Linux{ReadonlyPaths: []string{"/proc/bus", "/var/lib/w"}}}
	hidden := []specs.Mount{{Destination: "/etc/shadow", Type: "bind"}, {Destination: "/var/lib/w", Type: "tmpfs"}}
	got, err := slotCover(spec, hidden, []string{"/var/lib/w"}, "/var/lib/w/s/1", "/slot")
	if err != nil || len(got) != 2 || !equalMount(got[1], bind("/var/lib/w")) {
		t.Fatalf("tmpfs cover: %+v, %v", got, err)
	}
	if slices.Contains(spec.Linux.ReadonlyPaths, "/var/lib/w") {
		t.Error("the slot, read-only already, is still among the read-only paths")
	}
	// Under the container's own /tmp hide laid nothing: the deepest hidden
	// directory holding the sandbox gets the slot.
	spec = &specs.Spec{Linux: &specs.Linux{}}
	got, err = slotCover(spec, nil, []string{"/tmp/n", "/tmp/n/w", "/tmp/n/w/s/1", "/etc"}, "/tmp/n/w/s/1", "/slot")
	if err != nil || len(got) != 1 || !equalMount(got[0], bind("/tmp/n/w")) {
		t.Fatalf("under /tmp: %+v, %v", got, err)
	}
	if _, err := slotCover(spec, nil, []string{"/srv"}, "/tmp/n/w/s/1", "/slot"); err == nil {
		t.Error("no hidden directory holds the sandbox, and yet a cover")
	}
}

func equalMount(a, b specs.Mount) bool {
	return a.Destination == b.Destination && a.Source == b.Source && a.Type == b.Type && slices.Equal(a.Options, b.Options)
}
