package pki

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Lifetimes of what the CA issues; Authority.NodeTTL overrides the node default.
const (
	CATTL      = 10 * 365 * 24 * time.Hour
	NodeTTL    = 30 * 24 * time.Hour
	AdminTTL   = 365 * 24 * time.Hour
	clockSkew  = time.Minute // certificates are valid from a minute ago
	keyPrefix  = "/nodectl/pki/"
	caKey      = CARecordKey
	pemCert    = "CERTIFICATE"
	pemECKey   = "EC PRIVATE KEY"
	pemSealed  = "NODECTL SEALED CA KEY"
	pemCSR     = "CERTIFICATE REQUEST"
	fileMode   = 0o644
	secretMode = 0o600
)

// Roles a certificate carries in its subject OU. The first role also names
// the subject CN ("nodectl-master"), which etcd's AllowedCNs can match.
const (
	RoleMaster = "master"
	RoleAgent  = "agent"
	RoleAdmin  = "admin"
)

// MasterCN is the subject CN of every certificate whose first role is
// master: etcd accepts peers and clients with this CN only, so agents,
// whose certificates come from the same CA, cannot reach etcd.
const MasterCN = "nodectl-" + RoleMaster

var (
	// ErrNoCA is returned when a directory holds no CA.
	ErrNoCA = errors.New("no cluster CA here")
	// ErrForeignCA is returned when etcd already holds another cluster's CA.
	ErrForeignCA = errors.New("etcd holds a different cluster CA")
)

// Paths names the files of a node's PKI directory (on a node, <work-dir>/pki).
type Paths struct{ Dir string }

func (p Paths) path(name string) string { return filepath.Join(p.Dir, name) }

// CACert is the cluster CA certificate (PEM), on every node.
func (p Paths) CACert() string { return p.path("ca.crt") }

// CAKey is the CA private key sealed with the cluster secret, on masters.
func (p Paths) CAKey() string { return p.path("ca.key.sealed") }

// Secret is the cluster secret that unseals the CA key (0600), on masters.
func (p Paths) Secret() string { return p.path("cluster.secret") }

// NodeKey is this node's private key (0600); it never leaves the node.
func (p Paths) NodeKey() string { return p.path("node.key") }

// NodeCert is this node's certificate (PEM), replaced on renewal.
func (p Paths) NodeCert() string { return p.path("node.crt") }

// Authority is the cluster CA with its key unsealed in memory. A master
// holds one and signs node certificates with it.
type Authority struct {
	cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey
	sealed  []byte // the key sealed with secret, as stored
	secret  []byte

	// NodeTTL is the lifetime of node certificates; default NodeTTL.
	NodeTTL time.Duration
}

// InitAuthority opens the CA in p, creating the CA and the cluster secret
// when p has none (the first master). created says which happened.
func InitAuthority(p Paths) (a *Authority, created bool, err error) {
	a, err = OpenAuthority(p)
	if err == nil || !errors.Is(err, ErrNoCA) {
		return a, false, err
	}
	a, err = newAuthority()
	if err != nil {
		return nil, false, err
	}
	if err := a.save(p); err != nil {
		return nil, false, err
	}
	return a, true, nil
}

func newAuthority() (*Authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "nodectl cluster CA", Organization: []string{"nodectl"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(CATTL),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal CA key: %w", err)
	}
	secret := newSecret()
	sealed, err := seal(secret, keyDER, der)
	if err != nil {
		return nil, err
	}
	return &Authority{cert: cert, certPEM: pemEncode(pemCert, der), key: key, sealed: sealed, secret: secret}, nil
}

// OpenAuthority loads and unseals the CA of p; ErrNoCA when p has none.
func OpenAuthority(p Paths) (*Authority, error) {
	certPEM, err := os.ReadFile(p.CACert())
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoCA, p.CACert())
	}
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	sealedPEM, err := os.ReadFile(p.CAKey())
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s (this node is not a master)", ErrNoCA, p.CAKey())
	}
	if err != nil {
		return nil, fmt.Errorf("read CA key: %w", err)
	}
	secretB, err := os.ReadFile(p.Secret())
	if err != nil {
		return nil, fmt.Errorf("read cluster secret: %w", err)
	}
	secret, err := decodeSecret(secretB)
	if err != nil {
		return nil, err
	}
	sealed, err := pemDecode(sealedPEM, pemSealed)
	if err != nil {
		return nil, fmt.Errorf("CA key %s: %w", p.CAKey(), err)
	}
	return authorityFrom(certPEM, sealed, secret)
}

// authorityFrom unseals a CA and checks that key and certificate belong together.
func authorityFrom(certPEM, sealed, secret []byte) (*Authority, error) {
	cert, err := ParseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, errors.New("CA certificate: not a CA")
	}
	keyDER, err := unseal(secret, sealed, cert.Raw)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParseECPrivateKey(keyDER)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(key.Public()) {
		return nil, errors.New("CA key does not match the CA certificate")
	}
	return &Authority{cert: cert, certPEM: pemEncode(pemCert, cert.Raw), key: key, sealed: sealed, secret: secret}, nil
}

