package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// corpusDir holds app, pod and group definitions copied from Marathon's
// documentation, one per file; SOURCES.tsv says where each came from.
const corpusDir = "testdata/marathon-corpus"

// corpusDef is one definition of the corpus.
type corpusDef struct {
	file, kind, source string
	body               []byte
	id                 string
}

// corpusOutcome is what became of one definition.
type corpusOutcome struct {
	def    corpusDef
	code   int
	fields []string // the fields a 422 named
	state  string   // for an accepted definition: what its first task did
}

// TestMarathonCorpus (issue 17): every app, pod and group definition of
// Marathon's documentation, posted unchanged to a node, either runs as
// Marathon would run it (its tasks are launched: running, or failed for a
// reason of the task's own, such as a download the sandboxed machine
// cannot make) or gets a 422 whose every detail names a field that is in
// the definition. Nothing else: no 400, no 500, no definition accepted
// and then left unlaunched.
//
// No traffic leaves the machine: the node's HTTP(S)_PROXY is a local
// proxy that refuses every request (and counts them), so documented URIs
// (example.com, S3) fail their fetch as on a cluster without internet
// access; the images the definitions name are busybox, loaded under their
// names, and so never pulled.
func TestMarathonCorpus(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	defs := corpusDefs(t)
	var mu sync.Mutex
	refused := map[string]int{}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		refused[r.Host]++
		mu.Unlock()
		http.Error(w, "the test's proxy refuses traffic that would leave the machine", http.StatusForbidden)
	}))
	t.Cleanup(proxy.Close)
	// The node gets the proxy in its environment (not t.Setenv: the test
	// runs beside others).
	env := os.Environ()
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		env = append(env, k+"="+proxy.URL)
	}
	env = append(env, "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")

	n := newNode(t)
	args := n.args("all", "--resources", "cpus:8;mem:8192;disk:4096;ports:[36000-36999]")
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	startCmd(t, cmd, args)
	waitFor(t, 30*time.Second, "agent active", func() bool {
		s := slaves(t, n.url())
		return len(s) == 1 && s[0].Active
	})
	corpusLoadImages(t, n, defs)
	corpusSecrets(t, n, defs)

	// Definitions with the same id run one after the other; the others at
	// once, a few at a time.
	byID := map[string][]corpusDef{}
	var ids []string
	for _, d := range defs {
		if _, ok := byID[d.id]; !ok {
			ids = append(ids, d.id)
		}
		byID[d.id] = append(byID[d.id], d)
	}
	var outcomes []corpusOutcome
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			for _, d := range byID[id] {
				o := corpusRun(t, n, d)
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	sort.Slice(outcomes, func(i, j int) bool { return outcomes[i].def.file < outcomes[j].def.file })
	counts := map[string]int{}
	fieldCount := map[string]int{}
	for _, o := range outcomes {
		switch {
		case o.code == 422:
			counts[o.def.kind+" refused"]++
			for _, f := range o.fields {
				fieldCount[f]++
			}
			t.Logf("%-42s %-5s 422 %s", o.def.file, o.def.kind, strings.Join(o.fields, " "))
		default:
			counts[o.def.kind+" ran"]++
			t.Logf("%-42s %-5s %d  %s", o.def.file, o.def.kind, o.code, o.state)
		}
	}
	var fields []string
	for f, c := range fieldCount {
		fields = append(fields, fmt.Sprintf("%s×%d", f, c))
	}
	slices.Sort(fields)
	t.Logf("corpus of %d definitions: %v; refused fields: %s", len(outcomes), counts, strings.Join(fields, ", "))
	mu.Lock()
	t.Logf("requests the proxy refused (would have left the machine): %v", refused)
	mu.Unlock()
}

