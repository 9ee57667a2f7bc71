package embed

import (
	"errors"
	"net/url"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	etcdembed "go.etcd.io/etcd/server/v3/embed"
)

// TLS is mutual TLS for the member's client and peer ports, from files:
// etcd reads the certificate files on every handshake, so a certificate
// renewed in place (written atomically) is used without a restart.
type TLS struct {
	CertFile, KeyFile, TrustedCAFile string
	// AllowedCNs, when set, admits only clients and peers whose
	// certificate has one of these subject CNs.
	AllowedCNs []string
}

func (t *TLS) validate(urls ...string) error {
	if t == nil {
		return nil
	}
	if t.CertFile == "" || t.KeyFile == "" || t.TrustedCAFile == "" {
		return errors.New("etcd config: TLS needs CertFile, KeyFile and TrustedCAFile")
	}
	for _, s := range urls {
		if s == "" {
			continue
		}
		if u, err := url.Parse(s); err == nil && u.Scheme != "https" {
			return errors.New("etcd config: with TLS every URL must be https: " + s)
		}
	}
	return nil
}

// apply sets client and peer TLS (client certificates required) on ec.
func (t *TLS) apply(ec *etcdembed.Config) {
	if t == nil {
		return
	}
	info := transport.TLSInfo{
		CertFile: t.CertFile, KeyFile: t.KeyFile, TrustedCAFile: t.TrustedCAFile,
		ClientCertAuth: true, AllowedCNs: t.AllowedCNs,
	}
	ec.ClientTLSInfo, ec.PeerTLSInfo = info, info
}
