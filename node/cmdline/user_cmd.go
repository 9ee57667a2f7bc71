package cmdline

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"nodectl/cluster/client"
)

// The master's user API (HTTP Basic principals and their app permissions).
const (
	pathUsers  = "/auth/users"
	pathWhoami = "/auth/whoami"
)

// userInfo is one user of GET /auth/users.
type userInfo struct {
	Principal string   `json:"principal"`
	Apps      []string `json:"apps"`
	Created   string   `json:"created"` // RFC 3339
}

// userRequest is the body of POST /auth/users and PUT /auth/users/{principal}.
type userRequest struct {
	Principal string   `json:"principal,omitempty"`
	Secret    string   `json:"secret,omitempty"`
	Apps      []string `json:"apps,omitempty"`
}

// whoami is GET /auth/whoami.
type whoami struct {
	Principal string `json:"principal"`
	Kind      string `json:"kind"` // certificate, basic or session
	Superuser bool   `json:"superuser"`
}

// isTerminal says whether the CLI's stdin is a terminal (a secret is
// then generated rather than read).
var isTerminal = func(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// userCommand is `nodectl user`: the principals that authenticate with a
// secret (HTTP Basic) and the apps they may manage.
func userCommand() *cli.Command {
	newSecret := func() cli.Flag {
		return &cli.StringFlag{Name: "new-secret-file", Usage: "file holding the user's secret (first line); default: a line on stdin, or generated and printed when stdin is a terminal"}
	}
	appsFlag := func(usage string) cli.Flag {
		return &cli.StringFlag{Name: "apps", Usage: usage}
	}
	// run checks its input first, then dials: a usage error is exit 2
	// wherever the client config is.
	sub := func(name, usage, argsUsage string, nargs int, flags []cli.Flag, run func(c *cli.Context, dial func() (*client.Client, error)) error) *cli.Command {
		return &cli.Command{
			Name: name, Usage: usage, ArgsUsage: argsUsage, OnUsageError: usageError,
			Flags: append(clientFlags(), flags...),
			Action: func(c *cli.Context) error {
				args, err := lateFlags(c, nargs)
				if err != nil {
					return err
				}
				if len(args) != nargs {
					return &exitError{2, strings.TrimSpace("usage: nodectl user " + name + " " + argsUsage)}
				}
				if nargs > 0 {
					if err := checkPrincipal(args[0]); err != nil {
						return err
					}
				}
				if (name == "add" || name == "passwd") && c.IsSet("secret-file") && c.String("principal") == "" {
					return &exitError{2, "--secret-file is your own secret and needs --principal; the user's secret comes from --new-secret-file, stdin, or is generated"}
				}
				if _, _, err := credentials(c); err != nil {
					return err
				}
				return cliErr(run(c, func() (*client.Client, error) { return newClient(c, callTimeout) }))
			},
		}
	}
	return &cli.Command{
		Name:  "user",
		Usage: "manage users: principals with a secret (HTTP Basic) and the apps they may manage",
		Subcommands: []*cli.Command{
			withAlias(sub("list", "list users", "", 0, listFlags(), userList), "ls"),
			sub("add", "add a user; without --new-secret-file reads the secret from stdin, or generates and prints one on a terminal", "NAME", 1,
				[]cli.Flag{appsFlag("app groups the user may manage, comma-separated (/team-a,/team-b)"), newSecret()}, userAdd),
			sub("passwd", "set a user's secret (as user add takes it)", "NAME", 1, []cli.Flag{newSecret()}, userPasswd),
			sub("apps", "set the app groups a user may manage (--apps \"\": none)", "NAME", 1,
				[]cli.Flag{appsFlag("app groups, comma-separated (/team-a,/team-b); required")}, userApps),
			withAlias(sub("remove", "remove a user", "NAME", 1, nil, userRemove), "rm"),
		},
	}
}

func withAlias(c *cli.Command, alias string) *cli.Command {
	c.Aliases = append(c.Aliases, alias)
	return c
}

// whoamiCommand is `nodectl whoami`: who the master takes the caller for.
func whoamiCommand() *cli.Command {
	return &cli.Command{
		Name: "whoami", Usage: "show who the master takes you for (admin certificate or principal)", OnUsageError: usageError,
		Flags: append(clientFlags(), &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "table or json"}),
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return &exitError{2, "whoami takes no arguments"}
			}
			o := c.String("output")
			if o != "table" && o != "json" {
				return &exitError{2, fmt.Sprintf("-o %q: want table or json", o)}
			}
			cl, err := newClient(c, callTimeout)
			if err != nil {
				return err
			}
			var w whoami
			if err := cl.Get(c.Context, pathWhoami, &w); err != nil {
				return cliErr(err)
			}
			if o == "json" {
				b, _ := json.Marshal(w)
				return printJSON(c.App.Writer, b)
			}
			kind := w.Kind
			if w.Superuser {
				kind += ", superuser"
			}
			fmt.Fprintf(c.App.Writer, "%s (%s)\n", w.Principal, kind)
			return nil
		},
	}
}

