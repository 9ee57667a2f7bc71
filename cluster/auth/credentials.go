package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"strings"
)

// Credentials are the principals and secrets of Mesos' --credentials
// (docs/authentication.md): JSON {"credentials":[{"principal","secret"}]},
// or the older text form, one "principal secret" per line. Secrets are
// kept as SHA-256 digests and compared in constant time.
type Credentials struct {
	digests map[string][32]byte
	secrets []string // for the log redactor only
}

// ParseCredentials reads --credentials: a path, file:///path or inline
// JSON. An empty file means no credentials.
func ParseCredentials(flag string) (*Credentials, error) {
	b, err := flagBytes(flag)
	if err != nil {
		return nil, fmt.Errorf("--credentials: %w", err)
	}
	c := &Credentials{digests: map[string][32]byte{}}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return c, nil
	}
	add := func(p, s string) error {
		if p == "" || s == "" {
			return fmt.Errorf("%w: --credentials: a credential needs a principal and a secret", ErrConfig)
		}
		if _, dup := c.digests[p]; dup {
			return fmt.Errorf("%w: --credentials: principal %q is listed twice", ErrConfig, p)
		}
		c.digests[p] = sha256.Sum256([]byte(s))
		c.secrets = append(c.secrets, s)
		return nil
	}
	if b[0] == '{' {
		var f struct {
			Credentials []struct {
				Principal string `json:"principal"`
				Secret    string `json:"secret"`
			} `json:"credentials"`
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			// The decoder's message never quotes the secret's value.
			return nil, fmt.Errorf("%w: --credentials: not Mesos' JSON form: %w", ErrConfig, err)
		}
		for _, x := range f.Credentials {
			if err := add(x.Principal, x.Secret); err != nil {
				return nil, err
			}
		}
		return c, nil
	}
	s := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; s.Scan(); n++ {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%w: --credentials: line %d is not \"principal secret\"", ErrConfig, n)
		}
		if err := add(f[0], f[1]); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// check reports whether principal is listed (known) and secret is its.
func (c *Credentials) check(principal, secret string) (known, ok bool) {
	if c == nil {
		return false, false
	}
	d, known := c.digests[principal]
	if !known {
		return false, false
	}
	got := sha256.Sum256([]byte(secret))
	return true, subtle.ConstantTimeCompare(d[:], got[:]) == 1
}

// Secrets are the secrets, for registering with a log redactor.
func (c *Credentials) Secrets() []string {
	if c == nil {
		return nil
	}
	return append([]string(nil), c.secrets...)
}

// Len is the number of credentials.
func (c *Credentials) Len() int {
	if c == nil {
		return 0
	}
	return len(c.digests)
}
