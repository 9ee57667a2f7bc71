package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"nodectl/cluster"
	"nodectl/cluster/pki"
)

// Where the CLI looks for its client config, after --client-config.
const (
	clientConfigEnv = "NODECTL_CLIENT_CONFIG"
	defaultWorkDir  = "/var/lib/nodectl"
	etcClientConfig = "/etc/nodectl/" + pki.ClientConfigName
)

// clientConfigCandidates are the client configs the CLI tries, in order:
// the one named by flag or NODECTL_CLIENT_CONFIG, the work dir's (a
// master's, given by --work-dir or NODECTL_WORK_DIR), the user's, the
// system's, and the default work dir's.
func clientConfigCandidates(explicit, workDir string) []string {
	if explicit != "" {
		return []string{explicit}
	}
	var c []string
	if workDir != "" {
		c = append(c, filepath.Join(workDir, pki.ClientConfigName))
	}
	if dir, err := os.UserConfigDir(); err == nil {
		c = append(c, filepath.Join(dir, "nodectl", pki.ClientConfigName))
	}
	return append(c, etcClientConfig, filepath.Join(defaultWorkDir, pki.ClientConfigName))
}

// clientFlags locate the cluster for CLI commands that talk HTTPS to a master.
func clientFlags() []cli.Flag {
	return []cli.Flag{masterFlag(), workDirFlag(), clientConfigFlag()}
}

// clusterClient is an HTTPS client of a master, set up from a client config.
type clusterClient struct {
	http *http.Client
	base string
}

// cliTLS finds the client config (see clientConfigCandidates) and returns
// the master's base URL (--master overrides the config's server) and the
// client TLS: trust the cluster CA, present the admin certificate. On a
// node without client.yaml (an agent) whose work dir was given, it uses
// the node's own CA and certificate, with --master as the address. Every
// subcommand that talks to a master goes through it (cliHTTP).
func cliTLS(explicitConfig, workDir, master string) (string, *tls.Config, error) {
	var cc pki.ClientConfig
	path, err := pki.FindClientConfig(clientConfigCandidates(explicitConfig, workDir)...)
	switch {
	case err == nil:
		if cc, err = pki.LoadClientConfig(path); err != nil {
			return "", nil, &exitError{1, err.Error()}
		}
	case explicitConfig == "" && workDir != "" && pki.HasIdentity(pki.Paths{Dir: filepath.Join(workDir, "pki")}):
		p := pki.Paths{Dir: filepath.Join(workDir, "pki")}
		cc = pki.ClientConfig{CA: p.CACert(), Cert: p.NodeCert(), Key: p.NodeKey()}
		if master == "" {
			return "", nil, &exitError{1, "no client config in " + workDir + ": give --master HOST:PORT"}
		}
	default:
		return "", nil, &exitError{1, err.Error() + "; run on a master, set --work-dir/" + envName("work-dir") + " to a master's work dir, or point --client-config/" + clientConfigEnv + " at a client.yaml"}
	}
	tlsCfg, err := cc.TLS()
	if err != nil {
		return "", nil, &exitError{1, err.Error()}
	}
	base := cc.Server
	if master != "" {
		base = master
		if !strings.Contains(base, "://") {
			base = "https://" + base
		}
	}
	return strings.TrimSuffix(base, "/"), tlsCfg, nil
}

// cliHTTP is the one client builder of the subcommands that talk to a
// master (app, execute, task, volume, master, snapshot, token, health):
// the base URL and an HTTP client that trusts the cluster CA and presents
// the admin certificate, both from cliTLS. timeout 0 means none (event
// streams). An explicit http:// --master is used as given with a plain
// client: masters refuse plain HTTP, so it only reaches test servers.
func cliHTTP(c *cli.Context, timeout time.Duration) (string, *http.Client, error) {
	master := strings.TrimSuffix(c.String("master"), "/")
	if strings.HasPrefix(master, "http://") {
		return master, &http.Client{Timeout: timeout}, nil
	}
	base, tlsCfg, err := cliTLS(c.String("client-config"), c.String("work-dir"), master)
	if err != nil {
		return "", nil, err
	}
	return base, &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: tlsCfg}}, nil
}

func newClusterClient(c *cli.Context) (*clusterClient, error) {
	base, hc, err := cliHTTP(c, callTimeout)
	if err != nil {
		return nil, err
	}
	return &clusterClient{http: hc, base: base}, nil
}

