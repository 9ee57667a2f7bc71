package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// swarmPeer is Docker Swarm from Debian's docker.io, the peer of the app
// figures. Each dockerd runs inside a network namespace the benchmark
// creates (ip netns add; entered with nsenter --net only, so the host's
// cgroup mounts stay visible) with --iptables=false --bridge=none, its own
// --data-root, --exec-root and unix socket under a temp dir, and its
// containers under a cgroup parent of its own. Its busybox image is a
// docker-save archive made here and loaded with POST /images/load: nothing
// is pulled (DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1, and the namespace has
// only a loopback). Cleanup ends every process, mount, cgroup and the
// namespace.
type swarmPeer struct {
	dir, netns, cgroup, image, version string
	daemons                            []*dockerd
}

// newSwarmPeer prepares the namespace and the image; an error says why
// the peer is unavailable.
func newSwarmPeer(t *testing.T) (*swarmPeer, error) {
	for _, tool := range []string{"dockerd", "containerd", "ip", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is not installed (make bench installs Debian's docker.io and iproute2)", tool)
		}
	}
	v, _ := exec.Command("dockerd", "--version").Output()
	// A short path: unix socket paths under it must stay below 108 bytes.
	dir, err := os.MkdirTemp("", "nb-swarm-")
	if err != nil {
		return nil, err
	}
	p := &swarmPeer{dir: dir, netns: "nodectl-bench-" + strconv.Itoa(os.Getpid()),
		cgroup: "/nodectl-bench-docker-" + strconv.Itoa(os.Getpid()), version: strings.TrimSpace(string(v))}
	var made []string // run dirs dockerd and containerd create outside dir
	for _, d := range []string{"/run/docker/plugins", "/run/docker", "/run/containerd/s", "/run/containerd"} {
		if _, err := os.Stat(d); err != nil {
			made = append(made, d)
		}
	}
	// The shims' sockets (/run/containerd/s/<hash of the address>): a
	// shim killed by cleanup leaves its socket behind.
	socketsBefore, _ := filepath.Glob("/run/containerd/s/*")
	t.Cleanup(func() {
		p.cleanup()
		after, _ := filepath.Glob("/run/containerd/s/*")
		for _, s := range after {
			if !slices.Contains(socketsBefore, s) {
				_ = os.Remove(s)
			}
		}
		for _, d := range made {
			_ = syscall.Rmdir(d) // only if empty: another dockerd may use it
		}
	})
	if out, err := exec.Command("ip", "netns", "add", p.netns).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add: %w: %s", err, out)
	}
	if out, err := exec.Command("ip", "-n", p.netns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("loopback up in the namespace: %w: %s", err, out)
	}
	p.image, err = benchImageArchive(t, "bench/busybox:1")
	if err != nil {
		return nil, fmt.Errorf("busybox image archive: %w", err)
	}
	return p, nil
}

// benchImageArchive is a docker-save archive of the busybox rootfs of
// busyboxTarball, tagged ref: the same image for nodectl and dockerd.
func benchImageArchive(t *testing.T, ref string) (string, error) {
	layer, err := tarball.LayerFromFile(busyboxTarball(t))
	if err != nil {
		return "", err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return "", err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Config.Env = []string{"PATH=/bin"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return "", err
	}
	tag, err := name.NewTag(ref, name.WeakValidation)
	if err != nil {
		return "", err
	}
	out := filepath.Join(t.TempDir(), "image.tar")
	return out, tarball.WriteToFile(out, tag, img)
}

func (p *swarmPeer) cleanup() {
	for _, d := range p.daemons {
		d.stop()
	}
	p.killAll()
	unmountUnder(p.dir)
	_ = os.RemoveAll(p.dir)
	_ = exec.Command("ip", "netns", "del", p.netns).Run()
	removeCgroup(p.cgroup)
}

// killAll kills every process in the peer's cgroups (the containers) and
// every process whose command line names its dir (dockerd, containerd,
// shims).
func (p *swarmPeer) killAll() {
	inCgroups := func() []int {
		var pids []int
		files, _ := filepath.Glob("/sys/fs/cgroup/*" + p.cgroup + "/*/cgroup.procs")
		for _, f := range files {
			b, _ := os.ReadFile(f)
			for _, field := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(field); err == nil && pid > 1 {
					pids = append(pids, pid)
				}
			}
		}
		return pids
	}
	for _, pid := range append(inCgroups(), pidsNaming(p.dir)...) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	// Gone, so that their cgroups can be removed.
	pollUntil(10*time.Second, func() bool { return len(pidsNaming(p.dir)) == 0 && len(inCgroups()) == 0 })
}

// pidsNaming is the processes whose command line contains s.
func pidsNaming(s string) []int {
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(b, []byte(s)) {
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(f, "/proc/"), "/cmdline"))
		if pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// dockerd is one daemon of the peer, with its own data and exec roots.
type dockerd struct {
	p    *swarmPeer
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	hc   *http.Client
}

// start starts a fresh dockerd named name (not waiting for it).
func (p *swarmPeer) start(name string) (*dockerd, error) {
	d := &dockerd{p: p, dir: filepath.Join(p.dir, name)}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return nil, err
	}
	sock := filepath.Join(d.dir, "d.sock")
	d.hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var nd net.Dialer
		return nd.DialContext(ctx, "unix", sock)
	}}}
	p.daemons = append(p.daemons, d)
	return d, d.launch()
}

