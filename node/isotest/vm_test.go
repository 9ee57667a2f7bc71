package isotest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// busyboxRef is the image preloaded into the test initramfs.
const busyboxRef = "local/busybox:1"

func TestMain(m *testing.M) {
	code := m.Run()
	if artifacts.dir != "" {
		os.RemoveAll(artifacts.dir)
	}
	os.Exit(code)
}

var artifacts struct {
	once            sync.Once
	dir             string
	vmlinuz, initrd string
	err             error
}

// needISO skips unless the ISO tests were asked for (make test-iso), and
// returns the kernel and an initramfs with busybox preloaded, built once.
func needISO(t *testing.T) (vmlinuz, initrd string) {
	t.Helper()
	needQemu(t)
	artifacts.once.Do(func() { artifacts.err = buildArtifacts() })
	if artifacts.err != nil {
		t.Fatal(artifacts.err)
	}
	return artifacts.vmlinuz, artifacts.initrd
}

// needQemu skips unless the ISO tests were asked for and qemu is there.
func needQemu(t *testing.T) {
	t.Helper()
	if os.Getenv("NODECTL_ISO_TEST") != "1" {
		t.Skip("ISO tests run with make test-iso (NODECTL_ISO_TEST=1)")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 is not installed (make test-iso installs it)")
	}
	if os.Getenv("NODECTL_BIN") == "" {
		t.Fatal("NODECTL_BIN must name the static nodectl binary (make build)")
	}
}

func buildArtifacts() error {
	bin := os.Getenv("NODECTL_BIN")
	if bin == "" {
		return fmt.Errorf("NODECTL_BIN must name the static nodectl binary (make build)")
	}
	dir, err := os.MkdirTemp("", "nodectl-isotest-")
	if err != nil {
		return err
	}
	artifacts.dir = dir
	archive := filepath.Join(dir, "busybox.tar")
	if err := busyboxArchive(archive); err != nil {
		return fmt.Errorf("busybox image: %w", err)
	}
	out := filepath.Join(dir, "out")
	cmd := exec.Command("go", "run", "nodectl/node/internal/mkiso", "-no-iso", "-nodectl", bin, "-images", archive, "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mkiso: %w: %s", err, b)
	}
	artifacts.vmlinuz, artifacts.initrd = filepath.Join(out, "vmlinuz"), filepath.Join(out, "initrd.img")
	return nil
}

// busyboxArchive writes a docker-save archive of a one-layer image holding
// Debian's static busybox.
func busyboxArchive(path string) error {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return fmt.Errorf("busybox-static is not installed (make deps): %w", err)
	}
	body, err := os.ReadFile(bb)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, d := range []string{"bin/", "tmp/", "proc/", "sys/", "dev/", "etc/", "data/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(body))}); err != nil {
		return err
	}
	if _, err := tw.Write(body); err != nil {
		return err
	}
	for _, app := range []string{"sh", "echo", "cat", "sleep", "grep", "test", "["} {
		if err := tw.WriteHeader(&tar.Header{Name: "bin/" + app, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerBytes)), nil })
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	img, err = mutate.Config(img, v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}})
	if err != nil {
		return err
	}
	tag, err := name.NewTag(busyboxRef)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(path, tag, img)
}

// vmOpts describe one qemu run.
type vmOpts struct {
	kernel, initrd string // -kernel/-initrd boot, or
	iso            string // -cdrom boot (BIOS)
	append         string // kernel parameters (with -kernel)
	disk           string // data disk image, optional
	apiPort        int    // forward 127.0.0.1:apiPort to the guest's 5050 on a user-mode NIC; 0: no such NIC
	smp            int
	extra          []string
	cdrom          string // an ISO in the CD drive, not booted (with kernel)
	diskBoot       bool   // boot from the disk (its GRUB), no -kernel, no CD
	console        bool   // the serial port is also a socket the test can type into (typeLine)
	// fwds are more forwards on the user-mode NIC, host port (127.0.0.1)
	// to guest port; with apiPort 0 the NIC is there for them alone.
	fwds map[int]int
	// reboots lets a guest reboot reset the machine in the same qemu
	// (same console log, NICs, forwards) instead of ending qemu.
	reboots bool
	timeout time.Duration // bounds the qemu run; 0: vmTimeout
}

