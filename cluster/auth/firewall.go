package auth

import "fmt"

// ParseFirewall reads Mesos' --firewall_rules: {"disabled_endpoints":
// {"paths": [...]}} as inline JSON, file:///path or /path. Paths match
// exactly (libprocess firewall.hpp): /state and /master/state differ.
func ParseFirewall(flag string) (map[string]bool, error) {
	b, err := flagBytes(flag)
	if err != nil || b == nil {
		return nil, err
	}
	var f struct {
		Disabled struct {
			Paths []string `json:"paths"`
		} `json:"disabled_endpoints"`
	}
	if err := strictJSON(b, &f); err != nil {
		return nil, fmt.Errorf("%w: --firewall_rules: %w", ErrConfig, err)
	}
	out := map[string]bool{}
	for _, p := range f.Disabled.Paths {
		if p == "" || p[0] != '/' {
			return nil, fmt.Errorf("%w: --firewall_rules: %q is not an absolute path", ErrConfig, p)
		}
		out[p] = true
	}
	return out, nil
}