// lateFlags parses flags given after the first nargs arguments (urfave/cli
// stops at the first argument: `user add alice --apps /a`) into c, and
// returns the arguments.
func lateFlags(c *cli.Context, nargs int) ([]string, error) {
	all := c.Args().Slice()
	if len(all) <= nargs {
		return all, nil
	}
	args := append([]string(nil), all[:nargs]...)
	rest := all[nargs:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			return append(args, rest[i+1:]...), nil
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			args = append(args, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := commandFlag(c.Command, name)
		if f == nil {
			return nil, &exitError{2, "unknown flag " + a + " (see --help)"}
		}
		if _, isBool := f.(*cli.BoolFlag); isBool && !hasVal {
			val = "true"
		} else if !hasVal {
			if i+1 == len(rest) {
				return nil, &exitError{2, "--" + name + ": missing value"}
			}
			i++
			val = rest[i]
		}
		if err := c.Set(f.Names()[0], val); err != nil {
			return nil, &exitError{2, fmt.Sprintf("--%s: invalid value %q: %v", name, val, err)}
		}
	}
	return args, nil
}

func commandFlag(cmd *cli.Command, name string) cli.Flag {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// checkPrincipal refuses names HTTP Basic cannot carry or a path cannot
// hold; the master checks the rest (422).
func checkPrincipal(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return &exitError{2, "user name must not be empty"}
	case strings.ContainsAny(name, ":/"):
		return &exitError{2, fmt.Sprintf("user name %q: must not contain ':' or '/'", name)}
	case strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		return &exitError{2, fmt.Sprintf("user name %q: must not contain spaces or control characters", name)}
	}
	return nil
}

// parseApps reads --apps: app group ids, comma-separated, each absolute.
func parseApps(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return []string{}, nil
	}
	var apps []string
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		if !strings.HasPrefix(a, "/") {
			return nil, &exitError{2, fmt.Sprintf("--apps: %q is not an app id (want /group, comma-separated)", a)}
		}
		apps = append(apps, a)
	}
	return apps, nil
}

func userPath(name string) string { return pathUsers + "/" + url.PathEscape(name) }

// newUserSecret is the secret user add and passwd set: --new-secret-file,
// else one line of stdin, else (stdin a terminal) a generated one.
func newUserSecret(c *cli.Context) (secret string, generated bool, err error) {
	if f := c.String("new-secret-file"); f != "" {
		s, err := readSecretFile(f)
		if err != nil {
			return "", false, &exitError{2, "--new-secret-file: " + err.Error()}
		}
		return s, false, nil
	}
	if !isTerminal(c.App.Reader) {
		line, err := bufio.NewReader(c.App.Reader).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", false, &exitError{2, "read secret from stdin: " + err.Error()}
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			return "", false, &exitError{2, "no secret on stdin (one line expected; or give --new-secret-file)"}
		}
		return line, false, nil
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", false, fmt.Errorf("generate secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), true, nil
}

