package e2e

import (
	"encoding/json"
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

// TestMarathonNetworkingExamples (issue 18): the examples of Marathon's
// networking page in the corpus (networking-*.json, completed with an id
// and a cmd, SOURCES.tsv) run as the page documents them on a node with
// a cluster network, in a network namespace of its own: fixed container
// ports 80 and 443 behind dynamic host ports with the service ports asked
// for; containerPort 0 meaning the host port, given in $PORT_HTTP. A
// container network the node does not have (the page's
// "someUserNetwork") is a 422 naming it; the same example on the node's
// cluster network runs with an address of that network.
func TestMarathonNetworkingExamples(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft is not installed (make deps installs nftables)")
	}
	lab := newNetLab(t)
	mem := lab.add("ex")
	n := newNode(t)
	archive := busyboxImage(t, "my-image:1.0", nil, func(*v1.Config) {})
	if b, err := exec.Command(bin, "image", "load", "--work-dir", n.dir, archive).CombinedOutput(); err != nil {
		t.Fatalf("image load: %v\n%s", err, b)
	}
	startIn(t, mem, withIP(n.args("all", "--resources", "cpus:2;mem:2048;disk:1024;ports:[31000-31100]", "--cluster-cidr", "10.45.0.0/16"), mem.ip)...)
	url := "https://" + mem.ip + ":" + strconv.Itoa(n.port)
	waitFor(t, 60*time.Second, "agent active", func() bool { s := slaves(t, url); return len(s) == 1 && s[0].Active })

	read := func(file string) string {
		b, err := os.ReadFile(filepath.Join(corpusDir, file+".json"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	type exTask struct {
		State        string `json:"state"`
		Ports        []int  `json:"ports"`
		ServicePorts []int  `json:"servicePorts"`
		IPAddresses  []struct {
			IPAddress string `json:"ipAddress"`
		} `json:"ipAddresses"`
	}
	running := func(id string) exTask {
		t.Helper()
		var got exTask
		waitFor(t, 90*time.Second, id+" running", func() bool {
			var r struct {
				Tasks []exTask `json:"tasks"`
			}
			code, b := haDo("GET", url+"/v2/apps"+id+"/tasks", "")
			if code != 200 || json.Unmarshal(b, &r) != nil || len(r.Tasks) != 1 || r.Tasks[0].State != "TASK_RUNNING" {
				return false
			}
			got = r.Tasks[0]
			return true
		})
		return got
	}
	answers := func(what, addr, want string) {
		t.Helper()
		waitFor(t, 30*time.Second, what+": "+addr+" answering "+want, func() bool { return httpBody("http://"+addr+"/") == want })
	}
	post := func(file string) (int, []byte) {
		code, b := haDo("POST", url+"/v2/apps", read(file))
		t.Logf("%s: POST /v2/apps: %d %s", file, code, strings.TrimSpace(string(b)))
		return code, b
	}
	remove := func(id string) {
		if code, b := haDo("DELETE", url+"/v2/apps"+id+"?force=true", ""); code != 200 {
			t.Errorf("DELETE %s: %d %s", id, code, b)
		}
	}

	// Code block 12: fixed container ports 80, 443 (tcp) and 4000 (udp),
	// dynamic host ports, service ports 2000, 2001, 3000.
	if code, _ := post("networking-12"); code != 201 {
		t.Fatalf("networking-12: %d, want 201", code)
	}
	tk := running("/networking-bridge-fixed")
	if len(tk.Ports) != 3 || !slices.Equal(tk.ServicePorts, []int{2000, 2001, 3000}) {
		t.Errorf("networking-12: ports %v service ports %v, want 3 host ports and service ports [2000 2001 3000]", tk.Ports, tk.ServicePorts)
	} else {
		answers("networking-12 http (container port 80)", mem.ip+":"+strconv.Itoa(tk.Ports[0]), "http")
		answers("networking-12 https (container port 443)", mem.ip+":"+strconv.Itoa(tk.Ports[1]), "http")
	}
	if len(tk.IPAddresses) != 1 || !strings.HasPrefix(tk.IPAddresses[0].IPAddress, "172.31.") {
		t.Errorf("networking-12: ipAddresses %v, want the container's address on the bridge", tk.IPAddresses)
	}
	remove("/networking-bridge-fixed")

	// Code block 9: containerPort 0 is the host port, in $PORT_HTTP.
	if code, _ := post("networking-09"); code != 201 {
		t.Fatalf("networking-09: %d, want 201", code)
	}
	tk = running("/networking-bridge-dynamic")
	if len(tk.Ports) != 3 {
		t.Errorf("networking-09: ports %v, want 3", tk.Ports)
	} else {
		answers("networking-09 http ($PORT_HTTP)", mem.ip+":"+strconv.Itoa(tk.Ports[0]), strconv.Itoa(tk.Ports[0]))
		answers("networking-09 https ($PORT_HTTPS)", mem.ip+":"+strconv.Itoa(tk.Ports[1]), strconv.Itoa(tk.Ports[0]))
	}
	remove("/networking-bridge-dynamic")

	// Code block 8: a container network this node does not have.
	if code, b := post("networking-08"); code != 422 || !strings.Contains(string(b), "/networks/0/name") || !strings.Contains(string(b), "someUserNetwork") {
		t.Errorf("networking-08: %d %s, want 422 naming /networks/0/name and someUserNetwork", code, b)
	}
	// The same on the node's cluster network runs, with an address of it.
	body := strings.Replace(read("networking-08"), `"someUserNetwork"`, `"nodectl"`, 1)
	if code, b := haDo("POST", url+"/v2/apps", body); code != 201 {
		t.Fatalf("networking-08 on network nodectl: %d %s", code, b)
	}
	tk = running("/networking-container")
	if len(tk.IPAddresses) != 1 || !strings.HasPrefix(tk.IPAddresses[0].IPAddress, "10.45.") {
		t.Errorf("networking-08 on nodectl: ipAddresses %v, want one in 10.45.0.0/16", tk.IPAddresses)
	}
	remove("/networking-container")
}
