package cmdline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"nodectl/cluster/api"
	"nodectl/cluster/client"
)

// nodectl check: a check of the leading master for monitoring systems
// (Nagios, Icinga, a systemd timer), after the Monitoring Plugins
// development guidelines (https://www.monitoring-plugins.org/doc/guidelines.html):
// one status line "NODECTL OK - … | perfdata" on stdout and the exit code
// 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. An unreachable cluster is
// CRITICAL; a check that cannot be made (bad arguments, no credentials,
// a refusal) is UNKNOWN, as the guidelines ask, so for this command only a
// usage error exits 3, not 2.
//
// It reads the leader's /state (a standby redirects): the leader is
// elected, its etcd has no alarm, the active agents are within the
// --warning/--critical ranges (plugin range syntax; --min-agents N is
// --critical N:), a named framework is registered and connected, the
// master quorum is healthy (--quorum), and every etcd member's database
// leaves --disk-headroom percent of its quota.

// Plugin exit codes.
const (
	checkOK       = 0
	checkWarning  = 1
	checkCritical = 2
	checkUnknown  = 3
)

var checkNames = [...]string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}

// pluginRange is a threshold range in the plugin syntax: [@]start:end,
// start defaults to 0, "~" is minus infinity, an empty end is infinity.
// A value alerts when outside [start, end], or inside with "@".
type pluginRange struct {
	start, end float64
	inside     bool
	text       string
}

func parsePluginRange(s string) (pluginRange, error) {
	r := pluginRange{start: 0, end: math.Inf(1), text: s}
	body := s
	if strings.HasPrefix(body, "@") {
		r.inside, body = true, body[1:]
	}
	lo, hi, hasColon := strings.Cut(body, ":")
	if !hasColon {
		lo, hi = "", body
	}
	var err error
	switch {
	case lo == "~":
		r.start = math.Inf(-1)
	case lo != "":
		if r.start, err = strconv.ParseFloat(lo, 64); err != nil {
			return r, fmt.Errorf("range %q: bad start %q", s, lo)
		}
	}
	if hi != "" {
		if r.end, err = strconv.ParseFloat(hi, 64); err != nil {
			return r, fmt.Errorf("range %q: bad end %q", s, hi)
		}
	} else if !hasColon {
		return r, fmt.Errorf("range %q: empty", s)
	}
	if r.start > r.end {
		return r, fmt.Errorf("range %q: start is above end", s)
	}
	return r, nil
}

// alerts reports whether v is outside the range (inside, with "@").
func (r pluginRange) alerts(v float64) bool {
	in := v >= r.start && v <= r.end
	if r.inside {
		return in
	}
	return !in
}

// checkOptions are the check's thresholds.
type checkOptions struct {
	warn, crit   *pluginRange // agents
	framework    string
	quorum       bool
	diskHeadroom float64 // percent; 0: not checked
}

// checkState is what the check reads of /state.
type checkState struct {
	Leader          string        `json:"leader"`
	ActivatedSlaves int           `json:"activated_slaves"`
	Deactivated     int           `json:"deactivated_slaves"`
	Masters         api.Quorum    `json:"masters"`
	Frameworks      []checkFwJSON `json:"frameworks"`
}

type checkFwJSON struct {
	Name   string `json:"name"`
	Active bool   `json:"active"`
}

// checkResult is the status and its parts.
type checkResult struct {
	code     int
	messages []string // the problems, worst first; or what is fine
	perf     []string
}

func (r *checkResult) raise(code int, msg string) {
	if code > r.code {
		r.code = code
		r.messages = append([]string{msg}, r.messages...)
		return
	}
	r.messages = append(r.messages, msg)
}

func (r checkResult) line() string {
	s := "NODECTL " + checkNames[r.code] + " - " + strings.Join(r.messages, ", ")
	if len(r.perf) > 0 {
		s += " | " + strings.Join(r.perf, " ")
	}
	return s
}

func rangeText(r *pluginRange) string {
	if r == nil {
		return ""
	}
	return r.text
}

