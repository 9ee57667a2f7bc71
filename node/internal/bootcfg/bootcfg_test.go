package bootcfg

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseCmdline(t *testing.T) {
	got := ParseCmdline(`BOOT_IMAGE=/vmlinuz console=ttyS0 nodectl.role=agent nodectl.attributes="rack:a;zone:1" nodectl.debug quiet nodectl.=x x.nodectl.role=y` + "\n")
	want := []Param{{"role", "agent"}, {"attributes", "rack:a;zone:1"}, {"debug", "true"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseCmdline = %q, want %q", got, want)
	}
}

// known mimics a build whose up has --role, --master, --work-dir (and the
// work_dir spelling) but no --join/--token yet.
func known(name string) bool {
	return slices.Contains([]string{"role", "master", "work-dir", "work_dir", "advertise-ip"}, name)
}

func knownWithJoin(name string) bool { return known(name) || name == "join" || name == "token" }

func TestResolvePrecedence(t *testing.T) {
	files := map[string][]byte{
		"nodectl.yaml":                   []byte("role: master\n"),
		"NODECTL-52-54-00-00-00-02.yaml": []byte("role: agent\nmaster: [10.0.0.1:5050]\n"),
	}
	for _, tc := range []struct {
		name       string
		in         Inputs
		source     string
		args       []string
		yaml       string
		configURL  string
		notesMatch string
	}{
		{
			name:   "nothing: single node",
			in:     Inputs{Known: known},
			source: "default", args: []string{"--role=all"},
		},
		{
			name:   "embedded only",
			in:     Inputs{Known: known, Embedded: []byte("role: all\nwork-dir: /x\n")},
			source: "embedded", yaml: "role: all\nwork-dir: /x\n",
		},
		{
			name:   "cfg disk beats embedded; per-MAC file beats nodectl.yaml",
			in:     Inputs{Known: known, CfgFiles: files, MACs: []string{"52:54:00:00:00:01", "52:54:00:00:00:02"}, Embedded: []byte("role: all\n")},
			source: "NODECTL_CFG:NODECTL-52-54-00-00-00-02.yaml", yaml: "master:\n    - 10.0.0.1:5050\nrole: agent\n",
		},
		{
			name:   "cfg disk without a file for this MAC",
			in:     Inputs{Known: known, CfgFiles: files, MACs: []string{"52:54:00:00:00:09"}},
			source: "NODECTL_CFG:nodectl.yaml", yaml: "role: master\n",
		},
		{
			name:   "cmdline beats everything; join maps to --master without --join",
			in:     Inputs{Known: known, CfgFiles: files, Embedded: []byte("role: all\n"), Cmdline: []Param{{"role", "agent"}, {"join", "https://10.0.9.1:5050/"}, {"token", "K10::secret"}, {"bogus", "1"}}},
			source: "cmdline", args: []string{"--role=agent", "--master=10.0.9.1:5050"},
			notesMatch: "nodectl.join: this build has no --join; using --master=10.0.9.1:5050|nodectl.token: this build has no --token; ignored|nodectl.bogus: not a flag of nodectl up; ignored",
		},
		{
			name:   "cmdline join and token pass through once up has them",
			in:     Inputs{Known: knownWithJoin, Cmdline: []Param{{"role", "agent"}, {"join", "https://10.0.9.1:5050"}, {"token", "T"}}},
			source: "cmdline", args: []string{"--role=agent", "--join=https://10.0.9.1:5050", "--token=T"},
		},
		{
			name:   "cmdline net alone is not a config source",
			in:     Inputs{Known: known, Embedded: []byte("role: all\n"), Cmdline: []Param{{"net", "eth1=10.0.9.1/24"}}},
			source: "embedded", yaml: "role: all\n",
		},
		{
			name:   "cmdline config URL",
			in:     Inputs{Known: known, Cmdline: []Param{{"config", "http://10.0.2.2:8000/n.yaml"}, {"role", "master"}}},
			source: "cmdline", args: []string{"--role=master"}, configURL: "http://10.0.2.2:8000/n.yaml",
		},
		{
			name:   "YAML join and token without --join",
			in:     Inputs{Known: known, Embedded: []byte("role: agent\njoin: https://m:5050\ntoken: T\n")},
			source: "embedded", yaml: "master: m:5050\nrole: agent\n",
			notesMatch: "join: this build has no --join; using --master=m:5050|token: this build has no --token; ignored",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Resolve(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if p.Source != tc.source || !slices.Equal(p.Args, tc.args) || string(p.YAML) != tc.yaml || p.ConfigURL != tc.configURL {
				t.Errorf("Resolve = source %q args %q yaml %q url %q; want %q %q %q %q", p.Source, p.Args, p.YAML, p.ConfigURL, tc.source, tc.args, tc.yaml, tc.configURL)
			}
			if got := strings.Join(p.Notes, "|"); got != tc.notesMatch {
				t.Errorf("notes = %q, want %q", got, tc.notesMatch)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	for name, in := range map[string]Inputs{
		"bad URL":       {Known: known, Cmdline: []Param{{"config", "file:///etc/x"}}},
		"bad YAML":      {Known: known, Embedded: []byte("role: [")},
		"bad net":       {Known: known, Cmdline: []Param{{"net", "eth0=10.0.0.1"}}},
		"bad gateway":   {Known: known, Cmdline: []Param{{"net", "eth0=10.0.0.1/24@x"}}},
		"bad YAML file": {Known: known, CfgFiles: map[string][]byte{"nodectl.yaml": []byte(":\n-")}},
	} {
		if _, err := Resolve(in); err == nil {
			t.Errorf("%s: Resolve succeeded", name)
		}
	}
}

func TestNetFromYAMLAndCmdline(t *testing.T) {
	p, err := Resolve(Inputs{Known: known, Embedded: []byte("role: all\nnet: [eth0=dhcp, 52:54:00:AA:00:01=10.0.9.1/24@10.0.9.254]\n")})
	if err != nil {
		t.Fatal(err)
	}
	want := []NetSpec{
		{Match: "eth0", DHCP: true},
		{Match: "52:54:00:aa:00:01", Addr: netip.MustParsePrefix("10.0.9.1/24"), Gateway: netip.MustParseAddr("10.0.9.254")},
	}
	if !reflect.DeepEqual(p.Net, want) || string(p.YAML) != "role: all\n" {
		t.Errorf("net = %+v yaml %q, want %+v", p.Net, p.YAML, want)
	}
	p, err = Resolve(Inputs{Known: known, Embedded: []byte("net: eth0=dhcp\n"), Cmdline: []Param{{"net", "10.0.0.5/8"}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []NetSpec{{Addr: netip.MustParsePrefix("10.0.0.5/8")}}; !reflect.DeepEqual(p.Net, want) {
		t.Errorf("cmdline net = %+v, want %+v", p.Net, want)
	}
	if p, _ := Resolve(Inputs{Known: known}); !reflect.DeepEqual(p.Net, []NetSpec{{DHCP: true}}) {
		t.Errorf("default net = %+v", p.Net)
	}
}

func TestPlanSets(t *testing.T) {
	p := Plan{Args: []string{"--role=all"}, YAML: []byte("work_dir: /d\n")}
	if !p.Sets("work-dir", "work_dir") || !p.Sets("role") || p.Sets("master") {
		t.Error("Sets is wrong")
	}
}
