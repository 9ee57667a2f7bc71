package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"time"
)

// ErrBadCSR is returned for a certificate request the CA will not sign.
var ErrBadCSR = errors.New("bad certificate request")

// SignRequest says what a node certificate certifies. The public key comes
// from a CSR, so the private key stays on the node.
type SignRequest struct {
	Name  string   // node name (hostname): the first DNS SAN
	Roles []string // RoleMaster, RoleAgent, RoleAdmin; the first (in the order master, agent, admin) names the CN
	IPs   []net.IP // IP SANs
	DNS   []string // more DNS SANs
	TTL   time.Duration
}

// ValidRole says whether r is a role certificates may carry.
func ValidRole(r string) bool { return r == RoleMaster || r == RoleAgent || r == RoleAdmin }

// Sign issues a certificate for the key in csr (PEM or DER). The CSR's
// signature proves possession of the key; its subject and SANs are
// ignored: what the certificate says comes from req, which the caller has
// authorized (a join token, or the certificate being renewed).
func (a *Authority) Sign(csr []byte, req SignRequest) ([]byte, error) {
	cr, err := ParseCSR(csr)
	if err != nil {
		return nil, err
	}
	if len(req.Roles) == 0 {
		return nil, fmt.Errorf("%w: no role", ErrBadCSR)
	}
	for _, r := range req.Roles {
		if !ValidRole(r) {
			return nil, fmt.Errorf("%w: unknown role %q", ErrBadCSR, r)
		}
	}
	roles := canonical(req.Roles)
	ttl := req.TTL
	if ttl <= 0 {
		ttl = a.NodeTTL
	}
	if ttl <= 0 {
		ttl = NodeTTL
	}
	now := time.Now()
	notAfter := now.Add(ttl)
	if notAfter.After(a.cert.NotAfter) {
		notAfter = a.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject: pkix.Name{
			CommonName:         "nodectl-" + roles[0],
			Organization:       []string{"nodectl"},
			OrganizationalUnit: roles,
		},
		NotBefore:   now.Add(-clockSkew),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: dedupIPs(req.IPs),
	}
	if roles[0] == RoleAdmin {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	for _, d := range append([]string{req.Name}, req.DNS...) {
		if d != "" && !slices.Contains(tmpl.DNSNames, d) {
			tmpl.DNSNames = append(tmpl.DNSNames, d)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, cr.PublicKey, a.key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	return pemEncode(pemCert, der), nil
}

func dedupIPs(ips []net.IP) []net.IP {
	var out []net.IP
	for _, ip := range ips {
		if ip == nil || slices.ContainsFunc(out, ip.Equal) {
			continue
		}
		out = append(out, ip)
	}
	return out
}

// ParseCSR parses a certificate request (PEM or DER) and checks its
// signature and key type (ECDSA P-256/P-384 or Ed25519).
func ParseCSR(b []byte) (*x509.CertificateRequest, error) {
	der := b
	if d, err := pemDecode(b, pemCSR); err == nil {
		der = d
	}
	cr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCSR, err)
	}
	if err := cr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCSR, err)
	}
	switch k := cr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, fmt.Errorf("%w: ECDSA curve %s not accepted", ErrBadCSR, k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("%w: key type %T not accepted", ErrBadCSR, k)
	}
	return cr, nil
}

// NewKey generates a node key (ECDSA P-256).
func NewKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

// NewCSR makes a PEM certificate request for key. The name is informative
// only: the CA decides what the certificate says.
func NewCSR(key crypto.Signer, name string) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
	if err != nil {
		return nil, fmt.Errorf("create CSR: %w", err)
	}
	return pemEncode(pemCSR, der), nil
}

// EncodeKey PEM-encodes an ECDSA private key.
func EncodeKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	return pemEncode(pemECKey, der), nil
}

// loadOrCreateKey reads the node key at path, creating it (0600) when missing.
func loadOrCreateKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k, err := NewKey()
		if err != nil {
			return nil, err
		}
		enc, err := EncodeKey(k)
		if err != nil {
			return nil, err
		}
		return k, writeFile(path, enc, secretMode)
	}
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	der, err := pemDecode(b, pemECKey)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	k, err := x509.ParseECPrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	return k, nil
}

// roleOrder is the canonical order of roles; DER sorts the OUs of a
// subject anyway, so certificates say roles in this order.
var roleOrder = []string{RoleMaster, RoleAgent, RoleAdmin}

func canonical(roles []string) []string {
	var out []string
	for _, r := range roleOrder {
		if slices.Contains(roles, r) {
			out = append(out, r)
		}
	}
	return out
}

// CertRoles are the roles a certificate carries (its known subject OUs),
// in canonical order: master, agent, admin.
func CertRoles(c *x509.Certificate) []string { return canonical(c.Subject.OrganizationalUnit) }

// CertName is the node name a certificate carries (its first DNS SAN, or
// the CN when it has none).
func CertName(c *x509.Certificate) string {
	if len(c.DNSNames) > 0 {
		return c.DNSNames[0]
	}
	return c.Subject.CommonName
}

// SignRequestFor is the request that renews c: same name, roles and SANs.
func SignRequestFor(c *x509.Certificate) SignRequest {
	var dns []string
	if len(c.DNSNames) > 1 {
		dns = slices.Clone(c.DNSNames[1:])
	}
	return SignRequest{
		Name: CertName(c), Roles: CertRoles(c), IPs: slices.Clone(c.IPAddresses), DNS: dns,
		TTL: c.NotAfter.Sub(c.NotBefore) - clockSkew,
	}
}

// IssueFiles creates (or reuses) the key at keyPath and writes a
// certificate for it to certPath, signed locally: the first master's own
// certificate and the admin credential.
func (a *Authority) IssueFiles(certPath, keyPath string, req SignRequest) error {
	key, err := loadOrCreateKey(keyPath)
	if err != nil {
		return err
	}
	csr, err := NewCSR(key, req.Name)
	if err != nil {
		return err
	}
	cert, err := a.Sign(csr, req)
	if err != nil {
		return err
	}
	return writeFile(certPath, cert, fileMode)
}
