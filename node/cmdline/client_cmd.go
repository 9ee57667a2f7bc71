package cmdline

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"nodectl/cluster/client"
	"nodectl/cluster/pki"
)

// Where the CLI looks for its client config, after --client-config, and
// where it takes a principal's credentials from.
const (
	clientConfigEnv = "NODECTL_CLIENT_CONFIG"
	defaultWorkDir  = "/var/lib/nodectl"
	etcClientConfig = "/etc/nodectl/" + pki.ClientConfigName
	principalEnv    = "NODECTL_PRINCIPAL"
	secretEnv       = "NODECTL_SECRET"
)

// authHint ends the message of a 401: how to give credentials.
const authHint = "give --principal with --secret-file or --secret (or " + principalEnv + "/" + secretEnv +
	"), or the admin certificate of a master's work dir (--work-dir, or --client-config naming its client.yaml)"

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

// clientFlags locate the cluster for CLI commands that talk HTTPS to a
// master, and say who is asking.
func clientFlags() []cli.Flag {
	return append([]cli.Flag{masterFlag(), workDirFlag(), clientConfigFlag()}, credentialFlags()...)
}

// masterFlag, workDirFlag and clientConfigFlag locate the cluster for a
// subcommand (cliTLS): the client config gives the CA, the admin
// certificate and a master's address, which --master overrides.
func masterFlag() cli.Flag {
	return &cli.StringFlag{Name: "master", Usage: "host:port of a master (default: the client config's server; standbys redirect to the leader)", EnvVars: []string{masterEnv}}
}

func workDirFlag() cli.Flag {
	return &cli.StringFlag{Name: "work-dir", Usage: "a node's work dir, whose client.yaml (or certificate) to use", EnvVars: []string{envName("work-dir")}}
}

func clientConfigFlag() cli.Flag {
	return &cli.StringFlag{Name: "client-config", Usage: "client config file (server, CA, admin certificate)", EnvVars: []string{clientConfigEnv}}
}

// credentialFlags name a principal (HTTP Basic) instead of the client
// config's admin certificate.
func credentialFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "principal", Usage: "authenticate as this principal (HTTP Basic) instead of with the admin certificate", EnvVars: []string{principalEnv}},
		&cli.StringFlag{Name: "secret", Usage: "the principal's secret (visible to other local users; prefer --secret-file or " + secretEnv + ")", EnvVars: []string{secretEnv}},
		&cli.StringFlag{Name: "secret-file", Usage: "file holding the principal's secret (its first line)"},
	}
}

// credentials are the principal and secret of the credential flags; none
// for the admin certificate. A half-given pair is a usage error.
func credentials(c *cli.Context) (principal, secret string, err error) {
	principal, secret = strings.TrimSpace(c.String("principal")), c.String("secret")
	if f := c.String("secret-file"); f != "" {
		if secret != "" && secret != os.Getenv(secretEnv) {
			return "", "", &exitError{2, "give --secret or --secret-file, not both"}
		}
		if secret, err = readSecretFile(f); err != nil {
			return "", "", &exitError{2, "--secret-file: " + err.Error()}
		}
	}
	switch {
	case principal == "" && c.String("secret-file") != "":
		return "", "", &exitError{2, "--secret-file needs --principal (or " + principalEnv + ")"}
	case principal == "" && secret != "":
		return "", "", &exitError{2, "--secret (or " + secretEnv + ") needs --principal (or " + principalEnv + ")"}
	case principal != "" && secret == "":
		return "", "", &exitError{2, fmt.Sprintf("--principal %s needs --secret-file, --secret or %s", principal, secretEnv)}
	}
	return principal, secret, nil
}

// readSecretFile is the first line of a secret file.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", fmt.Errorf("%s: empty first line", path)
	}
	return line, nil
}

// cliTLS finds the client config (see clientConfigCandidates) and returns
// the master's base URL (--master overrides the config's server) and the
// client TLS: trust the cluster CA, present the admin certificate. On a
// node without client.yaml (an agent) whose work dir was given, it uses
// the node's own CA and certificate, with --master as the address.
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

// newClient is the one client builder of the subcommands that talk to a
// master (app, execute, task, volume, master, snapshot, token, user): the
// server and TLS from cliTLS, and the principal of the credential flags,
// if any, in place of the admin certificate. timeout bounds each call
// (not event streams); 0 means none. An explicit http:// --master is used
// as given without TLS: masters refuse plain HTTP, so it only reaches
// test servers.
func newClient(c *cli.Context, timeout time.Duration) (*client.Client, error) {
	principal, secret, err := credentials(c)
	if err != nil {
		return nil, err
	}
	cfg := client.Config{Principal: principal, Secret: secret, Timeout: timeout, AuthHint: authHint}
	master := strings.TrimSuffix(c.String("master"), "/")
	if strings.HasPrefix(master, "http://") {
		cfg.Server = master
	} else if cfg.Server, cfg.TLS, err = cliTLS(c.String("client-config"), c.String("work-dir"), master); err != nil {
		return nil, err
	}
	cl, err := client.New(cfg)
	if err != nil {
		return nil, &exitError{2, err.Error()}
	}
	return cl, nil
}
