package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
)

// ErrConfig wraps every error in --acls, --credentials, --firewall_rules
// and --rate_limits.
var ErrConfig = errors.New("auth config")

// Entity is one side of an ACL rule, in Mesos' form:
// {"type": "SOME"|"ANY"|"NONE", "values": [...]} (type defaults to SOME;
// values are ignored for ANY and NONE).
type Entity struct {
	Type   string   `json:"type,omitempty"`
	Values []string `json:"values,omitempty"`
}

func (e Entity) none() bool { return strings.EqualFold(e.Type, "NONE") }
func (e Entity) any() bool  { return strings.EqualFold(e.Type, "ANY") }

// matches reports whether v is in e. App ids match by prefix: a value
// "/team-a" or "/team-a/*" matches "/team-a" and everything under it.
func (e Entity) matches(v string, prefix bool) bool {
	switch {
	case e.any():
		return true
	case e.none():
		return false
	}
	for _, x := range e.Values {
		if x == v || (prefix && underPrefix(v, x)) {
			return true
		}
	}
	return false
}

// underPrefix reports whether app id lies in group prefix ("/a" or "/a/*").
func underPrefix(id, prefix string) bool {
	prefix = strings.TrimSuffix(strings.TrimSuffix(prefix, "*"), "/")
	if prefix == "" {
		return true
	}
	return id == prefix || strings.HasPrefix(id, prefix+"/")
}

// Rule is one ACL: a subject (principals) and an object.
type Rule struct {
	Principals Entity
	Object     Entity
}

// ACLs is Mesos' local authorizer configuration (--acls).
type ACLs struct {
	// Permissive decides when no rule matches; Mesos' default is true.
	Permissive bool
	Rules      map[Perm][]Rule
}

// ParseACLs reads --acls: a JSON object, a file:///path or a /path.
// Unknown actions and object entities are refused by name.
func ParseACLs(flag string) (*ACLs, error) {
	b, err := flagBytes(flag)
	if err != nil || b == nil {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: --acls: %w", ErrConfig, err)
	}
	a := &ACLs{Permissive: true, Rules: map[Perm][]Rule{}}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := raw[k]
		if k == "permissive" {
			if err := json.Unmarshal(v, &a.Permissive); err != nil {
				return nil, fmt.Errorf("%w: --acls: permissive: %w", ErrConfig, err)
			}
			continue
		}
		info, ok := perms[Perm(k)]
		if !ok || info.Object == "" && Perm(k) != ManageCluster {
			return nil, fmt.Errorf("%w: --acls: action %q is not supported by nodectl (supported: %s)", ErrConfig, k, strings.Join(aclActions(), ", "))
		}
		var rules []map[string]Entity
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rules); err != nil {
			return nil, fmt.Errorf("%w: --acls: %s: %w", ErrConfig, k, err)
		}
		for i, r := range rules {
			var rule Rule
			subj, ok := r["principals"]
			if !ok {
				return nil, fmt.Errorf("%w: --acls: %s[%d]: no \"principals\"", ErrConfig, k, i)
			}
			rule.Principals = subj
			rule.Object = Entity{Type: "ANY"}
			for ek, e := range r {
				switch {
				case ek == "principals":
				case ek == info.Object:
					rule.Object = e
				default:
					return nil, fmt.Errorf("%w: --acls: %s[%d]: entity %q is not supported (want \"principals\" and %q)", ErrConfig, k, i, ek, info.Object)
				}
			}
			for _, e := range []Entity{rule.Principals, rule.Object} {
				switch strings.ToUpper(e.Type) {
				case "", "SOME", "ANY", "NONE":
				default:
					return nil, fmt.Errorf("%w: --acls: %s[%d]: entity type %q is not SOME, ANY or NONE", ErrConfig, k, i, e.Type)
				}
			}
			a.Rules[Perm(k)] = append(a.Rules[Perm(k)], rule)
		}
	}
	return a, nil
}

func aclActions() []string {
	var out []string
	for _, i := range Perms() {
		if i.Object != "" || i.Perm == ManageCluster {
			out = append(out, string(i.Perm))
		}
	}
	return out
}

// decision is what the rules say about one request.
type decision int

const (
	noMatch decision = iota
	allow
	deny
)

// decide applies the rules of action in order: the first rule whose
// subject and object match decides; a NONE object denies (Mesos' local
// authorizer). object "" asks whether any object could be allowed.
func (a *ACLs) decide(action Perm, principal, object string) decision {
	if a == nil {
		return noMatch
	}
	prefix := appPerm(action)
	for _, r := range a.Rules[action] {
		if !r.Principals.matches(principal, false) {
			continue
		}
		if r.Object.none() {
			return deny
		}
		if object == "" || r.Object.matches(object, prefix) {
			return allow
		}
	}
	return noMatch
}

// flagBytes reads a flag that is inline JSON, file:///path or /path.
// An empty flag is nil.
func flagBytes(flag string) ([]byte, error) {
	flag = strings.TrimSpace(flag)
	if flag == "" {
		return nil, nil
	}
	path, isFile := strings.CutPrefix(flag, "file://")
	if !isFile && strings.HasPrefix(flag, "/") {
		path, isFile = flag, true
	}
	if !isFile {
		return []byte(flag), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return b, nil
}
