package cmdline

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"nodectl/cluster/api"
	"nodectl/cluster/client"
)

// clusterCommand is `nodectl cluster`: operations on the whole cluster.
func clusterCommand() *cli.Command {
	return &cli.Command{
		Name:  "cluster",
		Usage: "operations on the whole cluster (rolling upgrade)",
		Subcommands: []*cli.Command{{
			Name:      "upgrade",
			Usage:     "rolling upgrade to a signed bundle: masters one at a time (leader last), then agents in batches, each drained first",
			ArgsUsage: " ",
			Description: "Masters first, one at a time, followers then the leader (asked to\n" +
				"step down first); after each: it reports the new version, the etcd\n" +
				"quorum is whole and a leader is elected. Then agents, --batch at a\n" +
				"time: drained (the built-in Marathon moves their app tasks within each\n" +
				"app's upgradeStrategy), the moved apps healthy again, upgraded,\n" +
				"re-registered on the new version, reactivated. Stops at the first\n" +
				"failure and says where; run it again to resume (nodes on the target\n" +
				"version are skipped). Needs the admin certificate (agents' ports take\n" +
				"no password). docs/upgrade.md.",
			OnUsageError: usageError,
			Flags: append(clientFlags(),
				&cli.StringFlag{Name: "image", Usage: "the signed update bundle (make binary-bundle for plain installs, make update-bundle for the appliance)"},
				&cli.IntFlag{Name: "batch", Value: 1, Usage: "agents upgraded at a time"},
				&cli.BoolFlag{Name: "dry-run", Usage: "print the plan and change nothing"},
				&cli.GenericFlag{Name: "timeout", Value: &durationFlag{D: 10 * time.Minute}, Usage: "longest time one step (a master, or a batch of agents) may take"},
			),
			Action: clusterUpgrade,
		}},
	}
}

// upgrader runs a cluster upgrade.
type upgrader struct {
	c       *client.Client // the leader (redirects followed)
	bulk    *client.Client // no per-call timeout: bundle uploads
	image   []byte
	target  string
	timeout time.Duration
	out     io.Writer
}

func clusterUpgrade(c *cli.Context) error {
	if c.NArg() != 0 {
		return &exitError{2, "cluster upgrade: unexpected argument " + c.Args().First()}
	}
	path := c.String("image")
	if path == "" {
		return &exitError{2, "cluster upgrade: --image BUNDLE is required"}
	}
	if c.Int("batch") < 1 {
		return &exitError{2, "cluster upgrade: --batch must be at least 1"}
	}
	timeout := c.Generic("timeout").(*durationFlag).D
	if timeout <= 0 {
		return &exitError{2, "cluster upgrade: --timeout must be positive"}
	}
	image, err := os.ReadFile(path)
	if err != nil {
		return &exitError{2, "cluster upgrade: " + err.Error()}
	}
	m, err := peekBundle(image)
	if err != nil {
		return &exitError{2, "cluster upgrade: " + path + ": " + err.Error()}
	}
	cl, err := newClient(c, 30*time.Second)
	if err != nil {
		return err
	}
	bulk, err := newClient(c, 0)
	if err != nil {
		return err
	}
	u := &upgrader{c: cl, bulk: bulk, image: image, target: m.Version, timeout: timeout, out: c.App.Writer}
	ctx := c.Context
	masters, agents, modes, err := u.survey(ctx)
	if err != nil {
		return &exitError{1, "cluster upgrade: " + err.Error()}
	}
	for addr, mode := range modes {
		need := bundleBinary
		if mode == api.UpgradeAppliance {
			need = bundleKernel
		}
		if _, ok := m.Files[need]; !ok {
			return &exitError{2, fmt.Sprintf("cluster upgrade: %s upgrades as %q and needs a bundle with %s; %s has none", addr, mode, need, path)}
		}
	}
	plan := planUpgrade(m.Version, masters, agents, c.Int("batch"))
	for _, w := range versionWarnings(m.Version, masters, agents) {
		fmt.Fprintln(c.App.ErrWriter, "warning: "+w)
	}
	fmt.Fprintf(u.out, "target version %s: %d step(s)\n", plan.Target, len(plan.Steps))
	for _, cur := range plan.Current {
		fmt.Fprintf(u.out, "  skip %s: on %s already\n", cur, plan.Target)
	}
	for i, s := range plan.Steps {
		fmt.Fprintf(u.out, "  %d. %s\n", i+1, s)
	}
	if c.Bool("dry-run") {
		return nil
	}
	began, nodes := time.Now(), 0
	err = runPlan(plan, func(s upStep) error {
		t := time.Now()
		fmt.Fprintf(u.out, "upgrading %s\n", s)
		sctx, cancel := context.WithTimeout(ctx, u.timeout)
		defer cancel()
		if err := u.step(sctx, s); err != nil {
			if sctx.Err() != nil && ctx.Err() == nil {
				err = fmt.Errorf("not done within --timeout %s: %w", u.timeout, err)
			}
			return err
		}
		n := len(s.Agents)
		if s.Master != nil && n == 0 {
			n = 1
		}
		nodes += n
		fmt.Fprintf(u.out, "  done in %s\n", time.Since(t).Round(100*time.Millisecond))
		return nil
	})
	if err != nil {
		return &exitError{1, "cluster upgrade: " + oneLine(err.Error()) + "; run it again to resume (nodes on " + u.target + " are skipped)"}
	}
	per := ""
	if nodes > 0 {
		per = fmt.Sprintf(", %s per node", (time.Since(began) / time.Duration(nodes)).Round(100*time.Millisecond))
	}
	fmt.Fprintf(u.out, "cluster on %s: %d node(s) upgraded in %s%s\n", u.target, nodes, time.Since(began).Round(100*time.Millisecond), per)
	return nil
}