// vm is a running qemu, bounded by a timeout and killed by PID at cleanup.
type vm struct {
	t       *testing.T
	cmd     *exec.Cmd
	serial  string
	monitor string
	conSock string
	port    int
	done    chan struct{}
	started time.Time
}

// userMAC is the MAC of the user-mode NIC (qemu's default, made explicit:
// nodectl.net names NICs by MAC, as kernel names depend on probe order).
const userMAC = "52:54:00:12:34:56"

// vmTimeout bounds every qemu run.
const vmTimeout = 8 * time.Minute

func bootVM(t *testing.T, name string, o vmOpts) *vm {
	t.Helper()
	dir := t.TempDir()
	v := &vm{t: t, serial: filepath.Join(dir, name+".serial"), monitor: filepath.Join(dir, "mon.sock"), port: o.apiPort, done: make(chan struct{})}
	if o.smp == 0 {
		o.smp = 2
	}
	if o.timeout == 0 {
		o.timeout = vmTimeout
	}
	args := []string{"-accel", "tcg", "-m", "1024", "-smp", strconv.Itoa(o.smp), "-display", "none",
		"-monitor", "unix:" + v.monitor + ",server,nowait"}
	if !o.reboots {
		args = append(args, "-no-reboot")
	}
	if o.console {
		// qemu logs the serial output to the file whether or not the
		// test is connected to the socket.
		v.conSock = filepath.Join(dir, "con.sock")
		args = append(args, "-chardev", "socket,id=ser0,path="+v.conSock+",server=on,wait=off,logfile="+v.serial, "-serial", "chardev:ser0")
	} else {
		args = append(args, "-serial", "file:"+v.serial)
	}
	if o.cdrom != "" {
		args = append(args, "-cdrom", o.cdrom)
	}
	if o.diskBoot {
		args = append(args, "-boot", "c")
	} else if o.iso != "" {
		args = append(args, "-cdrom", o.iso, "-boot", "d")
	} else {
		// The test drives the VMs' API from the host without the admin
		// secret (it stays inside the VM): the operator's Mesos flags open
		// the realms (openRealms), as docs/security.md allows.
		// Authentication itself is tested outside qemu (node/e2e).
		args = append(args, "-kernel", o.kernel, "-initrd", o.initrd, "-append",
			"console=ttyS0,115200 panic=-1 "+openRealms+" "+o.append)
	}
	if o.disk != "" {
		args = append(args, "-drive", "file="+o.disk+",format=qcow2,if=virtio")
	}
	if o.apiPort != 0 || len(o.fwds) > 0 {
		nic := "user,model=e1000,mac=" + userMAC
		if o.apiPort != 0 {
			nic += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:5050", o.apiPort)
		}
		for host, guest := range o.fwds {
			nic += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", host, guest)
		}
		args = append(args, "-nic", nic)
	} else {
		args = append(args, "-nic", "none")
	}
	args = append(args, o.extra...)
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	v.cmd = exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	v.cmd.Stdin = nil
	var stderr bytes.Buffer
	v.cmd.Stdout, v.cmd.Stderr = &stderr, &stderr
	v.started = time.Now()
	if err := v.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start qemu: %v", err)
	}
	go func() {
		_ = v.cmd.Wait()
		cancel()
		close(v.done)
	}()
	t.Cleanup(func() {
		v.kill()
		if t.Failed() {
			// Keep the whole console for a post-mortem; the log shows its end.
			keep := filepath.Join(os.TempDir(), fmt.Sprintf("nodectl-isotest-%s-%d.serial", name, v.cmd.Process.Pid))
			if b, err := os.ReadFile(v.serial); err == nil && os.WriteFile(keep, b, 0o644) == nil {
				t.Logf("%s serial console kept in %s", name, keep)
			}
			if o.disk != "" {
				diskCopy := strings.TrimSuffix(keep, ".serial") + ".qcow2"
				if b, err := os.ReadFile(o.disk); err == nil && os.WriteFile(diskCopy, b, 0o644) == nil {
					t.Logf("%s data disk kept in %s (debugfs after qemu-img convert)", name, diskCopy)
				}
			}
			t.Logf("%s serial console (tail):\n%s\nqemu: %s", name, v.tail(60), stderr.String())
		}
	})
	return v
}

