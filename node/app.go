package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	goruntime "runtime"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"nodectl/cluster/api"
	"nodectl/cluster/client"
	"nodectl/node/appliance"
	"nodectl/node/cmdline"
)

// Main runs the nodectl command line and returns the process exit code.
// As PID 1 started as init (the appliance ISO's /init) it boots the
// machine instead and never returns.
func Main(args []string) int {
	// nodectl serves no heap profiles: the runtime's sampling of
	// allocations for them (a record per sampled call stack, kept for the
	// life of the process, each sample's stack unwound) is turned off
	// first thing (https://pkg.go.dev/runtime#MemProfileRate); only the
	// package initialisations before it are sampled.
	goruntime.MemProfileRate = 0
	if appliance.StartedAsInit(args) {
		appliance.Run(applianceNode())
	}
	return runCLI(args, os.Stdout, os.Stderr)
}

// runCLI runs the command line with the given outputs: the exit code, and
// errors as one line on stderr.
func runCLI(args []string, stdout, stderr io.Writer) int {
	return runCLIWith(args, nil, stdout, stderr)
}

// runCLIWith is runCLI reading stdin from stdin (nil: os.Stdin).
func runCLIWith(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr, Run)
	if stdin != nil {
		app.Reader = stdin
	}
	err := app.Run(cmdline.Interspersed(app, args))
	if err == nil {
		return 0
	}
	code := 1
	var ee *exitError
	var ce cli.ExitCoder
	switch {
	case errors.As(err, &ee):
		code = ee.Code
	case errors.As(err, &ce):
		code = ce.ExitCode()
	case errors.Is(err, ErrConfig):
		code = 2
	}
	if msg := oneLine(err.Error()); msg != "" {
		fmt.Fprintln(stderr, "nodectl: "+msg)
	}
	return code
}

// usageError turns urfave/flag parse errors into one line naming the flag.
func usageError(_ *cli.Context, err error, _ bool) error {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		if why := refusedFlag(rest); why != "" {
			return exitErr(2, why)
		}
		return exitErr(2, "unknown flag "+dashes(rest)+" (see --help)")
	}
	// "invalid value "x" for flag -port: parse error"
	if rest, ok := strings.CutPrefix(msg, "invalid value "); ok {
		if val, tail, ok := strings.Cut(rest, " for flag "); ok {
			flag, why, _ := strings.Cut(tail, ": ")
			return exitErr(2, fmt.Sprintf("%s: invalid value %s: %s", dashes(flag), val, why))
		}
	}
	if rest, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return exitErr(2, dashes(rest)+": missing value")
	}
	return exitErr(2, msg)
}

// runFunc runs a node; tests substitute it to capture the Config.
type runFunc func(ctx context.Context, cfg Config, stderr io.Writer) error

func newApp(stdout, stderr io.Writer, run runFunc) *cli.App {
	app := &cli.App{
		Name:            "nodectl",
		Usage:           "a single-binary cluster appliance: Mesos + Marathon without ZooKeeper or a JVM",
		Version:         api.Version,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		OnUsageError:    usageError,
		ExitErrHandler:  func(*cli.Context, error) {}, // Main prints and exits
		Commands: []*cli.Command{
			upCommand(stderr, run),
			healthCommand(stdout),
			versionCommand(stdout),
		},
	}
	app.Commands = append(app.Commands, extraCommands()...)
	cmdline.FitShell(app)
	return app
}

func upCommand(stderr io.Writer, run runFunc) *cli.Command {
	return &cli.Command{
		Name:         "up",
		Usage:        "run a master, an agent, or both (--role)",
		Flags:        upFlags(),
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return exitErr(2, fmt.Sprintf("up takes no arguments, got %q", c.Args().First()))
			}
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, syscall.SIGTERM, syscall.SIGINT)
			err = run(ctx, cfg, stderr)
			stop()
			return reexecAfterUpgrade(err) // POST /node/upgrade (node_upgrade.go)
		},
	}
}

func healthCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:         "health",
		Usage:        "probe a node over HTTPS: prints imok and exits 0 when it answers healthy",
		OnUsageError: usageError,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:5050", Usage: "host:port of a master or agent API", EnvVars: []string{"NODECTL_ADDR"}},
			&cli.GenericFlag{Name: "timeout", Value: &durationFlag{D: 5 * time.Second}, Usage: "how long to wait for the answer"},
			workDirFlag(), clientConfigFlag(),
		},
		Action: func(c *cli.Context) error {
			timeout := c.Generic("timeout").(*durationFlag).D
			// The CA (and a certificate, which agent ports require) come
			// from the client config or the node's work dir, as for every
			// subcommand.
			_, tlsCfg, err := cliTLS(c.String("client-config"), c.String("work-dir"), c.String("addr"))
			if err != nil {
				return err
			}
			if err := probeHealth(c.Context, c.String("addr"), timeout, tlsCfg); err != nil {
				return exitErr(1, err.Error())
			}
			fmt.Fprintln(stdout, "imok")
			return nil
		},
	}
}

// probeHealth GETs https://addr/health and wants 200.
func probeHealth(ctx context.Context, addr string, timeout time.Duration, tlsCfg *tls.Config) error {
	c, err := client.New(client.Config{Server: "https://" + addr, TLS: tlsCfg})
	if err != nil {
		return fmt.Errorf("health %s: %w", addr, err)
	}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := c.Stream(ctx, client.Request{Method: http.MethodGet, Path: "/health"})
	if err != nil {
		return fmt.Errorf("health %s: %w", addr, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health %s: answered %s", addr, resp.Status)
	}
	return nil
}

func versionCommand(stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(stdout, "nodectl %s (%s %s/%s)\n", api.Version, goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
			return nil
		},
	}
}