// The members of an update bundle (node/internal/bundle, which nodes
// verify with; the CLI only reads the manifest to plan).
const (
	bundleManifest = "manifest.json"
	bundleBinary   = "nodectl"
	bundleKernel   = "vmlinuz"
)

// bundleManifestOf is the part of a bundle's manifest the plan needs.
type bundleManifestOf struct {
	Version string                     `json:"version"`
	Files   map[string]json.RawMessage `json:"files"`
}

// peekBundle reads a bundle's manifest, unverified: the nodes check the
// signature before they use anything of it.
func peekBundle(b []byte) (bundleManifestOf, error) {
	var m bundleManifestOf
	tr := tar.NewReader(bytes.NewReader(b))
	h, err := tr.Next()
	if err != nil || h.Name != bundleManifest {
		return m, fmt.Errorf("not an update bundle (%s first)", bundleManifest)
	}
	if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&m); err != nil || m.Version == "" {
		return m, fmt.Errorf("not an update bundle: bad manifest (%v)", err)
	}
	return m, nil
}

// versionWarnings flags mixes docs/upgrade.md does not support: an agent
// newer than a master (masters go first), and more than two versions.
func versionWarnings(target string, masters []upMaster, agents []upAgent) []string {
	var out []string
	seen := map[string]bool{target: true}
	oldMaster := false
	for _, m := range masters {
		seen[m.Version] = true
		oldMaster = oldMaster || m.Version != target
	}
	for _, a := range agents {
		seen[a.Version] = true
		if oldMaster && a.Version == target {
			out = append(out, fmt.Sprintf("%s runs %s while some master does not: agents should not be newer than masters", a, target))
		}
	}
	if len(seen) > 2 {
		vs := make([]string, 0, len(seen))
		for v := range seen {
			vs = append(vs, v)
		}
		slices.Sort(vs)
		out = append(out, "the cluster runs more than one version besides the target ("+strings.Join(vs, ", ")+"): only upgrades from one version at a time are tested")
	}
	return out
}

