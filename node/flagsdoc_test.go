package node

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestFlagsDoc keeps docs/flags.md, the table of every `nodectl up` flag
// (with its Mesos spellings and environment variables) and of every Mesos
// flag nodectl refuses with its reason, in step with the code
// (NODECTL_UPDATE_DOCS=1 rewrites it).
func TestFlagsDoc(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	cell := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }
	b.WriteString("# `nodectl up` flags\n\n")
	b.WriteString("Generated from the code by `NODECTL_UPDATE_DOCS=1 go test ./node -run TestFlagsDoc`; a test fails when it is stale.\n\n")
	b.WriteString("Every flag is read, in this order of precedence, from the command line, its `NODECTL_` variable, its `MESOS_` variables ")
	b.WriteString("(one per spelling, as [Mesos reads its flags from the environment](https://mesos.apache.org/documentation/latest/configuration/)), ")
	b.WriteString("the `--config` YAML file, then the default. Durations take Go (`15s`) or Mesos (`15secs`) syntax.\n\n")
	flags := withMesosEnv(upFlags())
	fmt.Fprintf(&b, "## Accepted (%d)\n\n| flag | spellings | environment | default | meaning |\n|---|---|---|---|---|\n", len(flags))
	for _, f := range flags {
		names := f.Names()
		var env []string
		if ev, ok := f.(interface{ GetEnvVars() []string }); ok {
			env = ev.GetEnvVars()
		}
		def := ""
		if d, ok := f.(cli.DocGenerationFlag); ok {
			def = d.GetDefaultText()
			if def == "" {
				def = d.GetValue()
			}
		}
		usage := ""
		if u, ok := f.(interface{ GetUsage() string }); ok {
			usage = u.GetUsage()
		}
		spell := make([]string, 0, len(names)-1)
		for _, n := range names[1:] {
			spell = append(spell, "`--"+n+"`")
		}
		envs := make([]string, 0, len(env))
		for _, e := range env {
			envs = append(envs, "`"+e+"`")
		}
		if def != "" {
			def = "`" + cell(def) + "`"
		}
		fmt.Fprintf(&b, "| `--%s` | %s | %s | %s | %s |\n", names[0], strings.Join(spell, " "), strings.Join(envs, " "), def, cell(usage))
	}
	keys := make([]string, 0, len(refusedFlags))
	for k := range refusedFlags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(&b, "\n## Mesos flags refused (%d)\n\n", len(keys))
	b.WriteString("These flags of [the Mesos master](https://mesos.apache.org/documentation/latest/configuration/master/) and ")
	b.WriteString("[agent](https://mesos.apache.org/documentation/latest/configuration/agent/) stop `up` with exit status 2 and this reason ")
	b.WriteString("(on the command line or in a `MESOS_` variable), never as an unknown flag.\n\n| flag | why, and what to use instead |\n|---|---|\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "| `--%s` | %s |\n", k, cell(refusedFlags[k]))
	}
	const doc = "../docs/flags.md"
	raw, _ := os.ReadFile(doc)
	if string(raw) == b.String() {
		return
	}
	if os.Getenv("NODECTL_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(doc, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s differs from the flags in the code: run NODECTL_UPDATE_DOCS=1 go test ./node -run TestFlagsDoc", doc)
}
