package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// ClientConfigName is the client config's file name in a master's work dir.
const ClientConfigName = "client.yaml"

// Admin credential file names in a master's work dir.
const (
	AdminCertName = "admin.crt"
	AdminKeyName  = "admin.key"
)

// ClientConfig tells nodectl subcommands where the cluster is and how to
// trust and authenticate to it, so no one types --cacert.
type ClientConfig struct {
	Server string `yaml:"server"`         // https://host:port of a master
	CA     string `yaml:"ca"`             // CA certificate file
	Cert   string `yaml:"cert,omitempty"` // client certificate (admin), optional
	Key    string `yaml:"key,omitempty"`  // its key
}

// WriteClientConfig writes c to path (0600: it points at a key).
func WriteClientConfig(path string, c ClientConfig) error {
	b, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("client config: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("client config: %w", err)
	}
	return writeFile(path, append([]byte("# written by nodectl up; used by nodectl subcommands\n"), b...), secretMode)
}

// LoadClientConfig reads a client config; relative paths in it are
// relative to its directory.
func LoadClientConfig(path string) (ClientConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return ClientConfig{}, fmt.Errorf("client config: %w", err)
	}
	var c ClientConfig
	if err := yaml.Unmarshal(b, &c); err != nil {
		return ClientConfig{}, fmt.Errorf("client config %s: %w", path, err)
	}
	if c.Server == "" || c.CA == "" {
		return ClientConfig{}, fmt.Errorf("client config %s: server and ca are required", path)
	}
	if (c.Cert == "") != (c.Key == "") {
		return ClientConfig{}, fmt.Errorf("client config %s: cert and key go together", path)
	}
	dir := filepath.Dir(path)
	for _, p := range []*string{&c.CA, &c.Cert, &c.Key} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if !strings.Contains(c.Server, "://") {
		c.Server = "https://" + c.Server
	}
	return c, nil
}

// TLS is the client TLS the config describes: trust the cluster CA only,
// present the admin certificate when there is one.
func (c ClientConfig) TLS() (*tls.Config, error) {
	caPEM, err := os.ReadFile(c.CA)
	if err != nil {
		return nil, fmt.Errorf("client config: CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("client config: CA %s: no certificate", c.CA)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	if c.Cert != "" {
		cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("client config: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// SetupAdmin prepares a master's work dir for the CLI: the admin
// credential (workDir/admin.crt, admin.key) and workDir/client.yaml
// naming server (https://host:port), the CA and that credential. It
// returns the client config's path.
func SetupAdmin(workDir, server string, a *Authority, p Paths) (string, error) {
	crt, key := filepath.Join(workDir, AdminCertName), filepath.Join(workDir, AdminKeyName)
	if err := a.EnsureAdmin(crt, key); err != nil {
		return "", err
	}
	path := filepath.Join(workDir, ClientConfigName)
	if err := WriteClientConfig(path, ClientConfig{Server: server, CA: p.CACert(), Cert: crt, Key: key}); err != nil {
		return "", err
	}
	return path, nil
}

// ErrNoClientConfig is returned when no candidate client config exists.
var ErrNoClientConfig = errors.New("no client config")

// FindClientConfig returns the first existing file of candidates.
func FindClientConfig(candidates ...string) (string, error) {
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
	}
	return "", fmt.Errorf("%w (looked in %s)", ErrNoClientConfig, strings.Join(nonEmpty(candidates), ", "))
}

func nonEmpty(s []string) []string {
	var out []string
	for _, x := range s {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}
