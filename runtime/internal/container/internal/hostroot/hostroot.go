// Package hostroot makes the root directory of command tasks: a skeleton
// mirroring the host's top level, shared by every command task of a node.
//
// A command task sees the host's root read-only (Mesos runs it on the
// agent's filesystem). libcontainer can neither pivot_root into "/" itself
// nor mount onto the container's "/", so the container's root is a
// directory holding one entry per top-level host entry: an empty directory
// or an empty file as the mount point of a read-only bind of the host's
// own (made in the container's mount namespace, see ociconf), and a copy of
// each top-level symlink (/bin -> usr/bin).
//
// The skeleton depends only on the host's top-level names, so the driver
// makes it once and every command task's root is the same directory: a
// start creates no files for it. (Made per start, its ~25 directories,
// symlinks and files were the largest part of the CPU a 50-task burst
// spent in the filesystem.) Its name is a digest of the listing it
// mirrors, so a changed host root gets a new skeleton and a restarted node
// finds its old one. A skeleton may be removed only while no container
// uses it: its entries are mount points in the containers' namespaces, and
// the kernel detaches those mounts when they are unlinked.
package hostroot

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Replaced are the top-level directories a container gets its own
// instances of (no bind of the host's).
var Replaced = map[string]bool{"/proc": true, "/sys": true, "/dev": true, "/tmp": true}

// Kind is what a top-level entry is in the skeleton.
type Kind int

const (
	// Dir is a host directory: an empty directory, bound read-only
	// (recursively) unless Replaced.
	Dir Kind = iota + 1
	// File is a host regular file: an empty file, bound read-only.
	File
	// Symlink is a host symlink, copied.
	Symlink
)

// Entry is one top-level host entry.
type Entry struct {
	Name   string // without the leading "/"
	Kind   Kind
	Target string // Symlink only
}

// List reads the host's top level (other file types, sockets or devices,
// are left out, as they always were).
func List() ([]Entry, error) {
	ents, err := os.ReadDir("/")
	if err != nil {
		return nil, fmt.Errorf("read host root: %w", err)
	}
	var out []Entry
	for _, e := range ents {
		en := Entry{Name: e.Name(), Kind: kindOf(e)}
		switch en.Kind {
		case 0:
			continue
		case Symlink:
			if en.Target, err = os.Readlink("/" + e.Name()); err != nil {
				return nil, fmt.Errorf("read host root: %w", err)
			}
		}
		out = append(out, en)
	}
	return out, nil
}

// kindOf is what e is in a skeleton; 0 for other file types.
func kindOf(e os.DirEntry) Kind {
	switch t := e.Type(); {
	case t&os.ModeSymlink != 0:
		return Symlink
	case t.IsDir():
		return Dir
	case t.IsRegular():
		return File
	}
	return 0
}

// Name is the skeleton's directory name for a listing: a digest of it.
func Name(entries []Entry) string {
	h := sha256.New()
	for _, e := range entries {
		fmt.Fprintf(h, "%d\x00%s\x00%s\x00", e.Kind, e.Name, e.Target)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Ensure returns the skeleton for entries under parent, making it if it is
// not there yet (in a temporary directory renamed into place, so a
// skeleton that exists is whole).
func Ensure(parent string, entries []Entry) (string, error) {
	dir := filepath.Join(parent, Name(entries))
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("host root skeleton: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, ".tmp-")
	if err != nil {
		return "", fmt.Errorf("host root skeleton: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		_ = os.RemoveAll(tmp)
		return "", fmt.Errorf("host root skeleton: %w", err)
	}
	if err := fill(tmp, entries); err != nil {
		_ = os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		return "", fmt.Errorf("host root skeleton: %w", err)
	}
	return dir, nil
}

func fill(dir string, entries []Entry) error {
	for _, e := range entries {
		p := filepath.Join(dir, e.Name)
		var err error
		switch e.Kind {
		case Dir:
			err = os.Mkdir(p, 0o755)
		case File:
			var f *os.File
			if f, err = os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o444); err == nil {
				err = f.Close()
			}
		case Symlink:
			err = os.Symlink(e.Target, p)
		}
		if err != nil {
			return fmt.Errorf("host root skeleton: %w", err)
		}
	}
	return nil
}

// Read lists a skeleton's entries (what the container binds).
func Read(dir string) ([]Entry, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read host root skeleton: %w", err)
	}
	var out []Entry
	for _, e := range ents {
		if k := kindOf(e); k != 0 {
			out = append(out, Entry{Name: e.Name(), Kind: k})
		}
	}
	return out, nil
}

// Sweep removes the skeletons under parent that are not in keep (the ones
// live containers use), and unfinished ones. It returns what it removed.
func Sweep(parent string, keep []string) ([]string, error) {
	ents, err := os.ReadDir(parent)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sweep host root skeletons: %w", err)
	}
	var removed []string
	var errs []string
	for _, e := range ents {
		p := filepath.Join(parent, e.Name())
		if slices.Contains(keep, p) {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		removed = append(removed, p)
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("sweep host root skeletons: %s", strings.Join(errs, "; "))
	}
	return removed, nil
}
