package bundle

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fixture(t *testing.T) (dir string, key ed25519.PrivateKey, pub []ed25519.PublicKey, files map[string]string) {
	t.Helper()
	dir = t.TempDir()
	key, err := GenerateKey(filepath.Join(dir, "update.key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateKey(filepath.Join(dir, "update.key")); err == nil {
		t.Fatal("GenerateKey overwrote a key")
	}
	loaded, err := LoadPrivateKey(filepath.Join(dir, "update.key"))
	if err != nil || !loaded.Equal(key) {
		t.Fatalf("LoadPrivateKey: %v", err)
	}
	pemPub, err := MarshalPublicKey(key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	pub, err = ParsePublicKeys(pemPub)
	if err != nil || len(pub) != 1 {
		t.Fatalf("ParsePublicKeys: %v", err)
	}
	files = map[string]string{Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd.img")}
	os.WriteFile(files[Kernel], bytes.Repeat([]byte("K"), 100_000), 0o644)
	os.WriteFile(files[Initrd], bytes.Repeat([]byte("I"), 300_001), 0o644)
	return dir, key, pub, files
}

func TestBundleRoundTrip(t *testing.T) {
	_, key, pub, files := fixture(t)
	var buf bytes.Buffer
	if err := Write(&buf, key, "v2", files, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	m, err := Read(bytes.NewReader(buf.Bytes()), pub, out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != "v2" || m.Files[Initrd].Size != 300_001 {
		t.Errorf("manifest %+v", m)
	}
	got, _ := os.ReadFile(filepath.Join(out, Initrd))
	want, _ := os.ReadFile(files[Initrd])
	if !bytes.Equal(got, want) {
		t.Error("initrd differs")
	}
}

// rewrite copies a bundle, changing members with f.
func rewrite(t *testing.T, in []byte, f func(name string, body []byte) []byte) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(in))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		body = f(h.Name, body)
		h.Size = int64(len(body))
		tw.WriteHeader(h)
		tw.Write(body)
	}
	tw.Close()
	return out.Bytes()
}

func TestBundleRejects(t *testing.T) {
	_, key, pub, files := fixture(t)
	var buf bytes.Buffer
	if err := Write(&buf, key, "v2", files, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	_, otherKey, otherPub, _ := fixture(t)
	var other bytes.Buffer
	Write(&other, otherKey, "v2", files, time.Unix(0, 0))

	for name, tc := range map[string]struct {
		data []byte
		keys []ed25519.PublicKey
		want string
	}{
		"untrusted signer": {other.Bytes(), pub, "does not verify"},
		"no trusted key":   {good, nil, "no trusted update key"},
		"changed initrd": {rewrite(t, good, func(n string, b []byte) []byte {
			if n == Initrd {
				b[7] ^= 1
			}
			return b
		}), pub, "does not match"},
		"changed manifest": {rewrite(t, good, func(n string, b []byte) []byte {
			if n == ManifestName {
				return bytes.Replace(b, []byte(`"v2"`), []byte(`"v3"`), 1)
			}
			return b
		}), pub, "does not verify"},
		"not a bundle": {[]byte("this is an ISO, honest"), pub, "not an update bundle"},
	} {
		t.Run(name, func(t *testing.T) {
			out := t.TempDir()
			_, err := Read(bytes.NewReader(tc.data), tc.keys, out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Read: %v, want %q", err, tc.want)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Errorf("unverified files left: %v", entries)
			}
		})
	}
	// Both keys trusted (a key rotation): either signature verifies.
	if _, err := Read(bytes.NewReader(other.Bytes()), append(pub, otherPub...), t.TempDir()); err != nil {
		t.Errorf("second trusted key: %v", err)
	}
}

// A binary bundle (the nodectl binary alone, for plain installs) reads
// with ReadWith(Binary) and not as a slot bundle; Peek shows its version
// without the key.
func TestBinaryBundle(t *testing.T) {
	dir, key, pub, _ := fixture(t)
	binPath := filepath.Join(dir, "nodectl-bin")
	os.WriteFile(binPath, bytes.Repeat([]byte("B"), 50_000), 0o755)
	var buf bytes.Buffer
	if err := Write(&buf, key, "v2", map[string]string{Binary: binPath}, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	m, err := Peek(bytes.NewReader(buf.Bytes()))
	if err != nil || m.Version != "v2" {
		t.Fatalf("Peek: %+v %v", m, err)
	}
	if _, err := Read(bytes.NewReader(buf.Bytes()), pub, t.TempDir()); err == nil || !strings.Contains(err.Error(), "lacks vmlinuz") {
		t.Fatalf("Read of a binary bundle: %v, want lacks vmlinuz", err)
	}
	out := t.TempDir()
	if m, err := ReadWith(bytes.NewReader(buf.Bytes()), pub, out, Binary); err != nil || m.Version != "v2" {
		t.Fatalf("ReadWith: %+v %v", m, err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, Binary)); len(b) != 50_000 {
		t.Fatalf("extracted binary: %d bytes", len(b))
	}
	if _, err := Peek(strings.NewReader("not a tar")); err == nil {
		t.Fatal("Peek took garbage")
	}
}
