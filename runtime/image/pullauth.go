package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// Registry credentials of one pull. A task's image may carry a Docker
// config.json (Mesos Image.Docker.config, a secret; Marathon's
// pullConfig): {"auths": {"<registry>": {"auth": base64(user:password)}}}
// or with "username" and "password" (or "identitytoken",
// "registrytoken") instead of "auth", as docker login writes it
// (docs.docker.com, "docker login", credential stores). Credential
// helpers ("credsStore", "credHelpers") are refused: they would run a
// program on the agent. Nothing here logs or returns a credential: errors
// name the registry key at most.

// PullOption changes one pull.
type PullOption func(*pullOptions)

type pullOptions struct {
	keychain authn.Keychain
}

// WithKeychain makes the pull try kc first, then the agent's default
// keychain (its user's ~/.docker/config.json).
func WithKeychain(kc authn.Keychain) PullOption {
	return func(o *pullOptions) { o.keychain = kc }
}

// DockerConfigKeychain parses a Docker config.json into a keychain that
// answers its registries' credentials and anonymous for the others.
func DockerConfigKeychain(data []byte) (authn.Keychain, error) {
	var cfg struct {
		Auths       map[string]json.RawMessage `json:"auths"`
		CredsStore  string                     `json:"credsStore"`
		CredHelpers map[string]string          `json:"credHelpers"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&cfg); err != nil {
		// Not wrapped: a syntax error may quote the secret's bytes.
		return nil, errors.New(`the pull config is not a Docker config.json (a JSON object with "auths")`)
	}
	if cfg.CredsStore != "" || len(cfg.CredHelpers) > 0 {
		return nil, errors.New("the pull config uses credential helpers (credsStore, credHelpers), which are not supported: give the credentials in auths")
	}
	if len(cfg.Auths) == 0 {
		return nil, errors.New(`the pull config has no "auths"`)
	}
	kc := configKeychain{}
	for key, raw := range cfg.Auths {
		var ac authn.AuthConfig
		if err := json.Unmarshal(raw, &ac); err != nil {
			return nil, fmt.Errorf("the pull config's auths entry %q is not valid (auth must be base64 of user:password)", key)
		}
		if ac.Username == "" && ac.Password == "" && ac.IdentityToken == "" && ac.RegistryToken == "" {
			return nil, fmt.Errorf("the pull config's auths entry %q has no credentials", key)
		}
		host := registryHost(key)
		if host == "" {
			return nil, fmt.Errorf("the pull config's auths key %q is not a registry", key)
		}
		ac.Auth = "" // decoded into Username and Password
		kc[host] = ac
	}
	return kc, nil
}

// registryHost is the registry of an auths key ("reg:5000",
// "https://reg:5000/v2/", "https://index.docker.io/v1/"), as
// go-containerregistry names it (Docker Hub is index.docker.io).
func registryHost(key string) string {
	k := strings.TrimSpace(key)
	if strings.Contains(k, "://") {
		u, err := url.Parse(k)
		if err != nil {
			return ""
		}
		k = u.Host
	} else if i := strings.IndexByte(k, '/'); i >= 0 {
		k = k[:i]
	}
	switch k {
	case "docker.io", "registry-1.docker.io", "index.docker.io":
		return name.DefaultRegistry
	}
	return k
}

// configKeychain maps registry hosts to their credentials.
type configKeychain map[string]authn.AuthConfig

func (kc configKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if ac, ok := kc[r.RegistryStr()]; ok {
		return authn.FromConfig(ac), nil
	}
	return authn.Anonymous, nil
}
