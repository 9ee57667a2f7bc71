// Package bootcfg decides how an appliance node is configured at boot:
// from the kernel command line (nodectl.* parameters), from a file on a
// disk labelled NODECTL_CFG, or from a config embedded in the ISO, first
// found wins; with none of them the node runs as a single master+agent.
// It also parses the network settings (nodectl.net=).
//
// It is pure logic: no I/O, so every rule is unit-tested. It imports no
// other nodectl package.
package bootcfg

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrBoot wraps every configuration error found at boot.
var ErrBoot = errors.New("boot config")

// Param is one nodectl.KEY=VALUE kernel parameter, KEY without the prefix.
type Param struct{ Key, Value string }

// prefix marks the kernel parameters that are nodectl's.
const prefix = "nodectl."

// ParseCmdline returns the nodectl.* parameters of a kernel command line
// (/proc/cmdline), in order. Double quotes group words the way the kernel
// does ("nodectl.attributes=\"rack:a;zone:1\"" or nodectl.x="a b"). A bare
// nodectl.KEY is KEY=true.
func ParseCmdline(s string) []Param {
	var out []Param
	for _, w := range splitCmdline(s) {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			v = "true"
		}
		if key, ok := strings.CutPrefix(k, prefix); ok && key != "" {
			out = append(out, Param{key, v})
		}
	}
	return out
}

func splitCmdline(s string) []string {
	var (
		out   []string
		cur   strings.Builder
		quote bool
		any   bool
	)
	for _, r := range s {
		switch {
		case r == '"':
			quote, any = !quote, true
		case !quote && (r == ' ' || r == '\t' || r == '\n'):
			if any {
				out = append(out, cur.String())
				cur.Reset()
				any = false
			}
		default:
			cur.WriteRune(r)
			any = true
		}
	}
	if any {
		out = append(out, cur.String())
	}
	return out
}

// Boot-level keys: they configure the appliance, not `nodectl up`.
const (
	keyNet    = "net"    // network: see ParseNet
	keyConfig = "config" // URL of a YAML config to fetch once the network is up
	keyJoin   = "join"   // master to join: URL or host:port
	keyToken  = "token"  // join token
	// KeyInstall asks for an unattended install to disk (a device, or
	// "auto": the first empty disk); KeySlot is the system slot GRUB booted
	// from an installed disk. Neither is up's.
	KeyInstall = "install"
	KeySlot    = "slot"
)

// Value is the value of the last nodectl.<key> parameter, or "".
func Value(params []Param, key string) string {
	v := ""
	for _, p := range params {
		if p.Key == key {
			v = p.Value
		}
	}
	return v
}

// YAMLInstall is the install key of a config file, or "".
func YAMLInstall(data []byte) string {
	var m map[string]any
	if yaml.Unmarshal(data, &m) != nil {
		return ""
	}
	if v, ok := m[KeyInstall].(string); ok {
		return v
	}
	return ""
}

// Plan is how the appliance starts `nodectl up`.
type Plan struct {
	Source    string   // "cmdline", "NODECTL_CFG:<file>", "embedded" or "default"
	Args      []string // flags for `nodectl up` (besides --config)
	YAML      []byte   // config file content for `up --config`, if any
	ConfigURL string   // nodectl.config=URL: fetched after the network is up, given as --config
	Net       []NetSpec
	Notes     []string // things the operator should know (ignored keys, mapped keys)
}

// Sets tells whether the plan sets the up flag (any of its spellings).
func (p Plan) Sets(names ...string) bool {
	for _, a := range p.Args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if slices.Contains(names, name) {
			return true
		}
	}
	if len(p.YAML) > 0 {
		var m map[string]any
		if yaml.Unmarshal(p.YAML, &m) == nil {
			for _, n := range names {
				if _, ok := m[n]; ok {
					return true
				}
			}
		}
	}
	return false
}

// Inputs are the places a configuration can come from.
type Inputs struct {
	Cmdline  []Param
	CfgFiles map[string][]byte // files at the root of the NODECTL_CFG disk, by name
	MACs     []string          // this machine's NIC addresses, in interface order
	Embedded []byte            // config built into the ISO (make iso CONFIG=)
	// Known tells whether a name is a flag of `nodectl up` (any spelling).
	Known func(name string) bool
}

// Resolve picks the first configuration source present and turns it into
// a Plan.
func Resolve(in Inputs) (Plan, error) {
	var (
		p       Plan
		cmdNet  string
		cmdKeys []Param
	)
	for _, kv := range in.Cmdline {
		if kv.Key == keyNet {
			cmdNet = kv.Value
			continue
		}
		if kv.Key == KeyInstall || kv.Key == KeySlot {
			continue // the appliance's (node/appliance), not up's
		}
		cmdKeys = append(cmdKeys, kv)
	}
	var fileNet string
	switch name, data := cfgFile(in.CfgFiles, in.MACs); {
	case len(cmdKeys) > 0:
		p.Source = "cmdline"
		for _, kv := range cmdKeys {
			if kv.Key == keyConfig {
				u, err := url.Parse(kv.Value)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
					return Plan{}, fmt.Errorf("%w: nodectl.config=%s: not an http(s) URL", ErrBoot, kv.Value)
				}
				p.ConfigURL = kv.Value
				continue
			}
			flag, val, note := mapKey(kv.Key, kv.Value, in.Known)
			if note != "" {
				p.Notes = append(p.Notes, "nodectl."+note)
			}
			if flag != "" {
				p.Args = append(p.Args, "--"+flag+"="+val)
			}
		}
	case name != "":
		p.Source = "NODECTL_CFG:" + name
		var err error
		if p.YAML, fileNet, p.Notes, err = RewriteYAML(data, in.Known); err != nil {
			return Plan{}, fmt.Errorf("%w: %s on NODECTL_CFG: %w", ErrBoot, name, err)
		}
	case len(in.Embedded) > 0:
		p.Source = "embedded"
		var err error
		if p.YAML, fileNet, p.Notes, err = RewriteYAML(in.Embedded, in.Known); err != nil {
			return Plan{}, fmt.Errorf("%w: embedded config: %w", ErrBoot, err)
		}
	default:
		p.Source = "default"
		p.Args = []string{"--role=all"}
	}
	netSpec := cmdNet
	if netSpec == "" {
		netSpec = fileNet
	}
	var err error
	if p.Net, err = ParseNet(netSpec); err != nil {
		return Plan{}, err
	}
	return p, nil
}

