package pki

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync/atomic"
	"time"
)

// ErrNoIdentity is returned when a node has no certificate yet (it has to join).
var ErrNoIdentity = errors.New("no node certificate")

// Identity is a node's key and certificate with the cluster CA. The
// certificate is swapped atomically on renewal; TLS configs built from an
// Identity read the current one on every handshake, so nothing restarts.
type Identity struct {
	paths Paths
	key   *ecdsa.PrivateKey
	ca    *x509.Certificate
	pool  *x509.CertPool
	cur   atomic.Pointer[tls.Certificate] // Leaf is set
}

// HasIdentity says whether p holds a node certificate and key.
func HasIdentity(p Paths) bool {
	for _, f := range []string{p.CACert(), p.NodeKey(), p.NodeCert()} {
		if _, err := os.Stat(f); err != nil {
			return false
		}
	}
	return true
}

// LoadIdentity loads the CA, key and certificate of p (ErrNoIdentity when
// the node has not joined).
func LoadIdentity(p Paths) (*Identity, error) {
	if !HasIdentity(p) {
		return nil, fmt.Errorf("%w in %s", ErrNoIdentity, p.Dir)
	}
	caPEM, err := os.ReadFile(p.CACert())
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	ca, err := ParseCert(caPEM)
	if err != nil {
		return nil, fmt.Errorf("CA %s: %w", p.CACert(), err)
	}
	key, err := loadOrCreateKey(p.NodeKey())
	if err != nil {
		return nil, err
	}
	certPEM, err := os.ReadFile(p.NodeCert())
	if err != nil {
		return nil, fmt.Errorf("read node certificate: %w", err)
	}
	id := newIdentity(p, ca, key)
	if err := id.swap(certPEM); err != nil {
		return nil, fmt.Errorf("node certificate %s: %w", p.NodeCert(), err)
	}
	return id, nil
}

func newIdentity(p Paths, ca *x509.Certificate, key *ecdsa.PrivateKey) *Identity {
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &Identity{paths: p, key: key, ca: ca, pool: pool}
}

// swap checks certPEM (for this key, issued by the CA) and makes it current.
func (id *Identity) swap(certPEM []byte) error {
	leaf, err := ParseCert(certPEM)
	if err != nil {
		return err
	}
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(id.key.Public()) {
		return errors.New("certificate is not for this node's key")
	}
	if err := leaf.CheckSignatureFrom(id.ca); err != nil {
		return fmt.Errorf("certificate not issued by the cluster CA: %w", err)
	}
	id.cur.Store(&tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: id.key, Leaf: leaf})
	return nil
}

// Install verifies a new certificate, writes it to the node's certificate
// file (atomically, for etcd which reads the file) and makes it current.
func (id *Identity) Install(certPEM []byte) error {
	old := id.cur.Load()
	if err := id.swap(certPEM); err != nil {
		return err
	}
	if err := writeFile(id.paths.NodeCert(), certPEM, fileMode); err != nil {
		if old != nil {
			id.cur.Store(old)
		}
		return err
	}
	return nil
}

// Cert is the current certificate.
func (id *Identity) Cert() *x509.Certificate { return id.cur.Load().Leaf }

// Roles are the roles of the current certificate.
func (id *Identity) Roles() []string { return CertRoles(id.Cert()) }

// CA is the cluster CA certificate.
func (id *Identity) CA() *x509.Certificate { return id.ca }

// Pool is a pool holding only the cluster CA.
func (id *Identity) Pool() *x509.CertPool { return id.pool }

// Paths are the node's PKI files.
func (id *Identity) Paths() Paths { return id.paths }

// CSR is a certificate request for the node's key (used on renewal).
func (id *Identity) CSR() ([]byte, error) { return NewCSR(id.key, CertName(id.Cert())) }

// GetCertificate returns the current certificate (tls.Config.GetCertificate).
func (id *Identity) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return id.cur.Load(), nil
}

// GetClientCertificate returns the current certificate
// (tls.Config.GetClientCertificate).
func (id *Identity) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return id.cur.Load(), nil
}

// InitMaster prepares the PKI of a master that creates or already runs the
// cluster: the CA (created when p has none), and the master's own
// certificate, issued when missing or when it no longer names every address
// in req (the node's IPs changed). created says whether the CA is new.
func InitMaster(p Paths, req SignRequest) (a *Authority, id *Identity, created bool, err error) {
	a, created, err = InitAuthority(p)
	if err != nil {
		return nil, nil, false, err
	}
	if len(req.Roles) == 0 {
		req.Roles = []string{RoleMaster}
	}
	if HasIdentity(p) {
		id, err = LoadIdentity(p)
		if err == nil && covers(id.Cert(), req) && time.Now().Before(id.Cert().NotAfter) {
			return a, id, created, nil
		}
	}
	if err := a.IssueFiles(p.NodeCert(), p.NodeKey(), req); err != nil {
		return nil, nil, false, err
	}
	id, err = LoadIdentity(p)
	if err != nil {
		return nil, nil, false, err
	}
	return a, id, created, nil
}

// covers says whether c names everything req asks for.
func covers(c *x509.Certificate, req SignRequest) bool {
	for _, ip := range req.IPs {
		if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
			return false
		}
	}
	for _, d := range append([]string{req.Name}, req.DNS...) {
		if d != "" && !slices.Contains(c.DNSNames, d) {
			return false
		}
	}
	return slices.Equal(CertRoles(c), canonical(req.Roles))
}

// EnsureAdmin writes an admin client credential (role admin) to certPath
// and keyPath (0600) unless a valid one is there; one past 60% of its life
// is re-issued. The CLI on a master uses it for the token endpoints.
func (a *Authority) EnsureAdmin(certPath, keyPath string) error {
	if b, err := os.ReadFile(certPath); err == nil {
		if c, err := ParseCert(b); err == nil && c.CheckSignatureFrom(a.cert) == nil &&
			time.Now().Before(c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore)*6/10)) {
			if _, err := os.Stat(keyPath); err == nil {
				return nil
			}
		}
	}
	return a.IssueFiles(certPath, keyPath, SignRequest{Name: "admin", Roles: []string{RoleAdmin}, TTL: AdminTTL})
}

// NodeIPs are the IP SANs a node certificate needs: the given addresses
// (bind, advertise; unspecified ones skipped) and the loopback addresses.
func NodeIPs(addrs ...string) []net.IP {
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	for _, a := range addrs {
		ip := net.ParseIP(a)
		if ip == nil || ip.IsUnspecified() || slices.ContainsFunc(ips, ip.Equal) {
			continue
		}
		ips = append(ips, ip)
	}
	return ips
}
