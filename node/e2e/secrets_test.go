package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tokenSecretRE picks the secret part out of a join token.
var tokenSecretRE = regexp.MustCompile(`NDCTL1-[0-9a-f]{64}-[0-9a-f]{16}\.([0-9a-f]{32})`)

// TestNoSecretInAnswersOrLogs plants join tokens (the bootstrap ones, one
// made with `nodectl token create`, each used by a joining node) and
// greps every answer and log of every node for their secrets.
func TestNoSecretInAnswersOrLogs(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	m := newNode(t)
	mLogs := filepath.Join(t.TempDir(), "logs")
	mp := start(t, m.args("all", "--log-dir", mLogs)...)
	waitFor(t, 30*time.Second, "first node healthy", func() bool { return healthy(m.url()) })

	// The bootstrap commands: in a 0600 file, and on the console.
	cmdFile := filepath.Join(m.dir, "join-commands.txt")
	st, err := os.Stat(cmdFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", cmdFile, st.Mode().Perm())
	}
	cmds, _ := os.ReadFile(cmdFile)
	var agentBoot, masterBoot string
	for _, line := range strings.Split(string(cmds), "\n") {
		switch {
		case strings.HasPrefix(line, "nodectl up --role=agent "):
			agentBoot = line
		case strings.HasPrefix(line, "nodectl up --role=master "):
			masterBoot = line
		}
	}
	if agentBoot == "" || masterBoot == "" {
		t.Fatalf("join commands file:\n%s", cmds)
	}
	masterTok := strings.Fields(masterBoot)[len(strings.Fields(masterBoot))-1]

	// A CLI-made agent token, used by an agent; the bootstrap master
	// token, used by a second master.
	a := newNode(t)
	agentTok := agentToken(t, m, a)
	aLogs := filepath.Join(t.TempDir(), "logs")
	ap := start(t, a.args("agent", "--join", m.url(), "--token", agentTok, "--log-dir", aLogs)...)
	m2, m3 := newNode(t), newNode(t)
	m2Logs, m3Logs := filepath.Join(t.TempDir(), "logs"), filepath.Join(t.TempDir(), "logs")
	joinFlags := append(append([]string{}, haFlags...), "--join", m.url(), "--token", masterTok)
	m2p := start(t, m2.args("master", append(joinFlags, "--log-dir", m2Logs)...)...)
	m3p := start(t, m3.args("master", append(joinFlags, "--log-dir", m3Logs)...)...)
	waitFor(t, 60*time.Second, "two more masters and the agent", func() bool {
		return healthy(m2.url()) && healthy(m3.url()) && len(slaves(t, m.url())) == 2
	})
	haWaitVoters(t, m.url(), 3)

	secrets := map[string]string{}
	for name, tok := range map[string]string{"agent token": agentTok, "bootstrap master token": masterTok, "bootstrap agent token": agentBoot} {
		s := tokenSecretRE.FindStringSubmatch(tok)
		if s == nil {
			t.Fatalf("%s: no token in %q", name, tok)
		}
		secrets[name] = s[1]
	}
	check := func(where, text string) {
		t.Helper()
		for name, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("the %s's secret is in %s", name, where)
			}
		}
	}
	get := func(url string) (int, string) {
		c := &http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get(url)
		if err != nil {
			t.Errorf("GET %s: %v", url, err)
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const big = "&offset=0&length=100000000"
	for _, base := range []string{m.url(), m2.url(), m3.url()} {
		for _, p := range []string{"/state", "/master/state", "/state-summary", "/flags", "/master/flags", "/metrics/snapshot", "/metrics",
			"/files/read?path=/master/log" + big, "/master/files/read?path=/master/log" + big, "/v2/info", "/version", "/master/members", "/master/tokens"} {
			_, body := get(base + p)
			check("GET "+base+p, body)
		}
	}
	for _, base := range []string{m.agentURL(), a.agentURL()} {
		for _, p := range []string{"/state", "/flags", "/metrics/snapshot", "/files/read?path=/slave/log" + big} {
			_, body := get(base + p)
			check("GET "+base+p, body)
		}
	}
	// The joined agent shows its --token redacted.
	if code, body := get(a.agentURL() + "/flags"); code != 200 || !strings.Contains(body, `"token":"\u003credacted\u003e"`) {
		t.Errorf("the agent's /flags (%d) does not show the token redacted: %.400s", code, body)
	}
	if code, body := get(m.url() + "/files/read?path=/master/log" + big); code != 200 || !strings.Contains(body, "join commands written to") {
		t.Errorf("master log via the files API (%d) lacks the join-commands line: %.300s", code, body)
	}

	// A master that joined with --token leads once the first one stops:
	// its /state shows the token redacted.
	mp.kill(syscall.SIGTERM)
	var leaderState string
	waitFor(t, 30*time.Second, "a joined master leading", func() bool {
		for _, n := range []node{m2, m3} {
			c := &http.Client{Timeout: 2 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := c.Get(n.url() + "/state")
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				leaderState = string(b)
				return true
			}
		}
		return false
	})
	check("the new leader's /state", leaderState)
	if !strings.Contains(leaderState, `"token":"\u003credacted\u003e"`) {
		t.Errorf("the joined master's /state does not show flags.token redacted: %.600s", leaderState)
	}

	// Stopped, so that their output and log files are complete.
	for _, p := range []*proc{ap, m2p, m3p} {
		p.kill(syscall.SIGTERM)
	}
	for _, dir := range []string{mLogs, aLogs, m2Logs, m3Logs} {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		if len(files) == 0 {
			t.Errorf("no log files in %s", dir)
		}
		for _, f := range files {
			b, _ := os.ReadFile(f)
			check(f, string(b))
		}
	}
	// Console output: the joiners' in full; the first node's but for the
	// bootstrap banner, which is the one place its tokens are printed.
	check("the agent's output", ap.out.String())
	check("the second master's output", m2p.out.String())
	check("the third master's output", m3p.out.String())
	var rest []string
	for _, line := range strings.Split(mp.out.String(), "\n") {
		if !strings.HasPrefix(line, "join agents with:") && !strings.HasPrefix(line, "join masters with:") {
			rest = append(rest, line)
		}
	}
	check("the first node's output outside the bootstrap banner", strings.Join(rest, "\n"))
	if !strings.Contains(mp.out.String(), masterTok) {
		t.Error("the bootstrap master token is not on the console")
	}
}
