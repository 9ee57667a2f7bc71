package pki

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Renewal window: a certificate is renewed at a random point between these
// fractions of its lifetime, so a fleet issued at once does not renew at once.
const (
	renewFrom = 0.5
	renewTo   = 0.8
)

// RenewAt is when to renew c for u in [0,1): between 50% and 80% of its lifetime.
func RenewAt(c *x509.Certificate, u float64) time.Time {
	life := c.NotAfter.Sub(c.NotBefore)
	return c.NotBefore.Add(time.Duration(float64(life) * (renewFrom + (renewTo-renewFrom)*u)))
}

// RenewFunc gets a certificate for csr (PEM) that renews the current one.
type RenewFunc func(ctx context.Context, csr []byte) (certPEM []byte, err error)

// Renewer renews a node's certificate in the background. New fills defaults.
type Renewer struct {
	id    *Identity
	renew RenewFunc
	log   *slog.Logger
	rand  func() float64
	retry time.Duration // first retry delay, doubled up to maxRetry
	// renewed is called after each renewal (tests); may be nil.
	renewed func(*x509.Certificate)
}

// RenewerConfig configures a Renewer; zero values are defaults.
type RenewerConfig struct {
	Identity *Identity // required
	Renew    RenewFunc // required: Authority.LocalRenew on masters, HTTPRenew on agents
	Logger   *slog.Logger
	// Rand returns a number in [0,1) that places the renewal in its window;
	// default math/rand/v2.Float64.
	Rand func() float64
	// Retry is the first delay after a failed renewal (doubling, at most
	// an hour); default 30s.
	Retry time.Duration
	// Renewed is called after each renewal; may be nil.
	Renewed func(*x509.Certificate)
}

const maxRetry = time.Hour

// NewRenewer validates cfg; it starts nothing.
func NewRenewer(cfg RenewerConfig) (*Renewer, error) {
	if cfg.Identity == nil || cfg.Renew == nil {
		return nil, fmt.Errorf("renewer: Identity and Renew are required")
	}
	r := &Renewer{id: cfg.Identity, renew: cfg.Renew, log: cfg.Logger, rand: cfg.Rand, retry: cfg.Retry, renewed: cfg.Renewed}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.log = r.log.With("component", "pki")
	if r.rand == nil {
		r.rand = rand.Float64
	}
	if r.retry <= 0 {
		r.retry = 30 * time.Second
	}
	return r, nil
}

// Run renews the certificate until ctx ends (then returns nil).
func (r *Renewer) Run(ctx context.Context) error {
	delay := r.retry
	at := RenewAt(r.id.Cert(), r.rand())
	for {
		if !sleepUntil(ctx, at) {
			return nil
		}
		err := r.renewOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			delay = r.retry
			at = RenewAt(r.id.Cert(), r.rand())
			continue
		}
		left := time.Until(r.id.Cert().NotAfter)
		level := slog.LevelWarn
		if left < time.Duration(float64(r.id.Cert().NotAfter.Sub(r.id.Cert().NotBefore))*(1-renewTo)) {
			level = slog.LevelError // past the window: an operator must look
		}
		r.log.Log(ctx, level, "certificate renewal failed; retrying", "err", err, "retry_in", delay, "expires_in", left.Round(time.Second))
		at = time.Now().Add(delay)
		delay = min(2*delay, maxRetry)
	}
}

func (r *Renewer) renewOnce(ctx context.Context) error {
	csr, err := r.id.CSR()
	if err != nil {
		return err
	}
	certPEM, err := r.renew(ctx, csr)
	if err != nil {
		return err
	}
	if err := r.id.Install(certPEM); err != nil {
		return fmt.Errorf("install renewed certificate: %w", err)
	}
	c := r.id.Cert()
	r.log.Info("certificate renewed", "not_after", c.NotAfter.UTC().Format(time.RFC3339), "serial", c.SerialNumber.Text(16))
	if r.renewed != nil {
		r.renewed(c)
	}
	return nil
}

// sleepUntil waits for t; false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// LocalRenew renews a master's own certificate with the CA it holds.
func (a *Authority) LocalRenew(id *Identity) RenewFunc {
	return func(_ context.Context, csr []byte) ([]byte, error) {
		return a.Sign(csr, SignRequestFor(id.Cert()))
	}
}
