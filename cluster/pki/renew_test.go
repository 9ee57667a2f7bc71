package pki

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"
)

// Renewal happens at a random point between 50% and 80% of the
// certificate's lifetime, swaps the certificate the TLS config serves, and
// retries with backoff when the CA is unreachable. Time is synctest's.
func TestRenewerTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _ := newCA(t)
		p := Paths{Dir: t.TempDir()}
		writeFile(p.CACert(), a.CertPEM(), 0o644)
		const ttl = 10 * time.Hour
		if err := a.IssueFiles(p.NodeCert(), p.NodeKey(), SignRequest{Name: "n", Roles: []string{RoleAgent}, TTL: ttl}); err != nil {
			t.Fatal(err)
		}
		id, err := LoadIdentity(p)
		if err != nil {
			t.Fatal(err)
		}
		cfg := ServerTLS(id)
		us := []float64{0, 0.999, 0.5, 0.25}
		var draws int
		failures := 2 // the third renewal fails twice first
		var attempts []time.Time
		local := a.LocalRenew(id)
		type renewal struct {
			at       time.Time
			old, new *x509.Certificate
		}
		var got []renewal // written by Run's goroutine, read after it returned
		renewed := make(chan struct{}, 8)
		prev := id.Cert()
		r, err := NewRenewer(RenewerConfig{
			Identity: id,
			Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
			Rand:     func() float64 { u := us[draws%len(us)]; draws++; return u },
			Renew: func(ctx context.Context, csr []byte) ([]byte, error) {
				attempts = append(attempts, time.Now())
				if len(got) == 2 && failures > 0 {
					failures--
					return nil, errors.New("master unreachable")
				}
				return local(ctx, csr)
			},
			Renewed: func(c *x509.Certificate) {
				got = append(got, renewal{time.Now(), prev, c})
				prev = c
				renewed <- struct{}{}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- r.Run(ctx) }()
		for range 3 {
			<-renewed
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		for i, g := range got {
			life := g.old.NotAfter.Sub(g.old.NotBefore)
			frac := float64(g.at.Sub(g.old.NotBefore)) / float64(life)
			if frac < 0.5 || frac > 0.8 {
				t.Errorf("renewal %d at %.3f of the lifetime", i, frac)
			}
			if g.new.NotAfter.Sub(g.new.NotBefore) != life {
				t.Errorf("renewal %d changed the lifetime", i)
			}
		}
		// The draws were 0, 0.999, then 0.5 with two failed attempts (30s, 60s backoff).
		want := []time.Time{RenewAt(got[0].old, 0), RenewAt(got[1].old, 0.999), RenewAt(got[2].old, 0.5).Add(90 * time.Second)}
		for i := range want {
			if !got[i].at.Equal(want[i]) {
				t.Errorf("renewal %d at %s, want %s", i, got[i].at, want[i])
			}
		}
		if len(attempts) != 5 || attempts[3].Sub(attempts[2]) != 30*time.Second || attempts[4].Sub(attempts[3]) != 60*time.Second {
			t.Errorf("attempts %v", attempts)
		}
		// The same tls.Config now serves the newest certificate.
		c, _ := cfg.GetCertificate(nil)
		if !c.Leaf.Equal(got[2].new) {
			t.Error("TLS config still serves an old certificate")
		}
		// And the file etcd reads was replaced.
		id2, err := LoadIdentity(p)
		if err != nil || !id2.Cert().Equal(got[2].new) {
			t.Errorf("certificate file not updated: %v", err)
		}
	})
}

func TestRenewAt(t *testing.T) {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &x509.Certificate{NotBefore: nb, NotAfter: nb.Add(100 * time.Hour)}
	for u, want := range map[float64]time.Duration{0: 50 * time.Hour, 0.5: 65 * time.Hour, 1: 80 * time.Hour} {
		if got := RenewAt(c, u).Sub(nb); got != want {
			t.Errorf("RenewAt(u=%v) = +%s, want +%s", u, got, want)
		}
	}
}
