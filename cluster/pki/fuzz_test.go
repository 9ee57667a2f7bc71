package pki

import (
	"strings"
	"testing"
)

// ParseToken never panics, and what it accepts prints back to itself.
func FuzzParseToken(f *testing.F) {
	f.Add("NDCTL1-" + strings.Repeat("ab", 32) + "-0123456789abcdef." + strings.Repeat("f", 32))
	f.Add("NDCTL1--.")
	f.Add("K10abc::server:secret")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			return
		}
		if tok.String() != strings.TrimSpace(s) {
			t.Fatalf("%q parsed to %q", s, tok.String())
		}
		if _, err := ParseToken(tok.String()); err != nil {
			t.Fatalf("reparse %q: %v", tok.String(), err)
		}
	})
}

// ParseCSR never panics on arbitrary input.
func FuzzParseCSR(f *testing.F) {
	k, _ := NewKey()
	csr, _ := NewCSR(k, "n")
	f.Add(csr)
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = ParseCSR(b) })
}