// cfgFile picks the file of the NODECTL_CFG disk meant for this machine:
// nodectl-<mac>.yaml for the first MAC that has one (MAC in lower case,
// with '-' or nothing between the bytes, as FAT allows no ':'), else
// nodectl.yaml.
func cfgFile(files map[string][]byte, macs []string) (string, []byte) {
	lower := map[string]string{}
	for n := range files {
		lower[strings.ToLower(n)] = n
	}
	for _, mac := range macs {
		m := strings.ToLower(mac)
		for _, cand := range []string{strings.ReplaceAll(m, ":", "-"), strings.ReplaceAll(m, ":", "")} {
			if n, ok := lower["nodectl-"+cand+".yaml"]; ok {
				return n, files[n]
			}
		}
	}
	if n, ok := lower["nodectl.yaml"]; ok {
		return n, files[n]
	}
	return "", nil
}

// mapKey turns a boot key into an up flag. join and token are the HA join
// keys: when this build's up has no --join/--token, join becomes --master
// (host:port) and token is dropped, with a note.
func mapKey(key, val string, known func(string) bool) (flag, value, note string) {
	switch {
	case key == keyJoin && !known(keyJoin):
		return "master", hostPort(val), key + ": this build has no --join; using --master=" + hostPort(val)
	case key == keyToken && !known(keyToken):
		return "", "", key + ": this build has no --token; ignored"
	case known(key):
		return key, val, ""
	}
	return "", "", key + ": not a flag of nodectl up; ignored"
}

// hostPort reduces a join URL (https://host:5050/path) to host:port.
func hostPort(s string) string {
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		return u.Host
	}
	return s
}

// RewriteYAML applies the boot-key mapping to a config file: join/token as
// in mapKey, and the net key, which is the appliance's and not up's, is
// taken out and returned. Other keys are left for up to check.
func RewriteYAML(data []byte, known func(string) bool) (out []byte, netSpec string, notes []string, err error) {
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, "", nil, fmt.Errorf("not YAML: %w", err)
	}
	if v, ok := m[keyNet]; ok {
		netSpec = yamlList(v)
		delete(m, keyNet)
	}
	delete(m, KeyInstall) // the appliance's: see YAMLInstall
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != keyJoin && k != keyToken {
			continue
		}
		flag, val, note := mapKey(k, yamlList(m[k]), known)
		if note != "" {
			notes = append(notes, note)
		}
		if flag != k {
			delete(m, k)
			if flag != "" {
				m[flag] = val
			}
		}
	}
	if len(m) == 0 {
		return nil, netSpec, notes, nil
	}
	out, err = yaml.Marshal(m)
	return out, netSpec, notes, err
}

func yamlList(v any) string {
	if l, ok := v.([]any); ok {
		parts := make([]string, len(l))
		for i, e := range l {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}

// NetSpec configures one interface.
type NetSpec struct {
	Match   string       // interface name (eth1) or MAC; "" is the first non-loopback NIC
	DHCP    bool         // else Addr is static
	Addr    netip.Prefix // static address
	Gateway netip.Addr   // static default route, if valid
}

// ParseNet parses nodectl.net: comma-separated IFACE=dhcp or
// IFACE=ADDR/BITS[@GATEWAY], IFACE an interface name or MAC; "dhcp" or
// "ADDR/BITS[@GW]" alone mean the first NIC. Empty means DHCP on the first
// NIC.
func ParseNet(s string) ([]NetSpec, error) {
	if strings.TrimSpace(s) == "" {
		return []NetSpec{{DHCP: true}}, nil
	}
	var out []NetSpec
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		var spec NetSpec
		rest := item
		if i := strings.LastIndex(item, "="); i >= 0 {
			spec.Match, rest = item[:i], item[i+1:]
			if _, err := net.ParseMAC(spec.Match); err == nil {
				spec.Match = strings.ToLower(spec.Match)
			}
		}
		if rest == "dhcp" {
			spec.DHCP = true
			out = append(out, spec)
			continue
		}
		addr, gw, hasGW := strings.Cut(rest, "@")
		pfx, err := netip.ParsePrefix(addr)
		if err != nil {
			return nil, fmt.Errorf("%w: nodectl.net %q: want dhcp or ADDR/BITS[@GATEWAY]: %w", ErrBoot, item, err)
		}
		spec.Addr = pfx
		if hasGW {
			if spec.Gateway, err = netip.ParseAddr(gw); err != nil {
				return nil, fmt.Errorf("%w: nodectl.net %q: gateway: %w", ErrBoot, item, err)
			}
		}
		out = append(out, spec)
	}
	return out, nil
}
