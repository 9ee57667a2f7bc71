// Package exetrim drops a process's clean pages of its own executable
// (code and read-only data) from its resident set.
//
// A Go program's start-up touches code and read-only data all over its
// binary (package inits, type descriptors, the function tables the garbage
// collector reads); nodectl also copies the helpers embedded in it (tens of
// MB of its read-only data) to disk on a fresh work dir. Those pages stay
// mapped, and counted in the resident set, long after they are needed.
// They are clean and file-backed: MADV_DONTNEED only unmaps them, and a
// page needed again faults back in from the page cache (a minor fault).
// Writable mappings are never touched: dropping those would lose data.
//
// PageOut does the same for a data file another part of the process maps
// (etcd's database), with MADV_PAGEOUT: a mapping that changes meanwhile
// loses no data (see PageOut).
package exetrim

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Release unmaps the clean pages of every read-only or executable mapping
// of the running executable. A mapping with any private, modified page
// (an Anonymous page in /proc/self/smaps: relocations a dynamic or
// static-PIE binary's loader wrote before making them read-only, RELRO)
// is left alone: dropping it would bring back the file's unrelocated
// bytes. With noFaultAround (MADV_RANDOM), a page touched later comes
// back alone, not with the 64 KiB the kernel otherwise maps around each
// fault: for a small process that stays small (the container monitor),
// not for a busy one. It returns the bytes of address space released.
func Release(noFaultAround bool) (uint64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("read /proc/self/exe: %w", err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("read /proc/self/smaps: %w", err)
	}
	var released uint64
	for _, m := range cleanMappings(string(smaps), exe) {
		if noFaultAround {
			_, _, _ = unix.Syscall(unix.SYS_MADVISE, uintptr(m.lo), uintptr(m.hi-m.lo), unix.MADV_RANDOM)
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(m.lo), uintptr(m.hi-m.lo), unix.MADV_DONTNEED); errno != 0 {
			return released, fmt.Errorf("madvise %x-%x: %w", m.lo, m.hi, errno)
		}
		released += m.hi - m.lo
	}
	return released, nil
}

// PageOut reclaims the resident pages of every read-only mapping of the
// file at path (MADV_PAGEOUT): clean file pages leave the resident set, and
// a page read again comes back from the file. Unlike Release's
// MADV_DONTNEED, it is harmless on whatever the range holds by the time
// the kernel acts: a mapping its owner replaced between the read of smaps
// and the madvise (etcd's database is mapped anew by a defragmentation)
// may be anything, and MADV_PAGEOUT only ever moves pages out, never drops
// their data. It returns the bytes of address space advised.
func PageOut(path string) (uint64, error) {
	// smaps names a mapped file by its path with the links resolved.
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("read /proc/self/smaps: %w", err)
	}
	var advised uint64
	for _, m := range cleanMappings(string(smaps), path) {
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(m.lo), uintptr(m.hi-m.lo), unix.MADV_PAGEOUT); errno != 0 {
			return advised, fmt.Errorf("madvise %x-%x: %w", m.lo, m.hi, errno)
		}
		advised += m.hi - m.lo
	}
	return advised, nil
}

// span is one mapping's address range.
type span struct{ lo, hi uint64 }

// cleanMappings returns the mappings of path in smaps (the text of
// /proc/<pid>/smaps) that are not writable and hold no anonymous page.
func cleanMappings(smaps, path string) []span {
	var out []span
	var cur *span // the current mapping, if it is path's and not writable
	anon := false
	flush := func() {
		if cur != nil && !anon {
			out = append(out, *cur)
		}
		cur, anon = nil, false
	}
	for _, line := range strings.Split(smaps, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if rng, ok := mappingHeader(f); ok {
			flush()
			// start-end perms offset dev inode path
			// The path is the rest of the line (it may hold a space).
			if len(f) >= 6 && strings.Join(f[5:], " ") == path && !strings.Contains(f[1], "w") {
				cur = &rng
			}
			continue
		}
		if f[0] == "Anonymous:" && len(f) >= 2 && f[1] != "0" {
			anon = true
		}
	}
	flush()
	return out
}

// mappingHeader parses the address range of a mapping's first line in
// smaps ("start-end perms ..."); attribute lines ("Rss: 4 kB") are not.
func mappingHeader(f []string) (span, bool) {
	if len(f) < 5 {
		return span{}, false
	}
	start, end, ok := strings.Cut(f[0], "-")
	if !ok {
		return span{}, false
	}
	lo, err1 := strconv.ParseUint(start, 16, 64)
	hi, err2 := strconv.ParseUint(end, 16, 64)
	if err1 != nil || err2 != nil || hi <= lo {
		return span{}, false
	}
	return span{lo, hi}, true
}
