package pki

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// secretSize is the size of the cluster secret that seals the CA key.
const secretSize = 32

// sealInfo separates the sealing key from any other use of the secret.
const sealInfo = "nodectl ca key seal v1"

// ErrSealed is returned when the CA key cannot be unsealed: a wrong cluster
// secret or a tampered blob.
var ErrSealed = errors.New("CA key cannot be unsealed (wrong cluster secret or corrupted key)")

// newSecret returns a fresh random cluster secret.
func newSecret() []byte {
	b := make([]byte, secretSize)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b
}

func encodeSecret(s []byte) []byte { return []byte(hex.EncodeToString(s) + "\n") }

func decodeSecret(b []byte) ([]byte, error) {
	s, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(s) != secretSize {
		return nil, fmt.Errorf("cluster secret: want %d hex-encoded bytes", secretSize)
	}
	return s, nil
}

// sealKey derives an AES-256 key from the secret with HKDF-SHA256. The
// secret is 256 random bits, so no password stretching is needed.
func sealKey(secret []byte) (cipher.AEAD, error) { return deriveAEAD(secret, sealInfo) }

// deriveAEAD derives an AES-256-GCM AEAD for one purpose (info) from the
// cluster secret: distinct infos give independent keys.
func deriveAEAD(secret []byte, info string) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, secret, nil, info, 32)
	if err != nil {
		return nil, fmt.Errorf("derive seal key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("seal cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// seal encrypts plain with AES-256-GCM; aad (the CA certificate) binds the
// sealed key to its certificate. The result is nonce || ciphertext.
func seal(secret, plain, aad []byte) ([]byte, error) {
	aead, err := sealKey(secret)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, plain, aad), nil
}

func unseal(secret, sealed, aad []byte) ([]byte, error) {
	aead, err := sealKey(secret)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, ErrSealed
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], aad)
	if err != nil {
		return nil, ErrSealed
	}
	return plain, nil
}

// AEAD derives an AES-256-GCM AEAD from the cluster secret for one
// purpose, named by info (say "nodectl secret store v1"); it is never the
// CA key's sealing key. Every master holds the same secret (MasterBundle),
// so every master derives the same key.
func (a *Authority) AEAD(info string) (cipher.AEAD, error) {
	if info == sealInfo {
		return nil, errors.New("AEAD: info is reserved for the CA key")
	}
	return deriveAEAD(a.secret, info)
}
