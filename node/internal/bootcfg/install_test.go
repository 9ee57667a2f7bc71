package bootcfg

import (
	"strings"
	"testing"
)

// TestInstallAndSlotKeys: nodectl.install and nodectl.slot are the
// appliance's: they neither make the command line the config source nor
// reach up, in a file or on the command line.
func TestInstallAndSlotKeys(t *testing.T) {
	params := ParseCmdline("console=ttyS0 nodectl.slot=B nodectl.install=/dev/vda")
	if Value(params, KeySlot) != "B" || Value(params, KeyInstall) != "/dev/vda" || Value(params, "role") != "" {
		t.Fatalf("Value: %v", params)
	}
	p, err := Resolve(Inputs{Cmdline: params, Embedded: []byte("role: agent\ninstall: auto\n"), Known: known})
	if err != nil {
		t.Fatal(err)
	}
	if p.Source != "embedded" || len(p.Args) != 0 || len(p.Notes) != 0 {
		t.Errorf("plan %+v: want the embedded config, no args, no notes", p)
	}
	if strings.Contains(string(p.YAML), "install") || !strings.Contains(string(p.YAML), "role: agent") {
		t.Errorf("config for up: %q", p.YAML)
	}
	if got := YAMLInstall([]byte("install: /dev/sdb\n")); got != "/dev/sdb" {
		t.Errorf("YAMLInstall = %q", got)
	}
	if got := YAMLInstall([]byte("role: all\n")); got != "" {
		t.Errorf("YAMLInstall without the key = %q", got)
	}
}