// evaluateCheck judges st against the options.
func evaluateCheck(st checkState, o checkOptions) checkResult {
	var r checkResult
	leader := strings.TrimPrefix(st.Leader, "master@")
	r.messages = append(r.messages, "leader "+leader)
	if len(st.Masters.Alarms) > 0 {
		r.raise(checkCritical, "etcd alarm "+strings.Join(st.Masters.Alarms, ","))
	}
	agents := st.ActivatedSlaves
	msg := fmt.Sprintf("%d agents active", agents)
	switch {
	case o.crit != nil && o.crit.alerts(float64(agents)):
		r.raise(checkCritical, msg+" (critical "+o.crit.text+")")
	case o.warn != nil && o.warn.alerts(float64(agents)):
		r.raise(checkWarning, msg+" (warning "+o.warn.text+")")
	default:
		r.messages = append(r.messages, msg)
	}
	r.perf = append(r.perf, fmt.Sprintf("agents=%d;%s;%s;0;", agents, rangeText(o.warn), rangeText(o.crit)),
		fmt.Sprintf("agents_inactive=%d;;;0;", st.Deactivated),
		fmt.Sprintf("frameworks=%d;;;0;", len(st.Frameworks)))
	if o.framework != "" {
		state := "not registered"
		for _, f := range st.Frameworks {
			if f.Name == o.framework {
				state = "disconnected"
				if f.Active {
					state = ""
					break
				}
			}
		}
		switch state {
		case "":
			r.messages = append(r.messages, "framework "+o.framework+" registered")
		default:
			r.raise(checkCritical, "framework "+o.framework+" "+state)
		}
	}
	q := st.Masters
	if o.quorum {
		msg := fmt.Sprintf("quorum %d/%d voters healthy (need %d)", q.HealthyVoters, q.Voters, q.Quorum)
		if !q.Healthy || q.HealthyVoters < q.Quorum {
			r.raise(checkCritical, msg)
		} else if q.HealthyVoters < q.Voters {
			r.raise(checkWarning, msg)
		} else {
			r.messages = append(r.messages, msg)
		}
		r.perf = append(r.perf, fmt.Sprintf("voters_healthy=%d;%d;%d;0;%d", q.HealthyVoters, q.Voters-1, q.Quorum-1, q.Voters))
	}
	if o.diskHeadroom > 0 {
		if q.DBQuota <= 0 {
			r.raise(checkUnknown, "etcd database quota unknown")
		} else {
			worst := int64(0)
			for _, m := range q.Members {
				worst = max(worst, m.DBSize)
			}
			left := 100 * (1 - float64(worst)/float64(q.DBQuota))
			msg := fmt.Sprintf("etcd database %.0f%% of quota free", left)
			switch {
			case left < o.diskHeadroom/2:
				r.raise(checkCritical, msg+fmt.Sprintf(" (want %.0f%%)", o.diskHeadroom))
			case left < o.diskHeadroom:
				r.raise(checkWarning, msg+fmt.Sprintf(" (want %.0f%%)", o.diskHeadroom))
			default:
				r.messages = append(r.messages, msg)
			}
			warnAt := int64(float64(q.DBQuota) * (1 - o.diskHeadroom/100))
			critAt := int64(float64(q.DBQuota) * (1 - o.diskHeadroom/200))
			r.perf = append(r.perf, fmt.Sprintf("etcd_db=%dB;%d;%d;0;%d", worst, warnAt, critAt, q.DBQuota))
		}
	}
	return r
}

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "check the leading master for a monitoring system (Nagios plugin conventions: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)",
		UsageText: "nodectl check [--master ADDR] [--min-agents N] [--warning RANGE] [--critical RANGE] [--framework NAME] [--quorum] [--disk-headroom P]",
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			fmt.Fprintln(c.App.Writer, "NODECTL UNKNOWN - "+oneLine(err.Error()))
			return &exitError{checkUnknown, ""}
		},
		Flags: append(clientFlags(),
			&cli.IntFlag{Name: "min-agents", Usage: "CRITICAL below this many active agents (the same as --critical N:)"},
			&cli.StringFlag{Name: "warning", Aliases: []string{"w"}, Usage: "WARNING when the active agents are outside this range (plugin syntax: N:, ~:N, N:M, @N:M)"},
			&cli.StringFlag{Name: "critical", Aliases: []string{"c"}, Usage: "CRITICAL when the active agents are outside this range"},
			&cli.StringFlag{Name: "framework", Usage: "CRITICAL unless a framework of this name is registered and connected"},
			&cli.BoolFlag{Name: "quorum", Usage: "CRITICAL when the masters' etcd quorum is lost, WARNING when a voter is down"},
			&cli.Float64Flag{Name: "disk-headroom", Usage: "WARNING when an etcd member's database leaves less than this percent of its quota free (CRITICAL below half of it)"},
			&cli.GenericFlag{Name: "timeout", Aliases: []string{"t"}, Value: &durationFlag{10 * time.Second}, Usage: "give up (CRITICAL) after this long"},
		),
		Action: func(c *cli.Context) error {
			code, line := runCheck(c)
			fmt.Fprintln(c.App.Writer, line)
			if code == checkOK {
				return nil
			}
			return &exitError{code, ""}
		},
	}
}

// runCheck parses the options, reads /state and judges it.
func runCheck(c *cli.Context) (int, string) {
	unknown := func(msg string) (int, string) { return checkUnknown, "NODECTL UNKNOWN - " + oneLine(msg) }
	if c.NArg() > 0 {
		return unknown("check takes no arguments")
	}
	var o checkOptions
	for _, f := range []struct {
		name string
		into **pluginRange
	}{{"warning", &o.warn}, {"critical", &o.crit}} {
		if s := c.String(f.name); s != "" {
			r, err := parsePluginRange(s)
			if err != nil {
				return unknown("--" + f.name + ": " + err.Error())
			}
			*f.into = &r
		}
	}
	if n := c.Int("min-agents"); c.IsSet("min-agents") {
		if n < 0 {
			return unknown("--min-agents must be 0 or more")
		}
		if o.crit != nil {
			return unknown("give --min-agents or --critical, not both")
		}
		r, _ := parsePluginRange(strconv.Itoa(n) + ":")
		o.crit = &r
	}
	o.framework, o.quorum, o.diskHeadroom = c.String("framework"), c.Bool("quorum"), c.Float64("disk-headroom")
	if o.diskHeadroom < 0 || o.diskHeadroom >= 100 {
		return unknown("--disk-headroom is a percentage in 0..100")
	}
	timeout := c.Generic("timeout").(*durationFlag).D
	ctx, cancel := context.WithTimeout(c.Context, timeout)
	defer cancel()
	m, err := newMasterAPI(c)
	if err != nil {
		return unknown(err.Error())
	}
	var st checkState
	if err := m.getJSON(ctx, "/state", &st); err != nil {
		if errors.Is(err, client.ErrUnauthenticated) || errors.Is(err, client.ErrPermissionDenied) {
			return unknown(err.Error())
		}
		return checkCritical, "NODECTL CRITICAL - " + oneLine(err.Error())
	}
	return statusLine(evaluateCheck(st, o))
}

func statusLine(r checkResult) (int, string) { return r.code, r.line() }
