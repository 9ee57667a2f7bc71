package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"nodectl/node/internal/bundle"
)

// Binary bundle names under -out.
const (
	binaryBundleName = "nodectl-binary.tar" // the nodectl binary, signed
	publicKeyName    = "update.pub"         // the key plain installs trust (up --update-key)
)

// BuildBinaryBundle writes -out/nodectl-binary.tar, the nodectl binary
// signed with -update-key (a binary bundle: what a plain or systemd
// install's node upgrade takes, docs/upgrade.md), and -out/update.pub,
// the public key its nodes are started with (--update-key).
func BuildBinaryBundle(cfg Config) ([]string, error) {
	if cfg.Version == "" {
		return nil, errors.New("-binary-bundle needs -version")
	}
	if cfg.UpdateKey == "" {
		return nil, errors.New("-binary-bundle needs -update-key")
	}
	key, err := updateKey(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}
	pub, err := bundle.MarshalPublicKey(key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	pubPath := filepath.Join(cfg.Out, publicKeyName)
	if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
		return nil, err
	}
	out := filepath.Join(cfg.Out, binaryBundleName)
	f, err := os.Create(out + ".tmp")
	if err != nil {
		return nil, err
	}
	defer os.Remove(out + ".tmp")
	err = bundle.Write(f, key, cfg.Version, map[string]string{bundle.Binary: cfg.Nodectl}, cfg.Epoch)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("binary bundle: %w", err)
	}
	return []string{out, pubPath}, os.Rename(out+".tmp", out)
}
