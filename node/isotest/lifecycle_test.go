package isotest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lifecycleBuilds are the systems TestLifecycle installs and upgrades to,
// all signed with one key the test makes (as `make iso` and `make
// update-bundle` share UPDATE_KEY).
type lifecycleBuilds struct {
	dir                    string
	vmlinuz, initrd, iso   string // v1: the ISO installed from
	v2Bundle, brokenBundle string
	err                    error
	done                   chan struct{}
}

const (
	v2Version     = "lifecycle-v2"
	brokenVersion = "lifecycle-broken"
)

func mkiso(args ...string) error {
	cmd := exec.Command("go", append([]string{"run", "nodectl/node/internal/mkiso"}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mkiso %v: %w: %s", args, err, b)
	}
	return nil
}

func goBuild(out, ldflags, pkg string, env ...string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, pkg)
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w: %s", pkg, err, b)
	}
	return nil
}

// buildV1 is the ISO (with busybox preloaded and the test's update key).
func buildV1(t *testing.T, dir string) (b lifecycleBuilds) {
	t.Helper()
	b.dir = dir
	archive := filepath.Join(dir, "busybox.tar")
	if err := busyboxArchive(archive); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "v1")
	start := time.Now()
	if err := mkiso("-nodectl", os.Getenv("NODECTL_BIN"), "-images", archive, "-update-key", filepath.Join(dir, "update.key"),
		"-version", "lifecycle-v1", "-out", out); err != nil {
		t.Fatal(err)
	}
	t.Logf("v1 ISO built in %s", time.Since(start).Round(time.Second))
	b.vmlinuz, b.initrd, b.iso = filepath.Join(out, "vmlinuz"), filepath.Join(out, "initrd.img"), filepath.Join(out, "nodectl.iso")
	return b
}

// buildUpdates makes, in the background, the bundle of a second build of
// the same commit with another version string, and a broken one whose
// /init exits at once.
func (b *lifecycleBuilds) buildUpdates() {
	b.done = make(chan struct{})
	go func() {
		defer close(b.done)
		key := filepath.Join(b.dir, "update.key")
		archive := filepath.Join(b.dir, "busybox.tar")
		v2 := filepath.Join(b.dir, "nodectl-v2")
		if b.err = goBuild(v2, "-s -w -X nodectl/cluster/api.Version="+v2Version, "nodectl", "CGO_ENABLED=0"); b.err != nil {
			return
		}
		if b.err = mkiso("-no-iso", "-bundle", "-nodectl", v2, "-images", archive, "-update-key", key, "-version", v2Version, "-out", filepath.Join(b.dir, "v2")); b.err != nil {
			return
		}
		b.v2Bundle = filepath.Join(b.dir, "v2", "nodectl-update.tar")
		src := filepath.Join(b.dir, "exit1")
		if b.err = os.MkdirAll(src, 0o755); b.err != nil {
			return
		}
		if b.err = os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n\nimport \"os\"\n\nfunc main() { os.Exit(1) }\n"), 0o644); b.err != nil {
			return
		}
		if b.err = os.WriteFile(filepath.Join(src, "go.mod"), []byte("module exit1\n\ngo 1.22\n"), 0o644); b.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(b.dir, "exit1.bin"), ".")
		cmd.Dir, cmd.Env = src, append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("build exit1: %w: %s", err, out)
			return
		}
		if b.err = mkiso("-no-iso", "-bundle", "-nodectl", filepath.Join(b.dir, "exit1.bin"), "-update-key", key, "-version", brokenVersion, "-out", filepath.Join(b.dir, "broken")); b.err != nil {
			return
		}
		b.brokenBundle = filepath.Join(b.dir, "broken", "nodectl-update.tar")
	}()
}

func (b *lifecycleBuilds) wait(t *testing.T) {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(15 * time.Minute):
		t.Fatal("the update bundles were not built within 15 minutes")
	}
	if b.err != nil {
		t.Fatal(b.err)
	}
}

