// Package slots keeps the appliance's two system slots (A and B: a kernel
// and an initramfs each, in directories of the boot partition) and the
// GRUB environment block that chooses between them, with boot counting:
// a new slot boots once (or a few times) on trial, GRUB counts the tries
// down, and falls back to the default slot when they run out; the new
// version makes itself the default only once it is healthy.
//
// The pattern is GRUB's documented load_env/save_env
// (https://www.gnu.org/software/grub/manual/grub/html_node/Environment-block.html)
// used as systemd-boot's boot assessment
// (https://systemd.io/AUTOMATIC_BOOT_ASSESSMENT/) counts tries.
//
// It imports no other nodectl package.
package slots

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// EnvSize is the size of a GRUB environment block (grub-editenv's
// DEFAULT_ENVBLK_SIZE); GRUB's save_env rewrites it in place, so it never
// changes size.
const EnvSize = 1024

const envHeader = "# GRUB Environment Block\n"

// Env is the variables of an environment block.
type Env map[string]string

// ParseEnv reads a block in grub-editenv's format: the header line, then
// name=value lines, padded with '#'. Backslash escapes (\\ and \n, as
// grub-editenv writes them) are undone.
func ParseEnv(b []byte) (Env, error) {
	if !bytes.HasPrefix(b, []byte(envHeader)) {
		return nil, errors.New("not a GRUB environment block (no header)")
	}
	env := Env{}
	for _, line := range strings.Split(string(b[len(envHeader):]), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		env[name] = unescape(value)
	}
	return env, nil
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			if s[i] == 'n' {
				b.WriteByte('\n')
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Encode writes the block: the header, the variables sorted by name, '#'
// padding to EnvSize. Empty values are left out. It fails when they do
// not fit.
func (e Env) Encode() ([]byte, error) {
	names := make([]string, 0, len(e))
	for n := range e {
		if strings.ContainsAny(n, "=\n#") || n == "" {
			return nil, fmt.Errorf("bad variable name %q", n)
		}
		if e[n] != "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var b bytes.Buffer
	b.WriteString(envHeader)
	for _, n := range names {
		v := strings.ReplaceAll(strings.ReplaceAll(e[n], `\`, `\\`), "\n", `\n`)
		fmt.Fprintf(&b, "%s=%s\n", n, v)
	}
	if b.Len() > EnvSize {
		return nil, fmt.Errorf("environment block: %d bytes of variables do not fit in %d", b.Len(), EnvSize)
	}
	b.Write(bytes.Repeat([]byte{'#'}, EnvSize-b.Len()))
	return b.Bytes(), nil
}

// ReadEnvFile reads the block at path.
func ReadEnvFile(path string) (Env, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	env, err := ParseEnv(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return env, nil
}

// WriteEnvFile rewrites the block at path in place when it exists (GRUB
// writes it through its sectors, so the file keeps its blocks; a rename
// would not matter to GRUB but would to a half-written FAT), or creates it.
func WriteEnvFile(path string, env Env) error {
	b, err := env.Encode()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Truncate(EnvSize); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
