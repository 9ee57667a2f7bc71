package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The dependency rules (README.md's Layout and the packages' doc
// comments): imports flow main → node → {cluster, embed, runtime, storage,
// ui}, and runtime → storage. Each banned edge has its reason beside it;
// TestDependencyRuleCheck holds one forbidden edge per rule and leaf.
var rules = []struct {
	from, to string // package path prefixes ("to" may be a module prefix)
	why      string
}{
	{"nodectl/cluster", "nodectl/embed", "masters reach etcd only through the client; embed is node's to wire"},
	{"nodectl/cluster", "nodectl/runtime", "the master must not depend on agent execution"},
	{"nodectl/cluster", "nodectl/storage", "the master keeps its state in etcd, not in agent checkpoints"},
	{"nodectl/cluster", "nodectl/ui", "the UI depends on the master's API, not the other way"},
	{"nodectl/cluster", "nodectl/node", "node is the composition root; nothing imports it"},
	{"nodectl/embed", "nodectl/", "embed is a leaf wrapper around etcd's server"},
	{"nodectl/storage", "nodectl/", "storage is a leaf: sqlite checkpoints only"},
	{"nodectl/ui", "nodectl/", "ui declares the small interface it needs instead of importing the master"},
	{"nodectl/runtime", "nodectl/cluster", "agents talk to masters over HTTPS; only the wire types in cluster/api are shared"},
	{"nodectl/runtime", "nodectl/embed", "agents never talk to etcd directly"},
	{"nodectl/runtime", "nodectl/ui", "the agent does not serve the UI"},
	{"nodectl/runtime", "nodectl/node", "node is the composition root; nothing imports it"},
	{"nodectl/runtime", "go.etcd.io/etcd", "agents talk to masters over HTTPS, never to etcd"},
	{"nodectl/", "go.etcd.io/etcd/server", "only embed may import etcd's server module"},
	{"nodectl/", "github.com/opencontainers/runc", "only runtime may import runc"},
}

// leaves are packages that import no nodectl package but the ones listed
// (and their own subpackages); checked before the rules above, which let a
// package import its parent.
var leaves = []struct {
	pkg string
	may []string
	why string
}{
	{"nodectl/cluster/client", []string{"nodectl/cluster/api"},
		"the one HTTP client of the master API is a leaf: cluster/pki's join flow and the CLI build on it, so it cannot import pki or the master"},
	{"nodectl/cluster/api", nil,
		"the wire types both masters and agents import stay a leaf (cluster/api/doc.go)"},
	{"nodectl/cluster/pki", []string{"nodectl/cluster/client", "nodectl/cluster/api"},
		"the PKI is a leaf under cluster/ but for the join flow's HTTP client (cluster/pki/doc.go)"},
	{"nodectl/runtime/image", nil,
		"the image store is a leaf the CLI and the agent share (runtime/image/doc.go)"},
	{"nodectl/runtime/internal/container/internal/hostsecrets", nil,
		"the hidden-path list is a leaf shared by the agent and the shim (hostsecrets.go)"},
	{"nodectl/node/internal", nil,
		"the appliance's helpers (disk, kmod, netup) are leaves (their doc comments)"},
	{"nodectl/node/cmdline", []string{"nodectl/cluster/api", "nodectl/cluster/client", "nodectl/cluster/pki", "nodectl/cluster/auth", "nodectl/cluster"},
		"the client command line talks to masters over HTTPS: no agent, storage, etcd server or UI (node/cmdline/doc.go)"},
}

// allowed are exceptions to the rules above, by exact package path.
var allowed = map[string][]string{
	"nodectl/runtime": {"nodectl/cluster/api"},
}

func TestDependencyRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-test", "-json=ImportPath,Deps,ForTest", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			ImportPath string
			ForTest    string
			Deps       []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkg := p.ImportPath
		if p.ForTest != "" {
			pkg = p.ForTest
		}
		pkg, _, _ = strings.Cut(pkg, " ")
		pkg = strings.TrimSuffix(pkg, ".test")
		pkg = strings.TrimSuffix(pkg, "_test")
		// node (the composition root) and its test harnesses may import
		// anything; node/internal's helpers are leaves like the rest.
		if !strings.HasPrefix(pkg, "nodectl/") || within(pkg, "nodectl/node") && !within(pkg, "nodectl/node/internal") && !within(pkg, "nodectl/node/cmdline") {
			continue
		}
		for _, dep := range p.Deps {
			dep, _, _ = strings.Cut(dep, " ") // "nodectl/x [nodectl/x.test]"
			if err := check(pkg, dep); err != "" {
				t.Errorf("%s imports %s: %s", pkg, dep, err)
			}
		}
	}
}

func within(pkg, prefix string) bool {
	return pkg == prefix || strings.HasPrefix(pkg, strings.TrimSuffix(prefix, "/")+"/")
}

