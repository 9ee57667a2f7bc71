// Package bundle makes and checks nodectl update bundles: a tar of a
// signed manifest (version, and the SHA-256 and size of each file) and the
// files themselves (the kernel and the initramfs of one system slot). The
// signature is ed25519 (Go's crypto/ed25519) over the manifest's bytes,
// with a key pair the build makes; the appliance trusts the public key
// its own initramfs carries (docs/appliance.md).
//
// Reading checks the signature before anything else and each file's hash
// while it streams, so nothing unverified is ever kept.
//
// It imports no other nodectl package.
package bundle

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"
)

// Names inside a bundle, in this order.
const (
	ManifestName  = "manifest.json"
	SignatureName = "manifest.sig"
	Format        = "nodectl-update/1"
)

// The files a bundle carries: the kernel and initramfs of an appliance
// slot, or (a binary bundle, for plain and systemd installs) the nodectl
// binary alone.
const (
	Kernel = "vmlinuz"
	Initrd = "initrd.img"
	Binary = "nodectl"
)

// Manifest describes a bundle.
type Manifest struct {
	Format  string          `json:"format"`
	Version string          `json:"version"`
	Files   map[string]File `json:"files"`
}

// File is one member's checksum.
type File struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Write writes a bundle of files (name → path) signed with key.
func Write(w io.Writer, key ed25519.PrivateKey, version string, files map[string]string, mtime time.Time) error {
	if version == "" {
		return errors.New("bundle: empty version")
	}
	m := Manifest{Format: Format, Version: version, Files: map[string]File{}}
	names := make([]string, 0, len(files))
	for name, p := range files {
		sum, size, err := hashFile(p)
		if err != nil {
			return err
		}
		m.Files[name] = File{SHA256: sum, Size: size}
		names = append(names, name)
	}
	sort.Strings(names)
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	sig := ed25519.Sign(key, mb)
	tw := tar.NewWriter(w)
	add := func(name string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	if err := add(ManifestName, int64(len(mb)), bytes.NewReader(mb)); err != nil {
		return err
	}
	if err := add(SignatureName, int64(len(sig)), bytes.NewReader(sig)); err != nil {
		return err
	}
	for _, name := range names {
		f, err := os.Open(files[name])
		if err != nil {
			return err
		}
		err = add(name, m.Files[name].Size, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("bundle %s: %w", name, err)
		}
	}
	return tw.Close()
}

func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Read checks a bundle from r against the trusted keys and extracts its
// files into dir (which should be empty). It fails, leaving no file it
// did not verify, on a bad or missing signature, a file the manifest does
// not list or that does not match it, or a missing kernel or initramfs.
func Read(r io.Reader, trusted []ed25519.PublicKey, dir string) (Manifest, error) {
	return ReadWith(r, trusted, dir, Kernel, Initrd)
}

// ReadWith is Read for a bundle that must carry the files named by need
// (Binary for a binary bundle).
func ReadWith(r io.Reader, trusted []ed25519.PublicKey, dir string, need ...string) (Manifest, error) {
	var m Manifest
	if len(trusted) == 0 {
		return m, errors.New("no trusted update key")
	}
	tr := tar.NewReader(r)
	var manifest, sig []byte
	for i := 0; i < 2; i++ {
		h, err := tr.Next()
		if err != nil {
			return m, fmt.Errorf("not an update bundle (%s and %s first): %w", ManifestName, SignatureName, err)
		}
		b, err := io.ReadAll(io.LimitReader(tr, 1<<20))
		if err != nil {
			return m, err
		}
		switch h.Name {
		case ManifestName:
			manifest = b
		case SignatureName:
			sig = b
		}
	}
	if manifest == nil || sig == nil {
		return m, fmt.Errorf("not an update bundle (%s and %s first)", ManifestName, SignatureName)
	}
	ok := false
	for _, k := range trusted {
		if ed25519.Verify(k, manifest, sig) {
			ok = true
			break
		}
	}
	if !ok {
		return m, errors.New("bundle signature does not verify with any trusted update key")
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		return m, fmt.Errorf("manifest: %w", err)
	}
	if m.Format != Format {
		return m, fmt.Errorf("bundle format %q, want %q", m.Format, Format)
	}
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m, err
		}
		want, listed := m.Files[h.Name]
		if !listed || seen[h.Name] || path.Base(h.Name) != h.Name {
			return m, fmt.Errorf("bundle member %q is not in the signed manifest", h.Name)
		}
		seen[h.Name] = true
		if err := extract(tr, filepath.Join(dir, h.Name), want); err != nil {
			return m, fmt.Errorf("%s: %w", h.Name, err)
		}
	}
	for _, need := range need {
		if !seen[need] {
			return m, fmt.Errorf("bundle lacks %s", need)
		}
	}
	for name := range m.Files {
		if !seen[name] {
			return m, fmt.Errorf("bundle lacks %s, which its manifest lists", name)
		}
	}
	return m, nil
}

func extract(r io.Reader, dst string, want File) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, want.Size+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && (n != want.Size || hex.EncodeToString(h.Sum(nil)) != want.SHA256) {
		err = errors.New("content does not match the signed manifest")
	}
	if err != nil {
		os.Remove(dst)
	}
	return err
}

// Peek reads a bundle's manifest without checking its signature: what a
// client shows or plans with before sending the bundle to nodes, which
// verify it (ReadWith) before using any of it.
func Peek(r io.Reader) (Manifest, error) {
	var m Manifest
	tr := tar.NewReader(r)
	h, err := tr.Next()
	if err != nil || h.Name != ManifestName {
		return m, fmt.Errorf("not an update bundle (%s first)", ManifestName)
	}
	b, err := io.ReadAll(io.LimitReader(tr, 1<<20))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("manifest: %w", err)
	}
	if m.Format != Format {
		return m, fmt.Errorf("bundle format %q, want %q", m.Format, Format)
	}
	return m, nil
}

// GenerateKey writes a new ed25519 private key to path (PEM, PKCS #8,
// mode 0600); it refuses to overwrite one.
func GenerateKey(path string) (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return nil, err
	}
	return priv, f.Close()
}

// LoadPrivateKey reads a key GenerateKey wrote.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: not a PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an ed25519 key", path)
	}
	return priv, nil
}

// MarshalPublicKey is the PEM (PKIX) form of a public key.
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKeys reads every PEM public key in b (a file may list several).
func ParsePublicKeys(b []byte) ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "PUBLIC KEY" {
			continue
		}
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, err
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, errors.New("public key is not ed25519")
		}
		out = append(out, pub)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM public key")
	}
	return out, nil
}