// kill ends qemu at once (SIGKILL, as pulling the plug) and waits for it.
// os.Process signals through a pidfd: a qemu already reaped is not
// signalled again, nor a process that took its PID.
func (v *vm) kill() {
	_ = v.cmd.Process.Kill()
	<-v.done
}

// tail is the end of the serial console log.
func (v *vm) tail(n int) string {
	b, _ := os.ReadFile(v.serial)
	lines := strings.Split(string(b), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (v *vm) console() string {
	b, _ := os.ReadFile(v.serial)
	return string(b)
}

func (v *vm) url(path string) string { return fmt.Sprintf("https://127.0.0.1:%d%s", v.port, path) }

// waitFor polls cond until it holds, the VM exits, or the timeout passes.
func (v *vm) waitFor(timeout time.Duration, what string, cond func() bool) {
	v.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		select {
		case <-v.done:
			v.t.Fatalf("qemu exited while waiting for %s", what)
		default:
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitHealthy waits for /health 200 through the forwarded port and returns
// the time since qemu started.
func (v *vm) waitHealthy(timeout time.Duration) time.Duration {
	v.t.Helper()
	v.waitFor(timeout, "/health 200", func() bool { return status(v.url("/health")) == 200 })
	return time.Since(v.started)
}

var joinLine = regexp.MustCompile(`boot this ISO with:\s+(nodectl\.role=agent nodectl\.join=\S+ nodectl\.token=\S+)`)

// joinParams waits for a master's console to print the kernel parameters
// that join an agent to it, and returns them.
func (v *vm) joinParams() string {
	v.t.Helper()
	var params string
	v.waitFor(time.Minute, "the join parameters on the console", func() bool {
		if m := joinLine.FindStringSubmatch(v.console()); m != nil {
			params = m[1]
		}
		return params != ""
	})
	return params
}

// monitorCmd runs a command on the qemu monitor (HMP) and waits for the
// monitor's next prompt: the command was carried out.
func (v *vm) monitorCmd(cmd string) {
	v.t.Helper()
	c, err := net.Dial("unix", v.monitor)
	if err != nil {
		v.t.Fatalf("qemu monitor: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		v.t.Fatalf("qemu monitor %q: %v", cmd, err)
	}
	// The banner's prompt, then the one after the command.
	var out []byte
	buf := make([]byte, 4096)
	for bytes.Count(out, []byte("(qemu)")) < 2 {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			v.t.Fatalf("qemu monitor %q: %v (read %q)", cmd, err, out)
		}
	}
}

// waitAgentActive waits for the master to list the agent on host ("":
// any) as registered with it and active, and returns its hostname. An
// agent a restarted master loaded from its registry shows as active too,
// and in recovered_slaves until it registers again (Mesos' /slaves lists
// the agents "registered in this master or recovered from registry":
// https://mesos.apache.org/documentation/latest/endpoints/master/slaves/).
func (v *vm) waitAgentActive(host string, timeout time.Duration) string {
	v.t.Helper()
	var found string
	v.waitFor(timeout, "the agent "+host+" registered and active", func() bool {
		type slave struct {
			ID       string `json:"id"`
			Hostname string `json:"hostname"`
			Active   bool   `json:"active"`
		}
		var s struct {
			Slaves    []slave `json:"slaves"`
			Recovered []slave `json:"recovered_slaves"`
		}
		if getJSON(v.url("/slaves"), &s) != nil {
			return false
		}
		recovered := map[string]bool{}
		for _, sl := range s.Recovered {
			recovered[sl.ID] = true
		}
		for _, sl := range s.Slaves {
			if (host == "" || sl.Hostname == host) && sl.Active && !recovered[sl.ID] {
				found = sl.Hostname
				return true
			}
		}
		return false
	})
	return found
}

// powerdown presses the ACPI power button and waits for qemu to exit.
func (v *vm) powerdown(timeout time.Duration) {
	v.t.Helper()
	v.monitorCmd("system_powerdown")
	select {
	case <-v.done:
	case <-time.After(timeout):
		v.t.Fatalf("the VM did not power off within %s of the power button", timeout)
	}
}

// client talks to the VM's master port (HTTPS only). The cluster CA is
// made inside the VM at its first boot, so the test cannot pin it; these
// tests are about booting, joining and persistence, and certificate
// checking is TestTLSEverywhere's (node/e2e).
var client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see above
}}

func status(url string) int {
	resp, err := client.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func getJSON(url string, v any) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// isoPostApp creates an app, retrying while the apps framework has no
// leader yet (the first seconds after /health turns 200).
func (v *vm) isoPostApp(app map[string]any) {
	v.t.Helper()
	body, _ := json.Marshal(app)
	var last string
	v.waitFor(90*time.Second, "POST /v2/apps", func() bool {
		resp, err := client.Post(v.url("/v2/apps"), "application/json", bytes.NewReader(body))
		if err != nil {
			last = err.Error()
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = resp.Status + " " + string(b)
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != 409 {
			v.t.Fatalf("POST /v2/apps: %s", last)
		}
		return resp.StatusCode == 201 || resp.StatusCode == 200
	})
}

type appStatus struct {
	App struct {
		TasksRunning    int `json:"tasksRunning"`
		LastTaskFailure *struct {
			Message string `json:"message"`
			State   string `json:"state"`
		} `json:"lastTaskFailure"`
		Tasks []struct {
			ID    string `json:"id"`
			Host  string `json:"host"`
			State string `json:"state"`
		} `json:"tasks"`
	} `json:"app"`
}

func (v *vm) app(id string) (appStatus, error) {
	var a appStatus
	err := getJSON(v.url("/v2/apps/"+id+"?embed=app.tasks"), &a)
	return a, err
}

// waitRunning waits until the app has a running task and returns it. A
// task failure fails the test, except TASK_LOST or TASK_GONE when
// allowLost (the tasks of a machine that powered off are gone, as in Mesos).
func (v *vm) waitRunning(id string, timeout time.Duration, allowLost bool) appStatus {
	v.t.Helper()
	var a appStatus
	v.waitFor(timeout, "app "+id+" running", func() bool {
		var err error
		a, err = v.app(id)
		if err == nil && a.App.LastTaskFailure != nil && !(allowLost && (a.App.LastTaskFailure.State == "TASK_LOST" || a.App.LastTaskFailure.State == "TASK_GONE")) {
			v.t.Fatalf("app %s task failed: %s %s", id, a.App.LastTaskFailure.State, a.App.LastTaskFailure.Message)
		}
		return err == nil && a.App.TasksRunning == 1 && len(a.App.Tasks) == 1
	})
	return a
}

// waitStable waits for the app to run and then for its task to keep
// running over a few polls (a command that fails quickly shows as a
// failure instead).
func (v *vm) waitStable(id string, timeout time.Duration, allowLost bool) {
	v.t.Helper()
	a := v.waitRunning(id, timeout, allowLost)
	taskID := a.App.Tasks[0].ID
	for range 6 {
		b, err := v.app(id)
		if err != nil {
			v.t.Fatal(err)
		}
		failed := b.App.LastTaskFailure != nil && !(allowLost && (b.App.LastTaskFailure.State == "TASK_LOST" || b.App.LastTaskFailure.State == "TASK_GONE"))
		if failed || len(b.App.Tasks) != 1 || b.App.Tasks[0].ID != taskID {
			v.t.Fatalf("app %s task did not stay running (%+v)", id, b.App)
		}
		time.Sleep(time.Second)
	}
}

// isoDelete sends DELETE to the API.
func (v *vm) isoDelete(path string) {
	v.t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, v.url(path), nil)
	resp, err := client.Do(req)
	if err != nil {
		v.t.Fatalf("DELETE %s: %v", path, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		v.t.Fatalf("DELETE %s: %s", path, resp.Status)
	}
}

func qcow2(t *testing.T, size string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", p, size).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v: %s", err, out)
	}
	return p
}

// freePort is a free TCP port on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// openRealms are the kernel parameters that let the test use a VM's API
// anonymously: Mesos' authentication flags, off.
const openRealms = "nodectl.authenticate_http_readonly=false nodectl.authenticate_http_readwrite=false nodectl.authenticate_frameworks=false"