// corpusDefs reads the corpus and its sources.
func corpusDefs(t *testing.T) []corpusDef {
	t.Helper()
	f, err := os.Open(filepath.Join(corpusDir, "SOURCES.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var defs []corpusDef
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.SplitN(line, "\t", 3)
		if len(parts) != 3 {
			t.Fatalf("SOURCES.tsv: bad line %q", line)
		}
		body, err := os.ReadFile(filepath.Join(corpusDir, parts[0]+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var head struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(body, &head); err != nil {
			t.Fatalf("%s: %v", parts[0], err)
		}
		defs = append(defs, corpusDef{file: parts[0], kind: parts[1], source: parts[2], body: body, id: "/" + strings.TrimPrefix(head.ID, "/")})
	}
	if len(defs) < 40 {
		t.Fatalf("the corpus has %d definitions, want its 40 or more", len(defs))
	}
	return defs
}

// corpusRun posts one definition and, when it is accepted, waits until its
// tasks were launched, then removes it.
func corpusRun(t *testing.T, n node, d corpusDef) corpusOutcome {
	o := corpusOutcome{def: d}
	method, path := "POST", map[string]string{"app": "/v2/apps", "pod": "/v2/pods", "group": "/v2/groups"}[d.kind]
	if d.kind == "group" && d.id == "/" {
		// The root group always exists: Marathon changes it with PUT.
		method = "PUT"
	}
	code, body := appDo(t, n, method, path, string(d.body))
	o.code = code
	switch code {
	case 422:
		var r struct {
			Message string `json:"message"`
			Details []struct {
				Path string `json:"path"`
			} `json:"details"`
		}
		_ = json.Unmarshal(body, &r)
		if len(r.Details) == 0 {
			t.Errorf("%s: 422 names no field: %s", d.file, body)
		}
		for _, det := range r.Details {
			if !jsonPointerIn(d.body, det.Path) {
				t.Errorf("%s: 422 names %q, which is not in the definition: %s", d.file, det.Path, body)
			}
			o.fields = append(o.fields, det.Path)
		}
		return o
	case 200, 201:
	default:
		t.Errorf("%s (%s): %s %s answered %d, want 201 or a 422 naming a field: %s", d.file, d.source, method, path, code, body)
		return o
	}

	var apps []string
	var pods []string
	switch d.kind {
	case "app":
		apps = []string{d.id}
	case "pod":
		pods = []string{d.id}
	case "group":
		apps, pods = groupMembers(d.body)
	}
	var states []string
	for _, id := range apps {
		states = append(states, id+": "+corpusWaitApp(t, n, d, id))
	}
	for _, id := range pods {
		states = append(states, id+": "+corpusWaitPod(t, n, d, id))
	}
	o.state = strings.Join(states, "; ")

	switch d.kind {
	case "app":
		appMust(t, n, "DELETE", "/v2/apps"+d.id+"?force=true", "", 200)
		waitFor(t, 60*time.Second, d.id+" removed", func() bool { c, _ := appDo(t, n, "GET", "/v2/apps"+d.id, ""); return c == 404 })
	case "pod":
		appMust(t, n, "DELETE", "/v2/pods"+d.id+"?force=true", "", 200, 202)
		waitFor(t, 60*time.Second, d.id+" removed", func() bool { c, _ := appDo(t, n, "GET", "/v2/pods"+d.id, ""); return c == 404 })
	case "group":
		for _, id := range append(apps, pods...) {
			kind := "/v2/apps"
			if slices.Contains(pods, id) {
				kind = "/v2/pods"
			}
			appMust(t, n, "DELETE", kind+id+"?force=true", "", 200, 202, 404)
			waitFor(t, 60*time.Second, id+" removed", func() bool { c, _ := appDo(t, n, "GET", kind+id, ""); return c == 404 })
		}
	}
	// The next definition of the same id may only come once Marathon is
	// done stopping this one (it answers 409 while a deployment holds it).
	waitFor(t, 60*time.Second, d.file+": no deployment left", func() bool {
		var deps []struct {
			AffectedApps []string `json:"affectedApps"`
			AffectedPods []string `json:"affectedPods"`
		}
		if getJSON(n.url()+"/v2/deployments", &deps) != nil {
			return false
		}
		for _, dep := range deps {
			for _, id := range append(dep.AffectedApps, dep.AffectedPods...) {
				if id == d.id || strings.HasPrefix(id, strings.TrimSuffix(d.id, "/")+"/") {
					return false
				}
			}
		}
		return true
	})
	return o
}

// corpusWaitApp waits until a task of the app was launched and says what
// it did: running, or failed with its message. An app of 0 instances has
// nothing to launch.
func corpusWaitApp(t *testing.T, n node, d corpusDef, id string) string {
	state := ""
	waitFor(t, 120*time.Second, d.file+": a task of "+id+" launched", func() bool {
		a, ok := appGet(n, id)
		switch {
		case !ok:
			return false
		case a.Instances == 0:
			state = "0 instances"
		case a.TasksRunning > 0:
			state = fmt.Sprintf("%d of %d running", a.TasksRunning, a.Instances)
		case a.LastTaskFailure != nil:
			state = a.LastTaskFailure.State + ": " + a.LastTaskFailure.Message
		}
		return state != ""
	})
	return state
}

// corpusWaitPod waits until an instance of the pod was launched and says
// what its containers did: from the instances, or from the pod's
// terminationHistory once one ended (an instance whose container fails at
// once is gone from the instances within ~50 ms, and relaunched after its
// backoff: polling the instances alone missed it for two minutes on a
// busy machine).
func corpusWaitPod(t *testing.T, n node, d corpusDef, id string) string {
	state := ""
	waitFor(t, 120*time.Second, d.file+": an instance of pod "+id+" launched", func() bool {
		var st struct {
			Status    string `json:"status"`
			Instances []struct {
				Containers []struct {
					Status      string `json:"status"`
					Termination *struct {
						Message string `json:"message"`
					} `json:"termination"`
				} `json:"containers"`
			} `json:"instances"`
			TerminationHistory []struct {
				Message    string `json:"message"`
				Containers []struct {
					LastKnownState string `json:"lastKnownState"`
				} `json:"containers"`
			} `json:"terminationHistory"`
		}
		if getJSON(n.url()+"/v2/pods"+id+"::status", &st) != nil {
			return false
		}
		if h := st.TerminationHistory; len(h) > 0 && len(h[0].Containers) > 0 {
			state = st.Status + " ended " + h[0].Containers[0].LastKnownState + ": " + h[0].Message
			return true
		}
		for _, in := range st.Instances {
			for _, c := range in.Containers {
				switch c.Status {
				case "TASK_RUNNING", "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_DROPPED", "TASK_LOST":
					state = st.Status + " " + c.Status
					if c.Termination != nil && c.Termination.Message != "" {
						state += ": " + c.Termination.Message
					}
					return true
				}
			}
		}
		return false
	})
	return state
}

// groupMembers is the ids of the apps and pods in a group definition, its
// subgroups' included.
func groupMembers(body []byte) (apps, pods []string) {
	var g struct {
		Apps   []struct{ ID string } `json:"apps"`
		Pods   []struct{ ID string } `json:"pods"`
		Groups []json.RawMessage     `json:"groups"`
	}
	if json.Unmarshal(body, &g) != nil {
		return nil, nil
	}
	for _, a := range g.Apps {
		apps = append(apps, a.ID)
	}
	for _, p := range g.Pods {
		pods = append(pods, p.ID)
	}
	for _, sub := range g.Groups {
		a, p := groupMembers(sub)
		apps, pods = append(apps, a...), append(pods, p...)
	}
	return apps, pods
}

// indexInParens is an array index in Marathon's path form, "apps(0)".
var indexInParens = regexp.MustCompile(`\(([0-9]+)\)`)

// jsonPointerIn reports whether the JSON pointer p (RFC 6901) names a value
// in doc.
func jsonPointerIn(doc []byte, p string) bool {
	var v any
	if json.Unmarshal(doc, &v) != nil {
		return false
	}
	if p == "" || p == "/" {
		return true
	}
	// Marathon writes an index as "name(i)" (accord's paths), a JSON
	// pointer as "name/i": both are taken.
	p = indexInParens.ReplaceAllString(p, "/$1")
	for _, tok := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := v.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return false
			}
			v = next
		case []any:
			var i int
			if _, err := fmt.Sscanf(tok, "%d", &i); err != nil || i < 0 || i >= len(c) {
				return false
			}
			v = c[i]
		default:
			return false
		}
	}
	return true
}

