package e2e

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// hostNetState is what a bridge task leaves on the host: interfaces,
// nftables rules that mention the bridge subnet, and pinned namespaces.
func hostNetState(t *testing.T, workDir string) (links []string, rules []string, netns []string) {
	t.Helper()
	es, err := os.ReadDir("/sys/class/net")
	must(t, err)
	for _, e := range es {
		links = append(links, e.Name())
	}
	out, err := exec.Command("nft", "list", "ruleset").Output()
	must(t, err)
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "172.31.") {
			rules = append(rules, strings.TrimSpace(l))
		}
	}
	if es, err := os.ReadDir(filepath.Join(workDir, "cni", "netns")); err == nil {
		for _, e := range es {
			netns = append(netns, e.Name())
		}
	}
	return links, rules, netns
}

// TestBridgeNetworking: two instances of a container/bridge app, both
// listening on container port 8080 on one agent, each answer on their own
// host port (Marathon's portMappings, hostPort 0); once the app is gone,
// no veth, bridge, nftables rule or namespace of theirs is left.
func TestBridgeNetworking(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft is not installed (make deps installs nftables)")
	}
	n := newNode(t)
	start(t, n.args("all", "--resources", "cpus:2;mem:2048;disk:1024;ports:[38100-38199]")...)
	waitFor(t, 30*time.Second, "agent active", func() bool {
		s := slaves(t, n.url())
		return len(s) == 1 && s[0].Active
	})
	archive := busyboxImage(t, "test/bridge:1", nil, func(*v1.Config) {})
	if b, err := exec.Command(bin, "image", "load", "--work-dir", n.dir, archive).CombinedOutput(); err != nil {
		t.Fatalf("image load: %v\n%s", err, b)
	}
	links0, rules0, _ := hostNetState(t, n.dir)

	appMust(t, n, "POST", "/v2/apps", `{"id": "/e2e/bridge", "instances": 2, "cpus": 0.05, "mem": 32,
		"cmd": "echo bridge-$MESOS_TASK_ID-$PORT_HTTP > index.html && exec httpd -f -p 8080 -h .",
		"container": {"type": "MESOS", "docker": {"image": "test/bridge:1"},
			"portMappings": [{"containerPort": 8080, "hostPort": 0, "name": "http", "protocol": "tcp"}]},
		"networks": [{"mode": "container/bridge"}]}`, 201)
	appWaitRunning(t, n, "/e2e/bridge", 2, false, 60*time.Second)
	tasks := appTasks(n, "/e2e/bridge")
	if len(tasks) != 2 || len(tasks[0].Ports) != 1 || len(tasks[1].Ports) != 1 || tasks[0].Ports[0] == tasks[1].Ports[0] {
		t.Fatalf("want 2 tasks with a distinct host port each: %+v", tasks)
	}
	for _, tk := range tasks {
		hp := strconv.Itoa(tk.Ports[0])
		want := "bridge-" + tk.ID + "-" + hp // PORT_HTTP is the host port, as Marathon documents
		var got string
		waitFor(t, 30*time.Second, "task "+tk.ID+" answering on host port "+hp, func() bool {
			resp, err := http.Get("http://127.0.0.1:" + hp + "/")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			got = strings.TrimSpace(string(b))
			return got == want
		})
	}
	// A container network no one defined is refused, naming it.
	body := appMust(t, n, "POST", "/v2/apps", `{"id": "/e2e/cnet", "cmd": "sleep 1", "container": {"type": "MESOS", "docker": {"image": "test/bridge:1"}},
		"networks": [{"mode": "container", "name": "dev"}]}`, 422)
	if !strings.Contains(string(body), "/networks/0/name") || !strings.Contains(string(body), `\"dev\"`) {
		t.Errorf("unknown container network: 422 %s does not name /networks/0/name and the network", body)
	}

	appMust(t, n, "DELETE", "/v2/apps/e2e/bridge", "", 200)
	var links, rules, netns []string
	defer func() {
		if t.Failed() {
			t.Logf("host before: links %q rules %q\nhost at the end: links %q rules %q namespaces %q", links0, rules0, links, rules, netns)
		}
	}()
	waitFor(t, 60*time.Second, "the bridge tasks' networking gone", func() bool {
		links, rules, netns = hostNetState(t, n.dir)
		return len(appTasks(n, "/e2e/bridge")) == 0 && len(netns) == 0 &&
			slices.Equal(links, links0) && slices.Equal(rules, rules0)
	})
}
