package container

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultSeccomp is the profile every container gets unless its Spec or the
// driver's Config names another, or the Spec asks for none: an allow-list in
// the spirit of Docker's and runc's defaults (docs/runtime.md, "Seccomp").
// Syscalls it does not know fail with ENOSYS, so libc falls back (clone3 →
// clone); those that reach past the container (mount, namespaces, keys,
// ptrace, bpf, modules, clocks, swap, reboot, ...) fail with EPERM; clone
// with namespace flags and personality beyond the plain Linux ones fail too.
//
//go:embed seccomp_default.json
var defaultSeccomp []byte

// DefaultSeccompProfile returns the built-in profile (OCI LinuxSeccomp JSON).
func DefaultSeccompProfile() []byte { return bytes.Clone(defaultSeccomp) }

// LoadSeccompProfile reads the profile named name in dir, as Mesos'
// --seccomp_config_dir and --seccomp_profile_name name it, and checks it is
// an OCI LinuxSeccomp object (the "linux.seccomp" of an OCI config.json).
// Unknown fields are refused rather than ignored: a Docker profile's
// "includes"/"excludes" or "archMap" would otherwise be silently dropped.
func LoadSeccompProfile(dir, name string) ([]byte, error) {
	if dir == "" {
		return nil, fmt.Errorf("seccomp profile %q: no seccomp config dir", name)
	}
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return nil, fmt.Errorf("seccomp profile %q: want a file name in %s", name, dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	if err := checkSeccompProfile(b); err != nil {
		return nil, fmt.Errorf("seccomp profile %s: %w", filepath.Join(dir, name), err)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil, fmt.Errorf("seccomp profile %s: %w", name, err)
	}
	return out.Bytes(), nil
}

func checkSeccompProfile(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p specs.LinuxSeccomp
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("not an OCI LinuxSeccomp object: %w", err)
	}
	if p.DefaultAction == "" {
		return fmt.Errorf("no defaultAction")
	}
	return nil
}

// seccompFor resolves the profile of s: none when unconfined, the named
// profile from the config dir, the driver's default profile, or the built-in.
func (d *Driver) seccompFor(s Spec) (json.RawMessage, error) {
	switch {
	case s.SeccompUnconfined:
		return nil, nil
	case s.SeccompProfile != "":
		return LoadSeccompProfile(d.cfg.SeccompDir, s.SeccompProfile)
	case d.cfg.SeccompProfile != "":
		return LoadSeccompProfile(d.cfg.SeccompDir, d.cfg.SeccompProfile)
	}
	return defaultSeccomp, nil
}
