package node

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"nodectl/cluster"
	"nodectl/cluster/api"
)

// Mesos' role flags (docs/quota.md): the master's --weights, --roles and
// --whitelist (cluster/quota.go) and the agent's --default_role.

// roleFlags are the role flags, with Mesos' names.
func roleFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "weights", EnvVars: []string{envName("weights")},
			Usage: "master: initial role weights 'role=weight,role=weight' (a role's DRF share is divided by its weight); once weights are set with PUT /weights or UPDATE_WEIGHTS, those win, as in Mesos"},
		&cli.StringFlag{Name: "roles", EnvVars: []string{envName("roles")},
			Usage: "master: comma-separated roles frameworks may subscribe in (\"*\" is always allowed); weights and quota only for these (default: any role)"},
		&cli.StringFlag{Name: "whitelist", EnvVars: []string{envName("whitelist")},
			Usage: "master: file of agent hostnames, one a line (or file:///path): only those agents are offered; re-read every 5 seconds (default: all agents)"},
		&cli.StringFlag{Name: "default-role", Aliases: []string{"default_role"}, Value: "*", EnvVars: []string{envName("default-role")},
			Usage: "agent: role of the resources --resources gives without a role and of detected ones (statically reserved for it unless *)"},
	}
}

// rolesConfig is what the role flags configure.
type rolesConfig struct {
	Master      cluster.RolesConfig
	DefaultRole string
}

func loadRoleFlags(c *cli.Context, cfg *Config) error {
	weights, err := cluster.ParseWeights(c.String("weights"))
	if err != nil {
		return fmt.Errorf("%w: --weights: %w", ErrConfig, err)
	}
	rc := rolesConfig{
		Master: cluster.RolesConfig{
			Weights: weights, Whitelist: splitList(c.String("roles")), AgentWhitelist: strings.TrimSpace(c.String("whitelist")),
		},
		DefaultRole: c.String("default-role"),
	}
	if err := cluster.ValidateRolesConfig(rc.Master); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if wl := rc.Master.Whitelist; len(wl) > 0 && cfg.AppsRole != "" && cfg.AppsRole != "*" && !slices.Contains(wl, cfg.AppsRole) {
		return fmt.Errorf("%w: --roles %s leaves out the built-in apps framework's role %q (--mesos-role): add it to --roles", ErrConfig, strings.Join(wl, ","), cfg.AppsRole)
	}
	if rc.DefaultRole == "" {
		rc.DefaultRole = "*"
	}
	if err := api.ValidateRole(rc.DefaultRole); err != nil {
		return fmt.Errorf("%w: --default_role: %w", ErrConfig, err)
	}
	cfg.Roles = rc
	return nil
}

// withDefaultRole reserves for role the resources of rs that have none
// (Mesos' agent --default_role).
func withDefaultRole(rs api.Resources, role string) api.Resources {
	if role == "" || role == "*" {
		return rs
	}
	out := make(api.Resources, 0, len(rs))
	for _, r := range rs {
		if r.Role == "" || r.Role == "*" {
			r.Role = role
		}
		out = append(out, r)
	}
	return out.Add(nil)
}
