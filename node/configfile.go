package node

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"
)

// applyConfigFile sets every flag named in the YAML file at path that was
// not given on the command line or in the environment. Unknown keys are
// errors, like unknown flags.
func applyConfigFile(c *cli.Context, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: --config: %w", ErrConfig, err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		return fmt.Errorf("%w: --config %s: not YAML: %w", ErrConfig, path, err)
	}
	known := map[string]string{} // any spelling -> canonical name
	for _, f := range upFlags() {
		for _, n := range f.Names() {
			known[n] = f.Names()[0]
		}
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name, ok := known[k]
		if !ok || name == "config" {
			return fmt.Errorf("%w: --config %s: unknown key %q", ErrConfig, path, k)
		}
		if c.IsSet(name) {
			continue
		}
		if err := c.Set(name, yamlString(values[k])); err != nil {
			return fmt.Errorf("%w: --config %s: %s: %w", ErrConfig, path, k, err)
		}
	}
	return nil
}

// yamlString turns a YAML value into the string a flag parses; lists
// become comma-separated.
func yamlString(v any) string {
	switch t := v.(type) {
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	case nil:
		return ""
	default:
		return fmt.Sprint(t)
	}
}
