package image

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Pull fetches ref (by tag or by digest) from its registry, stores its blobs
// once by digest, unpacks its layers and names it ref. A multi-platform
// index resolves to Config.Platform. progress may be nil; opts give
// this pull's credentials (pullauth.go).
func (s *Store) Pull(ctx context.Context, ref string, progress ProgressFunc, opts ...PullOption) (Image, error) {
	var po pullOptions
	for _, o := range opts {
		o(&po)
	}
	var kc authn.Keychain = authn.DefaultKeychain
	if po.keychain != nil {
		kc = authn.NewMultiKeychain(po.keychain, authn.DefaultKeychain)
	}
	r, err := s.parseRef(ref)
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	lk, err := s.lockShared(ctx)
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	defer lk.unlock()

	img, err := remote.Image(r,
		remote.WithContext(ctx),
		remote.WithPlatform(s.platform),
		remote.WithTransport(s.transport),
		remote.WithAuthFromKeychain(kc),
	)
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	desc, err := s.storeImage(ctx, img, progress)
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	if _, err := s.unpackImage(ctx, desc.Digest); err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	if err := s.setRefs(ctx, []tagged{{original: ref, ref: r, desc: desc}}); err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	out, err := s.describe(named(desc, ref, r))
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	s.log.Info("image pulled", "ref", ref, "digest", desc.Digest.String(), "layers", len(out.Layers))
	return out, nil
}

// named is the index descriptor setRefs writes for desc under ref.
func named(desc v1.Descriptor, original string, r name.Reference) v1.Descriptor {
	desc.Annotations = map[string]string{annotationRefName: r.Name(), annotationOriginal: original}
	return desc
}

// registryTransport keeps registry traffic on verified HTTPS except for the
// configured insecure registries. go-containerregistry by itself speaks
// plain HTTP to loopback and RFC 1918 addresses; here such requests are
// upgraded to HTTPS unless the host is listed, so "insecure" is only ever
// what the operator configured. Redirects pass through here too.
type registryTransport struct {
	insecure map[string]bool
	secure   http.RoundTripper
	lax      http.RoundTripper // unverified TLS, for insecure registries
}

func newRegistryTransport(insecure map[string]bool) *registryTransport {
	base := remote.DefaultTransport.(*http.Transport)
	lax := base.Clone()
	lax.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // only for Config.InsecureRegistries
	return &registryTransport{insecure: insecure, secure: base.Clone(), lax: lax}
}

func (t *registryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if hostListed(t.insecure, req.URL.Host) {
		return t.lax.RoundTrip(req)
	}
	if req.URL.Scheme != "http" {
		return t.secure.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	req.URL.Scheme = "https"
	resp, err := t.secure.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("%s is not an insecure registry, so only HTTPS is used: %w", req.URL.Host, err)
	}
	return resp, nil
}