func check(pkg, dep string) string {
	for _, l := range leaves {
		if !within(pkg, l.pkg) || !within(dep, "nodectl/") || within(dep, l.pkg) {
			continue
		}
		if !slices.ContainsFunc(l.may, func(ok string) bool { return within(dep, ok) }) {
			return l.why
		}
	}
	if within(pkg, dep) || within(dep, pkg) {
		return "" // a package and its own subpackages
	}
	for _, ok := range allowed[topOf(pkg)] {
		if within(dep, ok) {
			return ""
		}
	}
	for _, r := range rules {
		if !within(pkg, r.from) || !within(dep, r.to) {
			continue
		}
		if r.to == "go.etcd.io/etcd/server" && within(pkg, "nodectl/embed") {
			continue
		}
		if r.to == "github.com/opencontainers/runc" && within(pkg, "nodectl/runtime") {
			continue
		}
		return r.why
	}
	return ""
}

// topOf maps nodectl/runtime/internal/x to nodectl/runtime.
func topOf(pkg string) string {
	parts := strings.SplitN(pkg, "/", 3)
	if len(parts) < 2 {
		return pkg
	}
	return parts[0] + "/" + parts[1]
}

func TestDependencyRuleCheck(t *testing.T) {
	// The checker itself must catch what it is for.
	for _, c := range []struct {
		pkg, dep string
		bad      bool
	}{
		{"nodectl/cluster", "nodectl/embed", true},
		{"nodectl/cluster/internal/alloc", "nodectl/runtime", true},
		{"nodectl/runtime", "nodectl/cluster/api", false},
		{"nodectl/runtime", "nodectl/cluster", true},
		{"nodectl/runtime/internal/container", "github.com/opencontainers/runc/libcontainer", false},
		{"nodectl/cluster", "github.com/opencontainers/runc/libcontainer", true},
		{"nodectl/embed", "go.etcd.io/etcd/server/v3/embed", false},
		{"nodectl/cluster", "go.etcd.io/etcd/server/v3/etcdserver", true},
		{"nodectl/cluster", "go.etcd.io/etcd/client/v3", false},
		{"nodectl/storage", "nodectl/cluster/api", true},
		{"nodectl/cluster", "nodectl/cluster/api", false},
		{"nodectl/cluster/client", "nodectl/cluster/api", false},
		{"nodectl/cluster/client", "nodectl/cluster", true},
		{"nodectl/cluster/client", "nodectl/cluster/pki", true},
		{"nodectl/cluster/pki", "nodectl/cluster/client", false},
		{"nodectl/cluster/client", "golang.org/x/sys/unix", false},
		// One forbidden edge for each documented rule and leaf.
		{"nodectl/cluster/apps", "nodectl/storage", true},
		{"nodectl/cluster", "nodectl/ui", true},
		{"nodectl/cluster", "nodectl/node", true},
		{"nodectl/embed", "nodectl/cluster/api", true},
		{"nodectl/ui", "nodectl/cluster", true},
		{"nodectl/runtime", "nodectl/embed", true},
		{"nodectl/runtime", "nodectl/ui", true},
		{"nodectl/runtime", "nodectl/node", true},
		{"nodectl/runtime", "go.etcd.io/etcd/client/v3", true},
		{"nodectl/storage", "go.etcd.io/etcd/server/v3/embed", true},
		{"nodectl/cluster/api", "nodectl/cluster/pki", true},
		{"nodectl/cluster/pki", "nodectl/cluster", true},
		{"nodectl/cluster/pki", "nodectl/cluster/auth", true},
		{"nodectl/runtime/image", "nodectl/runtime", true},
		{"nodectl/runtime/image", "nodectl/storage", true},
		{"nodectl/runtime/internal/container/internal/hostsecrets", "nodectl/runtime/internal/container", true},
		{"nodectl/node/internal/disk", "nodectl/node", true},
		{"nodectl/node/internal/kmod", "nodectl/cluster/api", true},
		{"nodectl/node/cmdline", "nodectl/runtime", true},
		{"nodectl/node/cmdline", "nodectl/embed", true},
		{"nodectl/node/cmdline", "nodectl/cluster/client", false},
	} {
		if got := check(c.pkg, c.dep) != ""; got != c.bad {
			t.Errorf("check(%s, %s) bad=%v, want %v", c.pkg, c.dep, got, c.bad)
		}
	}
}

// routers are the files that may build an http.ServeMux, with why. The
// master port's routes go through cluster/auth's Router, each with one
// permission; a mux anywhere else would be a way to add a route without
// one.
var routers = map[string]string{
	"cluster/auth/router.go":   "the master port's one router",
	"cluster/api/files.go":     "the files API's sub-routes, mounted under one permission (access_mesos_logs, or the agent port)",
	"ui/ui.go":                 "the UI's static assets, mounted as public routes",
	"runtime/http.go":          "the agent port: mutual TLS, master and admin certificates only",
	"node/up.go":               "the agent port's wiring (same)",
	"runtime/executor_http.go": "the executor API's loopback listener: one route, one permission (the calling executor itself, identified by the kernel or its token)",
}

func TestRoutesHavePermissions(t *testing.T) {
	out, err := exec.Command("git", "grep", "-l", "http.NewServeMux()", "--", "*.go", ":!*_test.go", ":!*/testdata/*").Output()
	if err != nil {
		t.Fatalf("git grep: %v", err)
	}
	for _, f := range strings.Fields(string(out)) {
		if _, ok := routers[f]; !ok {
			t.Errorf("%s builds an http.ServeMux: register master routes on cluster/auth's Router with a permission instead (or list the file in routers with the reason)", f)
		}
	}
}