func (d *dockerd) launch() error {
	log, err := os.OpenFile(filepath.Join(d.dir, "dockerd.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	d.cmd = exec.Command("nsenter", "--net=/run/netns/"+d.p.netns, "dockerd",
		"--iptables=false", "--ip6tables=false", "--bridge=none", "--log-level=warn",
		"--data-root", filepath.Join(d.dir, "data"), "--exec-root", filepath.Join(d.dir, "x"),
		"--pidfile", filepath.Join(d.dir, "x", "dockerd.pid"), "--cgroup-parent", d.p.cgroup,
		"-H", "unix://"+filepath.Join(d.dir, "d.sock"))
	d.cmd.Env = append(os.Environ(), "DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1")
	d.cmd.Stdout, d.cmd.Stderr = log, log
	if err := d.cmd.Start(); err != nil {
		return fmt.Errorf("start dockerd: %w", err)
	}
	d.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(d.cmd, d.done)
	return nil
}

// logTail is the end of the daemon's log, for errors.
func (d *dockerd) logTail() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "dockerd.log"))
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return string(b)
}

// exited reports whether the daemon process has ended.
func (d *dockerd) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// lastLine is the last line of the daemon's log.
func (d *dockerd) lastLine() string {
	lines := strings.Split(strings.TrimSpace(d.logTail()), "\n")
	return lines[len(lines)-1]
}

// ping is GET /_ping answering OK.
func (d *dockerd) ping() bool {
	c := *d.hc
	c.Timeout = time.Second
	resp, err := c.Get("http://docker/_ping")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// kill9 is kill -9 of dockerd alone (containerd and the shims live on).
func (d *dockerd) kill9() {
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
}

// stop stops dockerd (SIGTERM, SIGKILL after 30 s), then everything left
// under its dir.
func (d *dockerd) stop() {
	if d.cmd != nil && d.cmd.Process != nil {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(30 * time.Second):
			_ = d.cmd.Process.Signal(syscall.SIGKILL)
			<-d.done
		}
	}
	for _, pid := range pidsNaming(d.dir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	pollUntil(10*time.Second, func() bool { return len(pidsNaming(d.dir)) == 0 })
	unmountUnder(d.dir)
	_ = os.RemoveAll(d.dir)
}

// rss is the VmRSS (MiB) of dockerd, containerd and the shims.
func (d *dockerd) rss() float64 { return rssOfPids(pidsNaming(d.dir)...) }

// do sends a Docker Engine API request; out (if any) receives the JSON
// answer.
func (d *dockerd) do(method, path string, body io.Reader, ctype string, out any) error {
	req, err := http.NewRequest(method, "http://docker"+path, body)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (d *dockerd) json(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	return d.do(method, path, body, "application/json", out)
}

// swarm starts the peer's swarm daemon: dockerd, swarm init on
// 127.0.0.1, the busybox image loaded.
func (p *swarmPeer) swarm() (*dockerd, error) {
	d, err := p.start("swarm")
	if err != nil {
		return nil, err
	}
	if !pollUntil(60*time.Second, d.ping) {
		return nil, fmt.Errorf("dockerd did not answer /_ping in 60 s: %s", d.logTail())
	}
	if err := d.json("POST", "/swarm/init", map[string]any{"ListenAddr": "127.0.0.1:2377", "AdvertiseAddr": "127.0.0.1"}, nil); err != nil {
		return nil, fmt.Errorf("swarm init: %w", err)
	}
	f, err := os.Open(p.image)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := d.do("POST", "/images/load?quiet=1", f, "application/x-tar", nil); err != nil {
		return nil, fmt.Errorf("docker load: %w", err)
	}
	return d, nil
}

// serviceCreate creates a replicated service of busybox `sleep 3600`
// (no network: --bridge=none leaves none to attach to).
func (d *dockerd) serviceCreate(name string, replicas int) (string, error) {
	var r struct{ ID string }
	spec := map[string]any{"Name": name,
		"TaskTemplate": map[string]any{"ContainerSpec": map[string]any{"Image": "bench/busybox:1", "Command": []string{"sleep", "3600"}}},
		"Mode":         map[string]any{"Replicated": map[string]any{"Replicas": replicas}}}
	err := d.json("POST", "/services/create", spec, &r)
	return r.ID, err
}

// serviceScale sets the replicas of service id.
func (d *dockerd) serviceScale(id string, replicas int) error {
	var svc struct {
		Version struct{ Index uint64 }
		Spec    map[string]any
	}
	if err := d.json("GET", "/services/"+id, nil, &svc); err != nil {
		return err
	}
	svc.Spec["Mode"] = map[string]any{"Replicated": map[string]any{"Replicas": replicas}}
	return d.json("POST", "/services/"+id+"/update?version="+strconv.FormatUint(svc.Version.Index, 10), svc.Spec, nil)
}

// serviceRunning is the container ids of the service's running tasks.
func (d *dockerd) serviceRunning(name string) []string {
	filters, _ := json.Marshal(map[string]map[string]bool{"service": {name: true}, "desired-state": {"running": true}})
	var tasks []struct {
		Status struct {
			State           string
			ContainerStatus struct{ ContainerID string }
		}
	}
	if d.json("GET", "/tasks?filters="+url.QueryEscape(string(filters)), nil, &tasks) != nil {
		return nil
	}
	var ids []string
	for _, tk := range tasks {
		if tk.Status.State == "running" {
			ids = append(ids, tk.Status.ContainerStatus.ContainerID)
		}
	}
	return ids
}

// serviceRemove removes service id and waits until its containers are gone.
func (d *dockerd) serviceRemove(id string) error {
	if err := d.json("DELETE", "/services/"+id, nil, nil); err != nil {
		return err
	}
	if !pollUntil(120*time.Second, func() bool {
		var cs []json.RawMessage
		return d.json("GET", "/containers/json?all=1", nil, &cs) == nil && len(cs) == 0
	}) {
		return errors.New("the service's containers are still there 120 s after its removal")
	}
	return nil
}