func (a *Authority) save(p Paths) error {
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return fmt.Errorf("create pki dir: %w", err)
	}
	// The certificate goes last: its presence is what marks a CA as there.
	if err := writeFile(p.Secret(), encodeSecret(a.secret), secretMode); err != nil {
		return err
	}
	if err := writeFile(p.CAKey(), pemEncode(pemSealed, a.sealed), secretMode); err != nil {
		return err
	}
	return writeFile(p.CACert(), a.certPEM, fileMode)
}

// Cert is the CA certificate.
func (a *Authority) Cert() *x509.Certificate { return a.cert }

// CertPEM is the CA certificate, PEM-encoded.
func (a *Authority) CertPEM() []byte { return slices.Clone(a.certPEM) }

// Hash is the hex SHA-256 of the CA certificate (DER), the value tokens pin.
func (a *Authority) Hash() string { return CAHash(a.cert) }

// CAHash is the hex SHA-256 of a certificate's DER encoding.
func CAHash(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// MasterBundle is what a joining master needs to sign certificates too: the
// sealed CA key and the secret that unseals it. It is sent only over TLS to
// holders of a master token.
type MasterBundle struct {
	SealedKey []byte `json:"sealed_key"`
	Secret    []byte `json:"secret"`
}

// Bundle exports the sealed CA key for a joining master.
func (a *Authority) Bundle() MasterBundle {
	return MasterBundle{SealedKey: slices.Clone(a.sealed), Secret: slices.Clone(a.secret)}
}

// ImportAuthority stores a CA received on a master join in p and opens it.
func ImportAuthority(p Paths, caPEM []byte, b MasterBundle) (*Authority, error) {
	a, err := authorityFrom(caPEM, b.SealedKey, b.Secret)
	if err != nil {
		return nil, err
	}
	if err := a.save(p); err != nil {
		return nil, err
	}
	return a, nil
}

// CARecordKey is the etcd key of the CA record (certificate and sealed key).
const CARecordKey = "/nodectl/pki/ca"

// caRecord is the CA as stored in etcd: public certificate and sealed key;
// the secret never goes to etcd, so etcd data and snapshots alone do not
// reveal the CA key.
type caRecord struct {
	Cert      string `json:"cert"`
	SealedKey []byte `json:"sealed_key"`
}

// Publish records the CA in etcd when none is there yet and otherwise checks
// that etcd holds this same CA (ErrForeignCA if not). Every master calls it
// at start.
func (a *Authority) Publish(ctx context.Context, cli *clientv3.Client) error {
	rec, _ := json.Marshal(caRecord{Cert: string(a.certPEM), SealedKey: a.sealed})
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(caKey), "=", 0)).
		Then(clientv3.OpPut(caKey, string(rec))).
		Else(clientv3.OpGet(caKey)).Commit()
	if err != nil {
		return fmt.Errorf("publish CA: %w", err)
	}
	if resp.Succeeded {
		return nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return fmt.Errorf("publish CA: record vanished")
	}
	var got caRecord
	if err := json.Unmarshal(kvs[0].Value, &got); err != nil {
		return fmt.Errorf("CA record in etcd: %w", err)
	}
	other, err := ParseCert([]byte(got.Cert))
	if err != nil {
		return fmt.Errorf("CA record in etcd: %w", err)
	}
	if !bytes.Equal(other.Raw, a.cert.Raw) {
		return fmt.Errorf("%w: etcd has %s, this master has %s", ErrForeignCA, CAHash(other)[:16], a.Hash()[:16])
	}
	return nil
}

// RestoreAuthority rebuilds a master's CA files in p from the CA record as
// stored in etcd under CARecordKey (read from a snapshot file, say) and the
// cluster secret already in p.Secret(), copied there by the operator: the
// way back when every master's work dir is lost but a snapshot and the
// secret were kept.
func RestoreAuthority(p Paths, record []byte) (*Authority, error) {
	secretB, err := os.ReadFile(p.Secret())
	if err != nil {
		return nil, fmt.Errorf("restore CA: the cluster secret must be in place: %w", err)
	}
	secret, err := decodeSecret(secretB)
	if err != nil {
		return nil, err
	}
	var rec caRecord
	if err := json.Unmarshal(record, &rec); err != nil {
		return nil, fmt.Errorf("restore CA: record: %w", err)
	}
	a, err := authorityFrom([]byte(rec.Cert), rec.SealedKey, secret)
	if err != nil {
		return nil, fmt.Errorf("restore CA: %w", err)
	}
	if err := a.save(p); err != nil {
		return nil, err
	}
	return a, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n.Add(n, big.NewInt(1))
}

func pemEncode(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// pemDecode returns the first block of the given type.
func pemDecode(b []byte, typ string) ([]byte, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("no %s PEM block", typ)
		}
		if blk.Type == typ {
			return blk.Bytes, nil
		}
	}
}

// ParseCert parses the first certificate of a PEM bundle.
func ParseCert(b []byte) (*x509.Certificate, error) {
	der, err := pemDecode(b, pemCert)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// writeFile replaces path atomically (temp file, fsync, rename), so readers
// such as etcd never see half a certificate.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func pemDecodeBlock(b []byte) (*pem.Block, []byte) { return pem.Decode(b) }