// survey reads the masters (with the leader and their nodes' agents) and
// the agents, each node's own report of its version and upgrade mode.
func (u *upgrader) survey(ctx context.Context) ([]upMaster, []upAgent, map[string]string, error) {
	var q api.Quorum
	if err := u.c.Get(ctx, api.PathMembers, &q); err != nil {
		return nil, nil, nil, fmt.Errorf("masters: %w", err)
	}
	if !q.Healthy || q.HealthyVoters < q.Voters || q.Leader == "" {
		return nil, nil, nil, fmt.Errorf("the master quorum is not whole (%d of %d voters healthy, leader %q): fix it before upgrading", q.HealthyVoters, q.Voters, q.Leader)
	}
	modes := map[string]string{}
	var masters []upMaster
	for _, x := range q.Members {
		if x.Master == "" {
			return nil, nil, nil, fmt.Errorf("master member %s (%s) runs no master: fix or remove it before upgrading", x.Name, x.ID)
		}
		st, err := u.nodeStatus(ctx, x.Master)
		if err != nil {
			return nil, nil, nil, err
		}
		if !st.Trusted {
			return nil, nil, nil, fmt.Errorf("master %s has no trusted update key (start it with --update-key)", x.Master)
		}
		modes["master "+x.Master] = st.Mode
		masters = append(masters, upMaster{Name: x.Name, Addr: x.Master, Version: st.Version, Leader: x.Master == q.Leader, Agent: st.Agent})
	}
	agents, err := u.agents(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	for i, a := range agents {
		st, err := u.nodeStatus(ctx, a.Addr)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", a, err)
		}
		if !st.Trusted {
			return nil, nil, nil, fmt.Errorf("%s has no trusted update key (start it with --update-key)", a)
		}
		agents[i].Version = st.Version
		modes[a.String()] = st.Mode
	}
	return masters, agents, modes, nil
}

// nodeStatus is GET /node/upgrade of a node (master or agent port).
func (u *upgrader) nodeStatus(ctx context.Context, addr string) (api.NodeUpgrade, error) {
	var st api.NodeUpgrade
	nc, err := u.c.At("https://" + addr)
	if err != nil {
		return st, err
	}
	if err := nc.Get(ctx, api.PathNodeUpgrade, &st); err != nil {
		return st, fmt.Errorf("%s: %w", addr, err)
	}
	return st, nil
}

// slaveEntry is an agent of the leader's /slaves.
type slaveEntry struct {
	ID          string `json:"id"`
	Hostname    string `json:"hostname"`
	PID         string `json:"pid"`
	Active      bool   `json:"active"`
	Version     string `json:"version"`
	Deactivated bool   `json:"deactivated"`
	DrainInfo   *struct {
		State string `json:"state"`
	} `json:"drain_info"`
}

func (s slaveEntry) addr() string { _, a, _ := strings.Cut(s.PID, "@"); return a }

func (u *upgrader) slaves(ctx context.Context) ([]slaveEntry, error) {
	var resp struct {
		Slaves []slaveEntry `json:"slaves"`
	}
	if err := u.c.Get(ctx, "/slaves", &resp); err != nil {
		return nil, fmt.Errorf("agents: %w", err)
	}
	return resp.Slaves, nil
}

func (u *upgrader) agents(ctx context.Context) ([]upAgent, error) {
	ss, err := u.slaves(ctx)
	if err != nil {
		return nil, err
	}
	var out []upAgent
	for _, s := range ss {
		if !s.Active {
			return nil, fmt.Errorf("agent %s (%s) is not connected: bring it back or remove it before upgrading", s.Hostname, s.ID)
		}
		out = append(out, upAgent{ID: s.ID, Hostname: s.Hostname, Addr: s.addr(), Version: s.Version, Deactivated: s.Deactivated})
	}
	return out, nil
}

// step upgrades one master (and its node's agent) or a batch of agents.
func (u *upgrader) step(ctx context.Context, s upStep) error {
	if err := u.drain(ctx, s.Agents); err != nil {
		return err
	}
	if m := s.Master; m != nil {
		if err := u.upgradeMaster(ctx, *m); err != nil {
			return err
		}
	} else {
		for _, a := range s.Agents {
			if err := u.post(ctx, a.Addr); err != nil {
				return fmt.Errorf("%s: %w", a, err)
			}
		}
	}
	if err := u.waitAgents(ctx, s.Agents); err != nil {
		return err
	}
	for _, a := range s.Agents {
		if a.Deactivated {
			fmt.Fprintf(u.out, "  %s stays deactivated, as it was\n", a)
			continue
		}
		if err := u.operator(ctx, "REACTIVATE_AGENT", a.ID); err != nil {
			return fmt.Errorf("reactivate %s: %w", a, err)
		}
	}
	return nil
}

