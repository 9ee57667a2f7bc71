package e2e

// Browser tests of the built-in web UI: chromedp drives Debian's chromium
// (headless) against a real `nodectl up --role=all`. Screenshots of every
// page go to $NODECTL_UI_OUT (default out/ui-screenshots at the repo root).

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

const uiChromium = "/usr/bin/chromium"

// uiBudget is the most a page may take from route change to rendered
// (issue 9: 300 ms with 100 apps / 1,000 tasks).
const uiBudget = 300 * time.Millisecond

// uiBrowser is one headless chromium tab with the problems it saw: console
// errors, exceptions, failed requests and HTTP errors.
type uiBrowser struct {
	t    *testing.T
	ctx  context.Context
	base string
	out  string

	mu       sync.Mutex
	problems []string          // guarded by mu
	expected map[string]string // URL substring → HTTP status the test provokes; guarded by mu
}

func uiOutDir(t *testing.T) string {
	dir := os.Getenv("NODECTL_UI_OUT")
	if dir == "" {
		dir = filepath.Join("..", "..", "out", "ui-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func uiNewBrowser(t *testing.T, base string) *uiBrowser {
	t.Helper()
	if _, err := exec.LookPath(uiChromium); err != nil {
		t.Skipf("%s not installed (make deps installs it)", uiChromium)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(uiChromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		// The master port is HTTPS signed by the test cluster's own CA,
		// which this throwaway profile does not know; TLS itself is
		// verified by tls_test.go, not here.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &uiBrowser{t: t, ctx: ctx, base: base, out: uiOutDir(t), expected: map[string]string{}}
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{})
		return err
	})); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError && m.Source == "network" && b.allowedText(m.URL, m.Text) {
				continue // an HTTP error the test provoked
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.problem("console %s: %s (%s)", m.Type, m.Text, m.URL)
			}
		}
	}()
	go func() {
		for ev, err := range chromedp.Events(ctx, network.LoadingFailed) {
			if err != nil {
				return
			}
			if !ev.Canceled {
				b.problem("request failed: %s %s", ev.Type, ev.ErrorText)
			}
		}
	}()
	go func() {
		for ev, err := range chromedp.Events(ctx, network.ResponseReceived) {
			if err != nil {
				return
			}
			if ev.Response != nil && ev.Response.Status >= 400 && !b.allowed(ev.Response.URL, ev.Response.Status) {
				b.problem("HTTP %d for %s", ev.Response.Status, ev.Response.URL)
			}
		}
	}()
	return b
}

func (b *uiBrowser) problem(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, fmt.Sprintf(format, args...))
}

// expect allows responses with status for URLs containing sub, until
// expectNothing.
func (b *uiBrowser) expect(sub string, status int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expected[sub] = strconv.FormatInt(status, 10)
}

func (b *uiBrowser) expectNothing() {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.expected)
}

func (b *uiBrowser) allowed(url string, status int64) bool {
	return b.allowedText(url, strconv.FormatInt(status, 10))
}

// allowedText: an expected URL whose message (or status) mentions the status.
func (b *uiBrowser) allowedText(url, text string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for sub, st := range b.expected {
		if strings.Contains(url, sub) && strings.Contains(text, st) {
			return true
		}
	}
	return false
}

func (b *uiBrowser) checkProblems() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.problems) > 0 {
		b.t.Fatalf("browser problems:\n%s", strings.Join(b.problems, "\n"))
	}
}

