package slots

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The slots and the variables of the environment block.
const (
	A = "A"
	B = "B"

	varSlot   = "slot"   // the default slot, booted when nothing is on trial
	varNext   = "next"   // the slot on trial
	varTries  = "tries"  // trial boots left (GRUB counts down; "0": the last one has started)
	varFailed = "failed" // set by GRUB: the slot whose tries ran out (nodectl reports and clears it)

	// MaxTries bounds --tries: grub.cfg counts down from at most 3.
	MaxTries = 3
)

// Files of a slot, under <boot>/<slot>/.
const (
	Kernel  = "vmlinuz"
	Initrd  = "initrd.img"
	Version = "version"
)

// EnvPath and ConfigPath are where GRUB finds them on the boot partition.
const (
	EnvPath    = "grub/grubenv"
	ConfigPath = "grub/grub.cfg"
)

// Other is the slot that is not s.
func Other(s string) string {
	if s == A {
		return B
	}
	return A
}

// Valid tells whether s names a slot.
func Valid(s string) bool { return s == A || s == B }

// State is what the boot partition says.
type State struct {
	Default  string            // slot=
	Next     string            // next= (a slot on trial), or ""
	Tries    int               // tries= left
	Failed   string            // failed= (a trial GRUB gave up on), or ""
	Versions map[string]string // per slot, "" when the slot is empty
}

// Boot is a mounted (or, in tests, plain) boot partition.
type Boot struct{ Dir string }

func (b Boot) envPath() string { return filepath.Join(b.Dir, EnvPath) }

// State reads the environment block and the slots' versions.
func (b Boot) State() (State, error) {
	env, err := ReadEnvFile(b.envPath())
	if err != nil {
		return State{}, err
	}
	st := stateOf(env)
	st.Versions = map[string]string{}
	for _, s := range []string{A, B} {
		if v, err := os.ReadFile(filepath.Join(b.Dir, s, Version)); err == nil {
			st.Versions[s] = strings.TrimSpace(string(v))
		} else {
			st.Versions[s] = ""
		}
	}
	return st, nil
}

func stateOf(env Env) State {
	st := State{Default: env[varSlot], Next: env[varNext], Failed: env[varFailed]}
	if !Valid(st.Default) {
		st.Default = A
	}
	if !Valid(st.Next) {
		st.Next = ""
	}
	st.Tries, _ = strconv.Atoi(env[varTries])
	return st
}

// Decide is what grub.cfg does with the environment at boot, for tests
// and for explaining a state: the slot it boots and the environment it
// saves. A slot on trial boots while tries remain, each boot taking one;
// once none remain the default boots and the trial is recorded as failed.
func Decide(env Env) (boot string, saved Env) {
	saved = Env{}
	for k, v := range env {
		saved[k] = v
	}
	st := stateOf(env)
	boot = st.Default
	if st.Next == "" {
		return boot, saved
	}
	if st.Tries >= 1 && st.Tries <= MaxTries {
		saved[varTries] = strconv.Itoa(st.Tries - 1)
		return st.Next, saved
	}
	saved[varFailed] = st.Next
	saved[varNext] = ""
	saved[varTries] = ""
	return boot, saved
}

// Init writes a fresh environment: slot is the default, nothing on trial.
func (b Boot) Init(slot string) error {
	return WriteEnvFile(b.envPath(), Env{varSlot: slot})
}

func (b Boot) update(f func(Env) error) error {
	env, err := ReadEnvFile(b.envPath())
	if err != nil {
		return err
	}
	if err := f(env); err != nil {
		return err
	}
	return WriteEnvFile(b.envPath(), env)
}

// WriteSlot replaces a slot's kernel and initramfs (each written to a
// temporary name, synced, renamed), then its version file. The slot must
// not be the one running (the caller knows which it is).
func (b Boot) WriteSlot(slot string, kernel, initrd io.Reader, version string) error {
	if !Valid(slot) {
		return fmt.Errorf("no slot %q", slot)
	}
	dir := filepath.Join(b.Dir, slot)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// The old version goes first: a slot half written has no version.
	if err := os.Remove(filepath.Join(dir, Version)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, f := range []struct {
		name string
		r    io.Reader
	}{{Kernel, kernel}, {Initrd, initrd}, {Version, strings.NewReader(version + "\n")}} {
		if err := writeFileSync(filepath.Join(dir, f.name), f.r); err != nil {
			return fmt.Errorf("slot %s: %w", slot, err)
		}
	}
	return nil
}

func writeFileSync(path string, r io.Reader) error {
	tmp := path + ".new"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// CheckUpgradable tells whether a new system may be written to the slot
// that is not running: only when the running slot is the default and not
// itself on trial, so the known-good system is never the one overwritten.
func (st State) CheckUpgradable(running string) error {
	switch {
	case !Valid(running):
		return fmt.Errorf("running slot %q unknown", running)
	case st.Next == running:
		return fmt.Errorf("the running system (slot %s) is itself on trial: wait until it is marked good, or roll back", running)
	case st.Default != running:
		return fmt.Errorf("the running slot %s is not the default (%s): reboot into the default first", running, st.Default)
	}
	return nil
}

// Try puts slot on trial for the next tries boots (1..MaxTries).
func (b Boot) Try(slot string, tries int) error {
	if !Valid(slot) {
		return fmt.Errorf("no slot %q", slot)
	}
	if tries < 1 || tries > MaxTries {
		return fmt.Errorf("tries must be 1 to %d, not %d", MaxTries, tries)
	}
	if _, err := os.Stat(filepath.Join(b.Dir, slot, Version)); err != nil {
		return fmt.Errorf("slot %s holds no complete system: %w", slot, err)
	}
	return b.update(func(env Env) error {
		env[varNext], env[varTries], env[varFailed] = slot, strconv.Itoa(tries), ""
		return nil
	})
}

// MarkGood makes booted the default slot if it is the one on trial; it
// reports whether it did (false: booted was not on trial, nothing to do).
func (b Boot) MarkGood(booted string) (bool, error) {
	changed := false
	err := b.update(func(env Env) error {
		if env[varNext] != booted {
			return nil
		}
		env[varSlot], env[varNext], env[varTries] = booted, "", ""
		changed = true
		return nil
	})
	return changed, err
}

// GiveUp ends the trial of booted now (the caller found it unhealthy):
// the next boot is the default slot's, and the trial is recorded failed.
func (b Boot) GiveUp(booted string) error {
	return b.update(func(env Env) error {
		if env[varNext] == booted {
			env[varNext], env[varTries], env[varFailed] = "", "", booted
		}
		return nil
	})
}

// TakeFailed returns the slot of a failed trial and clears the record
// (the caller reports it once).
func (b Boot) TakeFailed() (string, error) {
	var failed string
	err := b.update(func(env Env) error {
		failed = env[varFailed]
		env[varFailed] = ""
		return nil
	})
	if !Valid(failed) {
		failed = ""
	}
	return failed, err
}

// Rollback makes the slot that is not running the default again, on
// purpose, with nothing on trial. The other slot must hold a system.
func (b Boot) Rollback(running string) (string, error) {
	to := Other(running)
	if _, err := os.Stat(filepath.Join(b.Dir, to, Version)); err != nil {
		return "", fmt.Errorf("slot %s holds no system to go back to", to)
	}
	return to, b.update(func(env Env) error {
		env[varSlot], env[varNext], env[varTries] = to, "", ""
		return nil
	})
}