func (u *upgrader) operator(ctx context.Context, typ, agentID string) error {
	inner := map[string]any{"agent_id": map[string]string{"value": agentID}}
	return u.c.Post(ctx, "/api/v1", map[string]any{"type": typ, strings.ToLower(typ): inner}, nil)
}

// drain drains the agents (unless drained already) and waits until they
// are DRAINED and the apps that had tasks on them are healthy elsewhere.
func (u *upgrader) drain(ctx context.Context, agents []upAgent) error {
	if len(agents) == 0 {
		return nil
	}
	ids := map[string]bool{}
	for _, a := range agents {
		ids[a.ID] = true
	}
	var tasks struct {
		Tasks []struct {
			AppID   string `json:"appId"`
			SlaveID string `json:"slaveId"`
		} `json:"tasks"`
	}
	if err := u.c.Get(ctx, "/v2/tasks", &tasks); err != nil {
		return fmt.Errorf("tasks: %w", err)
	}
	var apps []string
	for _, t := range tasks.Tasks {
		if ids[t.SlaveID] && !slices.Contains(apps, t.AppID) {
			apps = append(apps, t.AppID)
		}
	}
	ss, err := u.slaves(ctx)
	if err != nil {
		return err
	}
	for _, a := range agents {
		i := slices.IndexFunc(ss, func(s slaveEntry) bool { return s.ID == a.ID })
		if i >= 0 && ss[i].DrainInfo != nil {
			continue // draining or drained already (a resumed upgrade)
		}
		if err := u.operator(ctx, "DRAIN_AGENT", a.ID); err != nil {
			return fmt.Errorf("drain %s: %w", a, err)
		}
		fmt.Fprintf(u.out, "  draining %s\n", a)
	}
	err = u.poll(ctx, func() (bool, string) {
		ss, err := u.slaves(ctx)
		if err != nil {
			return false, err.Error()
		}
		for _, a := range agents {
			i := slices.IndexFunc(ss, func(s slaveEntry) bool { return s.ID == a.ID })
			if i < 0 || ss[i].DrainInfo == nil || ss[i].DrainInfo.State != "DRAINED" {
				state := "gone"
				if i >= 0 && ss[i].DrainInfo != nil {
					state = ss[i].DrainInfo.State
				}
				return false, fmt.Sprintf("%s is %s, not DRAINED (a resident task waits for the operator: docs/maintenance.md)", a, state)
			}
		}
		return true, ""
	})
	if err != nil {
		return err
	}
	return u.poll(ctx, func() (bool, string) { return u.appsHealthy(ctx, apps) })
}

// appsHealthy: every app has its instances running (healthy, for those
// with health checks) and no deployment.
func (u *upgrader) appsHealthy(ctx context.Context, apps []string) (bool, string) {
	for _, id := range apps {
		var a struct {
			App struct {
				Instances    int   `json:"instances"`
				TasksRunning int   `json:"tasksRunning"`
				TasksHealthy int   `json:"tasksHealthy"`
				HealthChecks []any `json:"healthChecks"`
				Deployments  []any `json:"deployments"`
			} `json:"app"`
		}
		if err := u.c.Get(ctx, "/v2/apps"+id, &a); err != nil {
			var ce *client.Error
			if errors.As(err, &ce) && ce.Code == http.StatusNotFound {
				continue // deleted meanwhile
			}
			return false, err.Error()
		}
		x := a.App
		if x.TasksRunning < x.Instances || (len(x.HealthChecks) > 0 && x.TasksHealthy < x.Instances) || len(x.Deployments) > 0 {
			return false, fmt.Sprintf("app %s: %d of %d running, %d healthy, %d deployment(s)", id, x.TasksRunning, x.Instances, x.TasksHealthy, len(x.Deployments))
		}
	}
	return true, ""
}