// serveFiles serves dir on the host's loopback; the guest reaches it at
// 10.0.2.2 (qemu's user-mode network).
func serveFiles(t *testing.T, dir string) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// typeLine types a line on the VM's serial console. qemu takes input off
// the socket only as fast as the guest's UART drains it and drops what is
// left when the socket closes, so it stays open until the tty echoes the
// line back.
func (v *vm) typeLine(line string) {
	v.t.Helper()
	c, err := net.Dial("unix", v.conSock)
	if err != nil {
		v.t.Fatalf("serial console: %v", err)
	}
	defer c.Close()
	// The VM's output now comes to the socket too: drain it.
	go func() { _, _ = io.Copy(io.Discard, c) }()
	before := strings.Count(v.console(), line)
	if _, err := c.Write([]byte(line + "\r")); err != nil {
		v.t.Fatalf("serial console: %v", err)
	}
	v.waitFor(time.Minute, "the console to echo "+line, func() bool {
		return strings.Count(v.console(), line) > before
	})
}

// waitExit waits for qemu to end (a reboot, with -no-reboot).
func (v *vm) waitExit(timeout time.Duration, what string) time.Duration {
	v.t.Helper()
	select {
	case <-v.done:
		return time.Since(v.started)
	case <-time.After(timeout):
		v.t.Fatalf("%s: the VM did not reboot within %s:\n%s", what, timeout, v.tail(30))
	}
	return 0
}

// waitRelaunched waits for the app's task to be a new one (the one from
// before the reboot is gone; the master may list it until the agent says
// so), keeps it running a while, and returns its ID.
func (v *vm) waitRelaunched(id, before string) string {
	v.t.Helper()
	v.waitFor(4*time.Minute, "app "+id+" relaunched after the reboot", func() bool {
		a, err := v.app(id)
		return err == nil && a.App.TasksRunning == 1 && len(a.App.Tasks) == 1 && a.App.Tasks[0].ID != before
	})
	v.waitStable(id, time.Minute, true)
	a, err := v.app(id)
	if err != nil || len(a.App.Tasks) != 1 {
		v.t.Fatalf("app %s: %v %+v", id, err, a)
	}
	return a.App.Tasks[0].ID
}

func (v *vm) nodectlVersion() string {
	var info struct {
		Version string `json:"nodectl_version"`
	}
	if err := getJSON(v.url("/version"), &info); err != nil {
		v.t.Fatalf("GET /version: %v", err)
	}
	return info.Version
}

