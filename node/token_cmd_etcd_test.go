package node_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"nodectl/cluster/pki"
	"nodectl/embed"
	"nodectl/node/nodetest"
)

// etcd on mutual TLS with the cluster's certificates: masters get in,
// agents (same CA, other CN), other clusters' masters and plain HTTP do
// not, and a renewed certificate is served without restarting etcd.
func TestTokenEtcdMutualTLS(t *testing.T) {
	t.Parallel()
	p := pki.Paths{Dir: filepath.Join(t.TempDir(), "pki")}
	a, id, _, err := pki.InitMaster(p, pki.SignRequest{Name: "m1", IPs: pki.NodeIPs("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	et := id.EtcdTLS()
	clientURL := fmt.Sprintf("https://127.0.0.1:%d", nodetest.FreePort(t))
	srv, err := embed.New(embed.Config{
		Dir: filepath.Join(t.TempDir(), "etcd"), ClientURL: clientURL,
		PeerURL: fmt.Sprintf("https://127.0.0.1:%d", nodetest.FreePort(t)),
		TLS:     &embed.TLS{CertFile: et.CertFile, KeyFile: et.KeyFile, TrustedCAFile: et.TrustedCAFile, AllowedCNs: et.AllowedCNs},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), TLS: pki.ClientTLS(id, pki.RoleMaster), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatalf("master put over mTLS: %v", err)
	}

	version := func(cfg *tls.Config) error {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		defer c.CloseIdleConnections()
		resp, err := c.Get(clientURL + "/version")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	if err := version(pki.ClientTLS(id)); err != nil {
		t.Fatalf("master certificate: %v", err)
	}
	agentDir := pki.Paths{Dir: t.TempDir()}
	os.WriteFile(agentDir.CACert(), a.CertPEM(), 0o644)
	if err := a.IssueFiles(agentDir.NodeCert(), agentDir.NodeKey(), pki.SignRequest{Name: "a1", Roles: []string{pki.RoleAgent}}); err != nil {
		t.Fatal(err)
	}
	agent, err := pki.LoadIdentity(agentDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := version(pki.ClientTLS(agent)); err == nil {
		t.Error("etcd accepted an agent certificate")
	}
	_, foreign, _, err := pki.InitMaster(pki.Paths{Dir: t.TempDir()}, pki.SignRequest{Name: "evil", IPs: pki.NodeIPs()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := pki.ClientTLS(foreign)
	cfg.RootCAs = id.Pool()
	if err := version(cfg); err == nil {
		t.Error("etcd accepted another cluster's master certificate")
	}
	if err := version(&tls.Config{RootCAs: id.Pool()}); err == nil {
		t.Error("etcd accepted a client without certificate")
	}
	if resp, err := http.Get("http" + clientURL[len("https"):] + "/version"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("etcd served plain HTTP")
		}
	}

	// Renew: etcd serves the new certificate on the next handshake.
	csr, _ := id.CSR()
	certPEM, err := a.LocalRenew(id)(t.Context(), csr)
	if err != nil {
		t.Fatal(err)
	}
	if err := id.Install(certPEM); err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", clientURL[len("https://"):], pki.ClientTLS(id))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := conn.ConnectionState().PeerCertificates[0]; !got.Equal(id.Cert()) {
		t.Errorf("etcd serves serial %x after renewal, want %x", got.SerialNumber, id.Cert().SerialNumber)
	}
	if _, err := cli.Get(ctx, "k"); err != nil {
		t.Fatalf("get after renewal: %v", err)
	}
}

// Two etcd members talk over peer mutual TLS with master certificates of
// the same CA: the second joins the first (as a learner, as masters join)
// and gets what the first wrote.
func TestTokenEtcdPeerTLS(t *testing.T) {
	t.Parallel()
	a, _, err := pki.InitAuthority(pki.Paths{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	type member struct {
		id                 *pki.Identity
		name, client, peer string
	}
	mk := func(name string) member {
		p := pki.Paths{Dir: t.TempDir()}
		os.WriteFile(p.CACert(), a.CertPEM(), 0o644)
		if err := a.IssueFiles(p.NodeCert(), p.NodeKey(), pki.SignRequest{Name: name, Roles: []string{pki.RoleMaster}, IPs: pki.NodeIPs()}); err != nil {
			t.Fatal(err)
		}
		id, err := pki.LoadIdentity(p)
		if err != nil {
			t.Fatal(err)
		}
		return member{id, name, fmt.Sprintf("https://127.0.0.1:%d", nodetest.FreePort(t)), fmt.Sprintf("https://127.0.0.1:%d", nodetest.FreePort(t))}
	}
	start := func(m member, initial string, existing bool) {
		et := m.id.EtcdTLS()
		srv, err := embed.New(embed.Config{
			Name: m.name, Dir: filepath.Join(t.TempDir(), "etcd"), ClientURL: m.client, PeerURL: m.peer,
			InitialCluster: initial, Existing: existing,
			TLS:    &embed.TLS{CertFile: et.CertFile, KeyFile: et.KeyFile, TrustedCAFile: et.TrustedCAFile, AllowedCNs: et.AllowedCNs},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(t.Context()); err != nil {
			t.Fatalf("start %s: %v", m.name, err)
		}
		t.Cleanup(srv.Close)
	}
	client := func(m member) *clientv3.Client {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{m.client}, TLS: pki.ClientTLS(m.id, pki.RoleMaster), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		return cli
	}
	m1, m2 := mk("m1"), mk("m2")
	start(m1, "", false)
	c1 := client(m1)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := c1.Put(ctx, "k", "from m1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.MemberAddAsLearner(ctx, []string{m2.peer}); err != nil {
		t.Fatal(err)
	}
	start(m2, "m1="+m1.peer+",m2="+m2.peer, true)
	// The learner has the data only if replication over peer TLS works.
	c2 := client(m2)
	nodetest.WaitFor(t, 10*time.Second, "replication to m2", func() bool {
		resp, err := c2.Get(ctx, "k", clientv3.WithSerializable())
		return err == nil && len(resp.Kvs) == 1 && string(resp.Kvs[0].Value) == "from m1"
	})
}
