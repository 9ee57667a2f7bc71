package cmdline

import (
	"bytes"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"
)

// The output formats of listing commands: -o table (the default), wide
// (more columns), json, yaml (the JSON, as YAML), and -q (ids only, one a
// line, for scripts: for id in $(nodectl task ls -q); do ...).

// listFlags are -o and -q of a listing command.
func listFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "table, wide, json or yaml"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the ids, one a line"},
	}
}

// listFormat is the command's output format: table, wide, json, yaml, or
// quiet (-q). An unknown one is a usage error.
func listFormat(c *cli.Context) (string, error) {
	o := c.String("output")
	switch o {
	case "table", "wide", "json", "yaml":
	default:
		return "", &exitError{2, fmt.Sprintf("-o %q: want table, wide, json or yaml", o)}
	}
	if c.Bool("quiet") {
		if c.IsSet("output") {
			return "", &exitError{2, "give -q or -o, not both"}
		}
		return "quiet", nil
	}
	return o, nil
}

// structured reports whether format prints the API's document.
func structured(format string) bool { return format == "json" || format == "yaml" }

// writeFormatted prints a JSON document as JSON (indented) or YAML.
func writeFormatted(w io.Writer, format string, raw []byte) error {
	if format != "yaml" {
		return printJSON(w, raw)
	}
	b, err := jsonToYAML(raw)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// jsonToYAML re-encodes a JSON document as block-style YAML, keeping the
// order of its keys.
func jsonToYAML(raw []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(raw, &n); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	blockStyle(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	return buf.Bytes(), nil
}

// blockStyle drops the flow style and quoting the JSON syntax gave the
// nodes, so the encoder writes block YAML and quotes only where needed.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}
