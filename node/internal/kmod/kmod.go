// Package kmod resolves Linux kernel modules and their dependencies from
// modules.dep and loads them with finit_module. The ISO builder uses it to
// pick a module set, and nodectl's PID 1 mode to load it at boot.
//
// It imports no other nodectl package.
package kmod

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrUnknown is returned for a module that modules.dep does not list.
var ErrUnknown = errors.New("unknown module")

// Deps is a parsed modules.dep: module file path (relative to the module
// directory) → the paths it depends on.
type Deps map[string][]string

// ParseDeps reads modules.dep ("path: dep dep ...", one module a line).
func ParseDeps(r io.Reader) (Deps, error) {
	deps := Deps{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		mod, rest, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("modules.dep line %d: no colon", n)
		}
		deps[mod] = strings.Fields(rest)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.dep: %w", err)
	}
	return deps, nil
}

// Name is the module name of a module file path: the base name without
// .ko and compression suffixes, with '-' as '_' (the kernel's spelling).
func Name(path string) string {
	base := filepath.Base(path)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

// Path finds the file of a module by name.
func (d Deps) Path(name string) (string, error) {
	want := strings.ReplaceAll(name, "-", "_")
	var found []string
	for p := range d {
		if Name(p) == want {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("%w: %s", ErrUnknown, name)
	case 1:
		return found[0], nil
	}
	sort.Strings(found)
	return found[0], nil
}

// Order returns the files of the named modules and everything they depend
// on, each after all of its dependencies: a load order. Ties keep the
// order of names, so the result is deterministic.
func (d Deps) Order(names []string) ([]string, error) {
	var (
		out   []string
		state = map[string]int{} // 1: visiting, 2: done
		visit func(p string, chain []string) error
	)
	visit = func(p string, chain []string) error {
		switch state[p] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("dependency cycle: %s", strings.Join(append(chain, p), " → "))
		}
		deps, ok := d[p]
		if !ok {
			return fmt.Errorf("%w: %s (needed by %s)", ErrUnknown, p, strings.Join(chain, " → "))
		}
		state[p] = 1
		for _, dep := range deps {
			if err := visit(dep, append(chain, p)); err != nil {
				return err
			}
		}
		state[p] = 2
		out = append(out, p)
		return nil
	}
	for _, n := range names {
		p, err := d.Path(n)
		if err != nil {
			return nil, err
		}
		if err := visit(p, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Builtin reads modules.builtin: the names of modules compiled into the
// kernel, which need no file.
func Builtin(r io.Reader) (map[string]bool, error) {
	out := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out[Name(line)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.builtin: %w", err)
	}
	return out, nil
}

// Names are the names of every module listed, sorted.
func (d Deps) Names() []string {
	out := make([]string, 0, len(d))
	for p := range d {
		out = append(out, Name(p))
	}
	sort.Strings(out)
	return out
}

// Load loads the module files in order from dir with finit_module. Modules
// already loaded, and drivers refusing with ENODEV (no such hardware),
// are not errors; compressed files (.ko.xz, .ko.zst) ask the
// kernel to decompress them. A module that fails does not stop the rest
// (hardware drivers may refuse to load on other hardware); the failures
// are returned together.
func Load(dir string, files []string) error {
	var errs []error
	for _, f := range files {
		if err := loadOne(filepath.Join(dir, f)); err != nil {
			errs = append(errs, fmt.Errorf("load module %s: %w", Name(f), err))
		}
	}
	return errors.Join(errs...)
}

func loadOne(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer unix.Close(fd)
	flags := 0
	if !strings.HasSuffix(path, ".ko") {
		flags |= unix.MODULE_INIT_COMPRESSED_FILE
	}
	err = unix.FinitModule(fd, "", flags)
	if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENODEV) {
		return nil // already loaded; a driver for hardware this machine lacks
	}
	return err
}

// LoadDir loads modules and their dependencies from a module directory,
// skipping built-in ones, and returns the files in load order. groups are
// loaded one after another (modules the kernel looks up by name at load
// time, like crc32c for ext4, go in an earlier group); within a group up
// to workers modules load at once, each after the files it depends on,
// so drivers' hardware probes overlap. No groups means every module listed
// in modules.dep.
func LoadDir(dir string, groups [][]string, workers int) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	deps, err := ParseDeps(f)
	if err != nil {
		return nil, err
	}
	builtin := map[string]bool{}
	if bf, err := os.Open(filepath.Join(dir, "modules.builtin")); err == nil {
		builtin, err = Builtin(bf)
		bf.Close()
		if err != nil {
			return nil, err
		}
	}
	if len(groups) == 0 {
		groups = [][]string{deps.Names()}
	}
	var (
		all  []string
		errs []error
		done = map[string]bool{}
	)
	for _, g := range groups {
		var want []string
		for _, n := range g {
			if !builtin[strings.ReplaceAll(n, "-", "_")] {
				want = append(want, n)
			}
		}
		order, err := deps.Order(want)
		if err != nil {
			return all, err
		}
		var todo []string
		for _, f := range order {
			if !done[f] {
				todo = append(todo, f)
				done[f] = true
			}
		}
		errs = append(errs, loadConcurrently(dir, deps, todo, workers, loadOne))
		all = append(all, todo...)
	}
	return all, errors.Join(errs...)
}

// loadConcurrently loads files (a load order) with load, up to workers at
// once, each once its dependencies among files have been tried.
func loadConcurrently(dir string, deps Deps, files []string, workers int, load func(path string) error) error {
	workers = max(workers, 1)
	finished := make(map[string]chan struct{}, len(files))
	for _, f := range files {
		finished[f] = make(chan struct{})
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, workers)
	)
	for _, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(finished[f])
			for _, d := range deps[f] {
				if ch, ok := finished[d]; ok {
					<-ch
				}
			}
			sem <- struct{}{}
			err := load(filepath.Join(dir, f))
			<-sem
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("load module %s: %w", Name(f), err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