// upgradeMaster checks that the quorum survives one master less, makes a
// leading master step down, posts the bundle and waits until the master
// is back on the target version with the quorum whole and a leader.
func (u *upgrader) upgradeMaster(ctx context.Context, m upMaster) error {
	var q api.Quorum
	if err := u.c.Get(ctx, api.PathMembers, &q); err != nil {
		return fmt.Errorf("masters: %w", err)
	}
	if q.HealthyVoters-1 < q.Quorum && q.Voters > 1 {
		return fmt.Errorf("upgrading master %s now would lose quorum (%d of %d voters healthy, %d needed)", m.Addr, q.HealthyVoters, q.Voters, q.Quorum)
	}
	if q.Leader == m.Addr && q.Voters > 1 {
		mc, err := u.c.At("https://" + m.Addr)
		if err != nil {
			return err
		}
		if err := mc.Delete(ctx, "/v2/leader", nil); err != nil {
			return fmt.Errorf("ask leader %s to step down: %w", m.Addr, err)
		}
		fmt.Fprintf(u.out, "  leader %s stepped down\n", m.Addr)
		if err := u.poll(ctx, func() (bool, string) {
			var q api.Quorum
			if err := mc.Get(ctx, api.PathMembers, &q); err != nil {
				return false, err.Error()
			}
			return q.Leader != "" && q.Leader != m.Addr, "leader is " + q.Leader + ", want another master"
		}); err != nil {
			return err
		}
	}
	if err := u.post(ctx, m.Addr); err != nil {
		return fmt.Errorf("master %s: %w", m.Addr, err)
	}
	mc, err := u.c.At("https://" + m.Addr)
	if err != nil {
		return err
	}
	return u.poll(ctx, func() (bool, string) {
		var st api.NodeUpgrade
		if err := mc.Get(ctx, api.PathNodeUpgrade, &st); err != nil {
			return false, "master " + m.Addr + ": " + err.Error()
		}
		if st.Version != u.target {
			return false, fmt.Sprintf("master %s runs %s", m.Addr, st.Version)
		}
		var q api.Quorum
		if err := mc.Get(ctx, api.PathMembers, &q); err != nil {
			return false, err.Error()
		}
		if !q.Healthy || q.HealthyVoters < q.Voters || q.Leader == "" {
			return false, fmt.Sprintf("quorum: %d of %d voters healthy, leader %q", q.HealthyVoters, q.Voters, q.Leader)
		}
		for _, x := range q.Members {
			if x.Name == m.Name && x.Master != m.Addr {
				return false, "master " + m.Addr + " not running in the quorum yet"
			}
		}
		return true, ""
	})
}

// post sends the bundle to a node's /node/upgrade.
func (u *upgrader) post(ctx context.Context, addr string) error {
	nc, err := u.bulk.At("https://" + addr)
	if err != nil {
		return err
	}
	_, b, err := nc.Raw(ctx, client.Request{Method: http.MethodPost, Path: api.PathNodeUpgrade, Body: u.image, ContentType: "application/x-tar"})
	if err != nil {
		return err
	}
	var st api.NodeUpgrade
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("upgrade answer: %w", err)
	}
	if st.Target != u.target {
		return fmt.Errorf("the node took version %q, want %s", st.Target, u.target)
	}
	return nil
}

// waitAgents waits until each agent answers on the target version and is
// registered with the leader again, reporting that version.
func (u *upgrader) waitAgents(ctx context.Context, agents []upAgent) error {
	if len(agents) == 0 {
		return nil
	}
	return u.poll(ctx, func() (bool, string) {
		ss, err := u.slaves(ctx)
		if err != nil {
			return false, err.Error()
		}
		for _, a := range agents {
			st, err := u.nodeStatus(ctx, a.Addr)
			if err != nil {
				return false, err.Error()
			}
			if st.Version != u.target {
				return false, fmt.Sprintf("%s runs %s", a, st.Version)
			}
			i := slices.IndexFunc(ss, func(s slaveEntry) bool { return s.ID == a.ID })
			if i < 0 || !ss[i].Active || ss[i].Version != u.target {
				return false, fmt.Sprintf("%s not registered on %s yet", a, u.target)
			}
		}
		return true, ""
	})
}

// poll calls cond until it holds or ctx ends; the error says what cond
// last reported.
func (u *upgrader) poll(ctx context.Context, cond func() (bool, string)) error {
	last := ""
	for {
		ok, why := cond()
		if ok {
			return nil
		}
		if why != "" {
			last = why
		}
		select {
		case <-ctx.Done():
			if last == "" {
				last = ctx.Err().Error()
			}
			return errors.New(last)
		case <-time.After(250 * time.Millisecond): // polling the cluster
		}
	}
}