// corpusLoadImages loads busybox into the node under the name of every
// image the corpus names, so no definition pulls from a registry.
func corpusLoadImages(t *testing.T, n node, defs []corpusDef) {
	t.Helper()
	refs := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch c := v.(type) {
		case map[string]any:
			if d, ok := c["docker"].(map[string]any); ok {
				if s, ok := d["image"].(string); ok {
					refs[s] = true
				}
			}
			if im, ok := c["image"].(map[string]any); ok {
				if s, ok := im["id"].(string); ok {
					refs[s] = true
				}
			}
			for _, x := range c {
				walk(x)
			}
		case []any:
			for _, x := range c {
				walk(x)
			}
		}
	}
	for _, d := range defs {
		var v any
		if json.Unmarshal(d.body, &v) == nil {
			walk(v)
		}
	}
	// An entrypoint that takes any args, as the images of the examples
	// have; a definition's cmd replaces it (Mesos runs cmd with /bin/sh).
	base, err := tarball.ImageFromPath(busyboxImage(t, "corpus/busybox:1", nil, func(c *v1.Config) {
		c.Env = []string{"PATH=/bin"}
		c.Entrypoint = []string{"/bin/sh", "-c", `echo "corpus image: $*"; exec sleep 1000`, "corpus"}
	}), nil)
	must(t, err)
	tags := map[name.Reference]v1.Image{}
	for r := range refs {
		tag, err := name.NewTag(r, name.WeakValidation)
		if err != nil {
			continue // a name Docker refuses too; the definition fails on its own
		}
		tags[tag] = base
	}
	archive := filepath.Join(t.TempDir(), "corpus-images.tar")
	must(t, tarball.MultiRefWriteToFile(archive, tags))
	if b, err := exec.Command(bin, "image", "load", "--work-dir", n.dir, archive).CombinedOutput(); err != nil {
		t.Fatalf("image load: %v\n%s", err, b)
	}
}

// corpusSecrets stores a value for every secret source the corpus
// references, as an operator would before deploying them.
func corpusSecrets(t *testing.T, n node, defs []corpusDef) {
	t.Helper()
	for _, d := range defs {
		var v struct {
			Secrets map[string]struct {
				Source string `json:"source"`
			} `json:"secrets"`
		}
		if json.Unmarshal(d.body, &v) != nil {
			continue
		}
		for _, s := range v.Secrets {
			p := "/" + strings.TrimPrefix(s.Source, "/")
			// A Docker config.json (for a registry no image here is
			// pulled from): a valid value for a pullConfig secret as for an
			// environment one.
			appMust(t, n, "PUT", "/v1/secrets"+p, `{"value": "{\"auths\": {\"registry.invalid\": {\"auth\": \"Y29ycHVzOmNvcnB1cw==\"}}}"}`, 200, 201)
		}
	}
}