// do sends a JSON request and decodes a 2xx answer into out.
func (cc *clusterClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, cc.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := cc.http.Do(req)
	if err != nil {
		return fmt.Errorf("master %s unreachable: %w", cc.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s", method, path, responseError(resp))
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode: %w", method, path, err)
	}
	return nil
}

// tokenCommand is `nodectl token`: join tokens on the master's
// /master/tokens, authenticated with the admin certificate of the client
// config.
func tokenCommand() *cli.Command {
	out := &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "table or json"}
	return &cli.Command{
		Name:  "token",
		Usage: "create, list and revoke join tokens",
		Subcommands: []*cli.Command{
			{
				Name:         "create",
				Usage:        "create a join token; prints the token, then the command that joins a node with it",
				OnUsageError: usageError,
				Flags: append(clientFlags(),
					&cli.StringFlag{Name: "role", Value: pki.RoleAgent, Usage: "agent or master"},
					&cli.GenericFlag{Name: "ttl", Value: &durationFlag{24 * time.Hour}, Usage: "lifetime (0: never expires)"},
					&cli.IntFlag{Name: "uses", Usage: "how many nodes may join with it (0: unlimited)"},
					&cli.StringFlag{Name: "description", Usage: "a note shown in token list"},
				),
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return &exitError{2, "token create takes no arguments"}
					}
					role := c.String("role")
					if role != pki.RoleAgent && role != pki.RoleMaster {
						return &exitError{2, fmt.Sprintf("--role %q: want agent or master", role)}
					}
					if c.Int("uses") < 0 {
						return &exitError{2, "--uses must not be negative (0: unlimited)"}
					}
					cc, err := newClusterClient(c)
					if err != nil {
						return err
					}
					req := cluster.TokenCreateRequest{Role: role, TTL: c.Generic("ttl").(*durationFlag).d.String(), Uses: c.Int("uses"), Description: c.String("description")}
					var resp cluster.TokenCreateResponse
					if err := cc.do(c.Context, http.MethodPost, pki.PathTokens, req, &resp); err != nil {
						return err
					}
					fmt.Fprintln(c.App.Writer, resp.Token)
					fmt.Fprintln(c.App.Writer, resp.JoinCommand)
					return nil
				},
			},
			{
				Name:         "list",
				Aliases:      []string{"ls"},
				Usage:        "list join tokens (secrets are not shown)",
				OnUsageError: usageError,
				Flags:        append(clientFlags(), out),
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return &exitError{2, "token list takes no arguments"}
					}
					o := c.String("output")
					if o != "table" && o != "json" {
						return &exitError{2, fmt.Sprintf("-o %q: want table or json", o)}
					}
					cc, err := newClusterClient(c)
					if err != nil {
						return err
					}
					var resp struct {
						Tokens []pki.TokenInfo `json:"tokens"`
					}
					if err := cc.do(c.Context, http.MethodGet, pki.PathTokens, nil, &resp); err != nil {
						return err
					}
					return printTokens(c.App.Writer, resp.Tokens, o, time.Now())
				},
			},
			{
				Name:         "revoke",
				Usage:        "revoke a join token; nodes that joined with it stay",
				ArgsUsage:    "ID",
				OnUsageError: usageError,
				Flags:        clientFlags(),
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return &exitError{2, "usage: nodectl token revoke ID"}
					}
					id := c.Args().First()
					if t, err := pki.ParseToken(id); err == nil {
						id = t.ID // a whole token names its id too
					}
					cc, err := newClusterClient(c)
					if err != nil {
						return err
					}
					var info pki.TokenInfo
					if err := cc.do(c.Context, http.MethodDelete, pki.PathTokens+"/"+id, nil, &info); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "token %s revoked\n", info.ID)
					return nil
				},
			},
		},
	}
}

func printTokens(w io.Writer, tokens []pki.TokenInfo, output string, now time.Time) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if tokens == nil {
			tokens = []pki.TokenInfo{}
		}
		return enc.Encode(tokens)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tSTATE\tUSED\tEXPIRES\tCREATED\tDESCRIPTION")
	for _, t := range tokens {
		uses := fmt.Sprintf("%d/%d", t.Used, t.Uses)
		if t.Uses == 0 {
			uses = fmt.Sprintf("%d/unlimited", t.Used)
		}
		exp := "never"
		if !t.Expires.IsZero() {
			exp = t.Expires.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Role, t.State(now), uses, exp, t.Created.UTC().Format(time.RFC3339), t.Description)
	}
	return tw.Flush()
}