// TestLifecycle installs the ISO to an empty disk and boots from it,
// upgrades to another build (A → B), then to a build that never comes up,
// which the boot loader abandons by itself. One disk throughout, five
// boots; the subtests are the steps (each needs the previous one).
func TestLifecycle(t *testing.T) {
	needQemu(t)
	b := buildV1(t, t.TempDir())
	b.buildUpdates()
	disk := qcow2(t, "3G")
	port := freePort(t)
	var (
		current *vm
		task    string // the checker's task before the last reboot
	)
	boot := func(name string) *vm {
		v := bootVM(t, name, vmOpts{diskBoot: true, disk: disk, apiPort: port, console: true})
		took := v.waitHealthy(bootBudget + time.Minute)
		t.Logf("%s: boot from the disk to /health: %s", name, took.Round(100*time.Millisecond))
		return v
	}

	ok := t.Run("Install", func(t *testing.T) {
		inst := bootVM(t, "install", vmOpts{kernel: b.vmlinuz, initrd: b.initrd, cdrom: b.iso, disk: disk, apiPort: port,
			append: "nodectl.install=/dev/vda"})
		took := inst.waitHealthy(bootBudget + 2*time.Minute)
		t.Logf("install boot (installs, then runs from the new data partition) to /health: %s", took.Round(100*time.Millisecond))
		con := inst.console()
		for _, want := range []string{"install done", "data disk mounted", "dev=/dev/vda3"} {
			if !strings.Contains(con, want) {
				t.Fatalf("install boot console lacks %q:\n%s", want, inst.tail(40))
			}
		}
		inst.isoPostApp(volumeApp("/writer", "echo hello-disk > /data/f && exec sleep 100000"))
		inst.waitRunning("writer", 2*time.Minute, false)
		inst.isoPostApp(volumeApp("/checker", "grep -q hello-disk /data/f && exec sleep 100000"))
		inst.waitStable("checker", 2*time.Minute, false)
		a, err := inst.app("checker")
		if err != nil {
			t.Fatal(err)
		}
		task = a.App.Tasks[0].ID
		inst.isoDelete("/v2/apps/writer")
		inst.powerdown(90 * time.Second)

		// No CD, no -kernel: the firmware boots the disk's GRUB, slot A.
		current = boot("disk-a")
		if con := current.console(); !strings.Contains(con, "nodectl.slot=A") || !strings.Contains(con, "running=A") {
			t.Fatalf("not booted from slot A:\n%s", current.tail(40))
		}
		task = current.waitRelaunched("checker", task)
	})
	if !ok {
		return
	}

	ok = t.Run("Upgrade", func(t *testing.T) {
		b.wait(t)
		files := serveFiles(t, filepath.Dir(b.v2Bundle))
		start := time.Now()
		current.typeLine(fmt.Sprintf("upgrade http://10.0.2.2:%d/nodectl-update.tar", files))
		current.waitExit(5*time.Minute, "upgrade to v2")
		if con := current.console(); !strings.Contains(con, "written to slot B") {
			t.Fatalf("upgrade did not write slot B:\n%s", current.tail(30))
		}
		current = boot("disk-b")
		t.Logf("upgrade: command to /health on the new slot: %s", time.Since(start).Round(100*time.Millisecond))
		if v := current.nodectlVersion(); v != v2Version {
			t.Fatalf("running version %q after the upgrade, want %q", v, v2Version)
		}
		current.waitFor(time.Minute, "the new slot marked good", func() bool {
			return strings.Contains(current.console(), "upgrade healthy")
		})
		if con := current.console(); !strings.Contains(con, "nodectl.slot=B") {
			t.Fatalf("not booted from slot B:\n%s", current.tail(40))
		}
		// The app and its volume's file came through.
		task = current.waitRelaunched("checker", task)
	})
	if !ok {
		return
	}

	t.Run("Rollback", func(t *testing.T) {
		b.wait(t)
		files := serveFiles(t, filepath.Dir(b.brokenBundle))
		start := time.Now()
		current.typeLine(fmt.Sprintf("upgrade http://10.0.2.2:%d/nodectl-update.tar", files))
		current.waitExit(5*time.Minute, "upgrade to the broken build")
		if con := current.console(); !strings.Contains(con, "written to slot A") {
			t.Fatalf("upgrade did not write slot A:\n%s", current.tail(30))
		}
		// The broken build's init exits: the kernel panics and reboots.
		broken := bootVM(t, "broken-a", vmOpts{diskBoot: true, disk: disk, apiPort: port})
		took := broken.waitExit(bootBudget+time.Minute, "the broken build's boot")
		if con := broken.console(); !strings.Contains(con, "nodectl.slot=A") || !strings.Contains(con, "Attempted to kill init") {
			t.Fatalf("the trial boot was not the broken build on slot A:\n%s", broken.tail(30))
		}
		t.Logf("broken trial boot to its reboot: %s", took.Round(100*time.Millisecond))
		// GRUB finds no tries left: back to slot B, which reports it.
		current = boot("back-b")
		t.Logf("rollback: upgrade command to /health on the old slot: %s", time.Since(start).Round(100*time.Millisecond))
		con := current.console()
		if !strings.Contains(con, "nodectl.slot=B") || !strings.Contains(con, "upgrade failed") || !strings.Contains(con, "failed_version="+brokenVersion) {
			t.Fatalf("not back on slot B with the failed upgrade reported:\n%s", current.tail(40))
		}
		if v := current.nodectlVersion(); v != v2Version {
			t.Fatalf("running version %q after the rollback, want %q", v, v2Version)
		}
		current.typeLine("status")
		current.waitFor(time.Minute, "upgrade --status on the console", func() bool {
			return strings.Contains(current.console(), `"result": "failed"`)
		})
		current.waitRelaunched("checker", task)
	})
}