func (b *uiBrowser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.mu.Lock()
		problems := strings.Join(b.problems, "\n")
		b.mu.Unlock()
		sctx, scancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer scancel()
		page, _ := chromedp.Run(sctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText.slice(0, 2000)`))
		b.t.Fatalf("%s: %v\nbrowser problems:\n%s\npage:\n%s", what, err, problems, page)
	}
}

func uiEval[T any](b *uiBrowser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("eval %s: %v", expr, err)
	}
	return v
}

// waitJS polls a JavaScript predicate until it is true.
func (b *uiBrowser) waitJS(what string, timeout time.Duration, expr string) {
	b.t.Helper()
	b.do(what, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		deadline := time.Now().Add(timeout)
		for {
			ok, err := chromedp.Evaluate[bool]("!!("+expr+")")(ctx, tg)
			if err != nil {
				return err
			}
			if ok {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("not true after %s: %s", timeout, expr)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}))
}

// open loads the UI at a hash route and waits until the page rendered it.
func (b *uiBrowser) open(route string) {
	b.t.Helper()
	b.do("open "+route, chromedp.Navigate(b.base+"/#"+route))
	b.waitRendered(route)
}

// go changes the route in the loaded page and waits for its render.
func (b *uiBrowser) goTo(route string) {
	b.t.Helper()
	seq := uiEval[string](b, `document.body.dataset.seq || "0"`)
	b.do("go "+route, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		// Setting the same hash fires no hashchange: dispatch one then.
		h := strconv.Quote("#" + route)
		_, err := chromedp.Evaluate[chromedp.Void](`location.hash === `+h+` ? window.dispatchEvent(new HashChangeEvent('hashchange')) : (location.hash = `+h+`)`)(ctx, tg)
		return err
	}))
	path, _, _ := strings.Cut(route, "?")
	b.waitJS("render "+route, 15*time.Second, fmt.Sprintf(`document.body.dataset.seq !== %q && document.body.dataset.route === %q`, seq, path))
}

func (b *uiBrowser) waitRendered(route string) {
	path, _, _ := strings.Cut(route, "?")
	b.waitJS("render "+route, 15*time.Second, fmt.Sprintf(`document.body.dataset.route === %q`, path))
}

func (b *uiBrowser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.out, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *uiBrowser) text(sel string) string {
	b.t.Helper()
	return uiEval[string](b, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel))
}

// TestUI drives the UI against one real node: every page loads without
// console errors or failed requests; an app is created through the form,
// reaches its instances and is scaled; a task's stdout is followed live.
func TestUI(t *testing.T) {
	n := newNode(t)
	p := start(t, n.args("all", "--hostname", "ui-host", "--log-dir", filepath.Join(n.dir, "logs"))...)
	waitFor(t, 20*time.Second, "node healthy", func() bool { return healthy(n.url()) })
	_ = p
	b := uiNewBrowser(t, n.url())
	started := time.Now()

	b.open("/")
	b.waitJS("overview shows the agent", 10*time.Second, `document.querySelector('main').textContent.includes('ui-host')`)
	b.screenshot("overview")

	// Create from JSON through the form: first an invalid app, whose 422
	// details must appear against the id field, then a valid one.
	b.goTo("/apps/new")
	b.expect("/v2/apps", 422)
	b.do("submit invalid app",
		chromedp.SetValue(chromedp.CSS("#app-json"), `{"id":"/UI/Bad_Id","cmd":"true","instances":1,"cpus":0.1,"mem":16}`),
		chromedp.Click(chromedp.CSS("#app-submit")))
	b.waitJS("422 shown against the id field", 10*time.Second, `document.querySelector('#field-id').closest('.field').classList.contains('invalid') && document.querySelector('#app-errors').textContent.includes('422')`)
	b.screenshot("app-create-invalid")
	b.expectNothing()
	app := `{"id":"/ui/ticker","cmd":"i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.3; done","instances":2,"cpus":0.1,"mem":16}`
	b.do("submit app", chromedp.SetValue(chromedp.CSS("#app-json"), app), chromedp.Click(chromedp.CSS("#app-submit")))
	b.waitRendered("/apps/ui/ticker")
	b.waitJS("app reaches 2 instances", 30*time.Second, `(document.querySelector('#app-running')||{}).textContent?.startsWith('2/2 running')`)
	b.screenshot("app")

	// Scale through the dialog.
	b.do("scale", chromedp.Click(chromedp.CSS("#act-scale")), chromedp.WaitVisible(chromedp.CSS("dialog input[name=instances]")),
		chromedp.SetValue(chromedp.CSS("dialog input[name=instances]"), "3"), chromedp.Click(chromedp.CSS("#dialog-ok")))
	b.waitJS("app scaled to 3", 30*time.Second, `(document.querySelector('#app-running')||{}).textContent?.startsWith('3/3 running')`)

	// Versions: the scale made a second version; diff them.
	b.goTo("/apps/ui/ticker?tab=versions")
	b.do("diff versions", chromedp.Click(chromedp.CSS("#ver-diff")))
	b.waitJS("version diff", 10*time.Second, `(document.querySelector('#version-diff')||{}).textContent?.includes('"instances": 3')`)
	b.screenshot("app-versions")
	b.goTo("/apps/ui/ticker?tab=configuration")
	b.screenshot("app-configuration")

	// A task: its sandbox, then its stdout followed live.
	taskID := uiEval[string](b, `fetch('/v2/apps/ui/ticker/tasks').then(r => r.json()).then(j => j.tasks[0].id)`)
	agentID := uiEval[string](b, `fetch('/slaves').then(r => r.json()).then(j => j.slaves[0].id)`)
	fwID := uiEval[string](b, `fetch('/frameworks').then(r => r.json()).then(j => j.frameworks[0].id)`)
	b.goTo("/tasks/" + taskID)
	b.waitJS("sandbox lists stdout", 10*time.Second, `[...document.querySelectorAll('main table a')].some(a => a.textContent === 'stdout')`)
	b.screenshot("task-sandbox")
	b.do("open stdout", chromedp.Click(chromedp.CSS("#tab-stdout")))
	b.waitJS("tail shows output", 15*time.Second, `(document.querySelector('#tail')||{}).textContent?.includes('tick-')`)
	ticks := regexp.MustCompile(`tick-(\d+)`)
	last := 0
	for _, m := range ticks.FindAllStringSubmatch(b.text("#tail"), -1) {
		last = max(last, uiAtoi(m[1]))
	}
	// A line printed after the page was opened (the task prints ~3/s).
	want := fmt.Sprintf("tick-%d\n", last+5)
	b.waitJS("tail follows the file", 20*time.Second, fmt.Sprintf(`document.querySelector('#tail').textContent.includes(%q)`, want))
	b.screenshot("task-stdout")

	// Every other page, with a screenshot each.
	for _, pg := range []struct{ route, name string }{
		{"/apps", "apps"}, {"/tasks", "tasks"}, {"/agents", "agents"}, {"/agents/" + agentID, "agent"},
		{"/frameworks", "frameworks"}, {"/frameworks/" + fwID, "framework"}, {"/volumes", "volumes"},
		{"/cluster", "cluster"}, {"/tasks/" + taskID + "?file=/frameworks/" + fwID + "/executors/" + taskID + "/runs/latest/stderr", "task-stderr"},
	} {
		b.goTo(pg.route)
		b.screenshot(pg.name)
		if pg.name == "cluster" && !strings.Contains(b.text("main"), "Single master") {
			t.Fatalf("cluster page lacks the single-master empty state: %s", b.text("main"))
		}
	}
	// Restart through the dialog once the event stream is open; its events
	// reach the overview's list live.
	b.goTo("/apps/ui/ticker")
	b.waitJS("event stream connected", 20*time.Second, `document.querySelector('#live').classList.contains('on')`)
	b.do("restart", chromedp.Click(chromedp.CSS("#act-restart")), chromedp.WaitVisible(chromedp.CSS("#dialog-ok")), chromedp.Click(chromedp.CSS("#dialog-ok")))
	b.goTo("/")
	b.waitJS("overview lists stream events", 20*time.Second, `[...document.querySelectorAll('#events li')].some(li => li.textContent.includes('/ui/ticker'))`)
	b.screenshot("overview-live")

	// Phone width.
	b.do("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.goTo("/")
	b.screenshot("phone-overview")
	b.goTo("/apps/ui/ticker")
	b.screenshot("phone-app")
	overflow := uiEval[bool](b, `document.documentElement.scrollWidth > window.innerWidth + 1`)
	if overflow {
		t.Errorf("the app page scrolls sideways at 390 px")
	}
	b.do("desktop", chromedp.EmulateReset())

	// Delete through the confirmation dialog.
	b.goTo("/apps/ui/ticker")
	b.do("delete", chromedp.Click(chromedp.CSS("#act-delete")), chromedp.WaitVisible(chromedp.CSS("#dialog-ok")), chromedp.Click(chromedp.CSS("#dialog-ok")))
	b.waitRendered("/apps")
	b.waitJS("app gone from the list", 20*time.Second, `!document.querySelector('main').textContent.includes('/ui/ticker')`)

	b.checkProblems()
	t.Logf("UI suite: %s; screenshots in %s", time.Since(started).Round(time.Millisecond), b.out)
}

func uiAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// TestUIRenderTime renders every page with 100 apps and 1,000 tasks: the
// UI is served by a real node, and the API answers the page asks for are
// synthetic (intercepted in the browser). Each page must render within
// uiBudget; the time from route change to rendered (fetches included) is
// logged and written to render-times.json.
func TestUIRenderTime(t *testing.T) {
	n := newNode(t)
	start(t, n.args("master")...)
	waitFor(t, 20*time.Second, "node healthy", func() bool { return healthy(n.url()) })
	b := uiNewBrowser(t, n.url())
	fx := uiFixture(100, 10)
	b.do("intercept", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*"}}})
		return err
	}))
	go func() {
		for ev, err := range chromedp.Events(b.ctx, fetch.RequestPaused) {
			if err != nil {
				return
			}
			go b.serveFixture(fx, ev)
		}
	}()
	routes := []string{"/", "/apps", "/apps/s/app-042", "/apps/s/app-042?tab=versions", "/tasks", "/tasks?all=1", "/tasks/s_app-042.t3",
		"/agents", "/agents/agent-S3", "/frameworks", "/frameworks/fw-1", "/volumes", "/cluster"}
	b.open("/")
	type timing struct {
		Route                     string
		TotalMs, LoadMs, RenderMs float64
	}
	var all []timing
	for round := 0; round < 2; round++ { // the first round warms the caches
		for _, r := range routes {
			b.goTo(r)
			if round == 1 {
				x := uiEval[timing](b, `(() => { const x = window.nodectlTimings.at(-1); return {Route: x.route, TotalMs: x.totalMs, LoadMs: x.loadMs, RenderMs: x.renderMs}; })()`)
				x.Route = r
				all = append(all, x)
			}
		}
	}
	b.goTo("/apps")
	if got := uiEval[int](b, `document.querySelectorAll('main tbody tr').length`); got != 100 {
		t.Fatalf("apps page shows %d rows, want 100", got)
	}
	// The budget is on the UI's own work (building the page from the API
	// answers); load is the fetches, here answered through DevTools by the
	// test process, so it measures the harness more than the UI.
	worst := slices.MaxFunc(all, func(a, c timing) int { return int(a.RenderMs - c.RenderMs) })
	var lines []string
	for _, x := range all {
		lines = append(lines, fmt.Sprintf("%-32s total %6.1f ms (load %6.1f, render %6.1f)", x.Route, x.TotalMs, x.LoadMs, x.RenderMs))
	}
	t.Logf("render times with 100 apps / 1,000 tasks:\n%s", strings.Join(lines, "\n"))
	data, _ := json.MarshalIndent(all, "", "  ")
	_ = os.WriteFile(filepath.Join(b.out, "render-times.json"), data, 0o644)
	if time.Duration(worst.RenderMs*float64(time.Millisecond)) > uiBudget {
		t.Fatalf("%s took %.1f ms to render, budget %s", worst.Route, worst.RenderMs, uiBudget)
	}
	b.checkProblems()
}

// serveFixture answers an intercepted request from the fixture, or lets it
// through to the node.
func (b *uiBrowser) serveFixture(fx map[string][]byte, ev fetch.EventRequestPaused) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	u := ev.Request.URL
	path := strings.TrimPrefix(u, b.base)
	key, _, _ := strings.Cut(path, "?")
	if strings.HasPrefix(key, "/v2/apps/") && strings.HasSuffix(key, "/versions") {
		key = "/v2/apps/*/versions"
	} else if strings.HasPrefix(key, "/v2/apps/") && strings.Contains(key, "/versions/") {
		key = "/v2/apps/*/versions/*"
	} else if strings.HasPrefix(key, "/v2/apps/") {
		key = "/v2/apps/*"
	} else if strings.HasPrefix(key, "/agents/") {
		key = "/agents/*"
	}
	if strings.HasPrefix(path, "/tasks?") && strings.Contains(path, "task_id=") {
		key = "/tasks?task_id"
	}
	body, ok := fx[key]
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		var err error
		if ok && ev.Request.Method == "GET" {
			_, err = cdp.Call(ctx, tg, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: 200,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/json"}}, Body: body})
		} else {
			_, err = cdp.Call(ctx, tg, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
		return err
	}))
	if err != nil && ctx.Err() == nil {
		b.problem("intercept %s: %v", u, err)
	}
}

// uiFixture is API answers for apps×per tasks on 10 agents.
func uiFixture(apps, per int) map[string][]byte {
	now := float64(time.Now().Unix())
	iso := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	var appList, mtasks []map[string]any
	agents := 10
	for i := range apps {
		id := fmt.Sprintf("/s/app-%03d", i)
		var tasks []map[string]any
		for j := range per {
			tid := fmt.Sprintf("s_app-%03d.t%d", i, j)
			ag := fmt.Sprintf("agent-S%d", (i*per+j)%agents)
			tasks = append(tasks, map[string]any{"id": tid, "appId": id, "host": "host-" + ag, "slaveId": ag, "state": "TASK_RUNNING",
				"ports": []int{31000 + j}, "stagedAt": iso, "startedAt": iso, "version": iso, "healthCheckResults": []any{}})
			mtasks = append(mtasks, map[string]any{"id": tid, "name": strings.TrimPrefix(id, "/"), "framework_id": "fw-1", "executor_id": "", "slave_id": ag,
				"state": "TASK_RUNNING", "resources": map[string]any{"cpus": 0.1, "mem": 16, "disk": 0, "ports": "[31000-31000]"},
				"statuses": []map[string]any{{"state": "TASK_STAGING", "timestamp": now - 2}, {"state": "TASK_STARTING", "timestamp": now - 1.9}, {"state": "TASK_RUNNING", "timestamp": now - 1.8}}})
		}
		appList = append(appList, map[string]any{"id": id, "cmd": "sleep 1000", "instances": per, "cpus": 0.1, "mem": 16, "disk": 0,
			"tasksRunning": per, "tasksHealthy": 0, "tasksStaged": 0, "tasksUnhealthy": 0, "deployments": []any{}, "healthChecks": []any{},
			"version": iso, "versionInfo": map[string]any{"lastConfigChangeAt": iso, "lastScalingAt": iso}, "tasks": tasks})
	}
	var slaves, summary []map[string]any
	for k := range agents {
		id := fmt.Sprintf("agent-S%d", k)
		res := map[string]any{"cpus": 16, "mem": 65536, "disk": 1 << 20, "ports": "[31000-32000]"}
		used := map[string]any{"cpus": 10, "mem": 1600, "disk": 0}
		slaves = append(slaves, map[string]any{"id": id, "hostname": "host-" + id, "pid": "slave(1)@10.0.0." + strconv.Itoa(k) + ":5051", "active": true,
			"resources": res, "used_resources": used, "reserved_resources": map[string]any{}, "attributes": map[string]any{"rack": "r" + strconv.Itoa(k%3)},
			"version": "dev", "registered_time": now - 100, "last_ping": now - 1})
		summary = append(summary, map[string]any{"id": id, "hostname": "host-" + id, "active": true, "TASK_RUNNING": apps * per / agents, "resources": res, "used_resources": used})
	}
	fw := map[string]any{"id": "fw-1", "name": "marathon", "active": true, "connected": true, "role": "*", "user": "root", "tasks": mtasks,
		"used_resources": map[string]any{"cpus": 100, "mem": 16000}, "registered_time": now - 100}
	metrics := map[string]any{"master/elected": 1, "master/uptime_secs": 100, "master/cpus_total": 160, "master/cpus_used": 100,
		"master/mem_total": 655360, "master/mem_used": 16000, "master/disk_total": 10 << 20, "master/disk_used": 0, "master/tasks_running": apps * per}
	app42 := appList[42]
	js := func(v any) []byte { b, _ := json.Marshal(v); return b }
	return map[string][]byte{
		"/v2/apps":              js(map[string]any{"apps": appList}),
		"/v2/apps/*":            js(map[string]any{"app": app42}),
		"/v2/apps/*/versions":   js(map[string]any{"versions": []string{iso}}),
		"/v2/apps/*/versions/*": js(app42),
		"/v2/queue":             js(map[string]any{"queue": []any{}}),
		"/v2/deployments":       js([]any{}),
		"/v2/leader":            js(map[string]any{"leader": "127.0.0.1:5050"}),
		"/tasks":                js(map[string]any{"tasks": mtasks}),
		"/tasks?task_id":        js(map[string]any{"tasks": mtasks[423:424]}),
		"/slaves":               js(map[string]any{"slaves": slaves}),
		"/state-summary":        js(map[string]any{"hostname": "m", "cluster": "fixture", "slaves": summary, "frameworks": []any{}}),
		"/frameworks":           js(map[string]any{"frameworks": []any{fw}, "completed_frameworks": []any{}}),
		"/metrics/snapshot":     js(metrics),
		"/agents/*":             js([]any{}),
	}
}