// printGenerated prints a generated secret, once the master has it: the
// only time it is shown.
func printGenerated(c *cli.Context, name, secret string, generated bool) {
	if generated {
		fmt.Fprintf(c.App.Writer, "secret for %s: %s\n", name, secret)
	}
}

func userList(c *cli.Context, dial func() (*client.Client, error)) error {
	o, err := listFormat(c)
	if err != nil {
		return err
	}
	cl, err := dial()
	if err != nil {
		return err
	}
	var resp struct {
		Users []userInfo `json:"users"`
	}
	if err := cl.Get(c.Context, pathUsers, &resp); err != nil {
		return err
	}
	if structured(o) {
		if resp.Users == nil {
			resp.Users = []userInfo{}
		}
		b, _ := json.Marshal(resp.Users)
		return writeFormatted(c.App.Writer, o, b)
	}
	if o == "quiet" {
		for _, u := range resp.Users {
			fmt.Fprintln(c.App.Writer, u.Principal)
		}
		return nil
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PRINCIPAL\tAPPS\tCREATED")
	for _, u := range resp.Users {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Principal, dash(strings.Join(u.Apps, ",")), dash(u.Created))
	}
	return tw.Flush()
}

func userAdd(c *cli.Context, dial func() (*client.Client, error)) error {
	name := c.Args().First()
	apps, err := parseApps(c.String("apps"))
	if err != nil {
		return err
	}
	secret, generated, err := newUserSecret(c)
	if err != nil {
		return err
	}
	cl, err := dial()
	if err != nil {
		return err
	}
	var created struct {
		Principal string `json:"principal"`
	}
	if err := cl.Post(c.Context, pathUsers, userRequest{Principal: name, Secret: secret, Apps: apps}, &created); err != nil {
		return fmt.Errorf("add user %s: %w", name, err)
	}
	printGenerated(c, name, secret, generated)
	fmt.Fprintf(c.App.ErrWriter, "user %s added\n", name)
	return nil
}

func userPasswd(c *cli.Context, dial func() (*client.Client, error)) error {
	name := c.Args().First()
	secret, generated, err := newUserSecret(c)
	if err != nil {
		return err
	}
	cl, err := dial()
	if err != nil {
		return err
	}
	if err := cl.Put(c.Context, userPath(name), userRequest{Secret: secret}, nil); err != nil {
		return fmt.Errorf("set secret of %s: %w", name, err)
	}
	printGenerated(c, name, secret, generated)
	fmt.Fprintf(c.App.ErrWriter, "secret of %s changed\n", name)
	return nil
}

func userApps(c *cli.Context, dial func() (*client.Client, error)) error {
	name := c.Args().First()
	if !c.IsSet("apps") {
		return &exitError{2, "user apps needs --apps (\"\" for none)"}
	}
	apps, err := parseApps(c.String("apps"))
	if err != nil {
		return err
	}
	cl, err := dial()
	if err != nil {
		return err
	}
	// {"apps": []} must reach the master: none is a change, not an omission.
	body := struct {
		Apps []string `json:"apps"`
	}{apps}
	if err := cl.Put(c.Context, userPath(name), body, nil); err != nil {
		return fmt.Errorf("set apps of %s: %w", name, err)
	}
	fmt.Fprintf(c.App.ErrWriter, "%s may manage %s\n", name, dash(strings.Join(apps, ",")))
	return nil
}

func userRemove(c *cli.Context, dial func() (*client.Client, error)) error {
	name := c.Args().First()
	cl, err := dial()
	if err != nil {
		return err
	}
	if err := cl.Delete(c.Context, userPath(name), nil); err != nil {
		return fmt.Errorf("remove user %s: %w", name, err)
	}
	fmt.Fprintf(c.App.ErrWriter, "user %s removed\n", name)
	return nil
}
