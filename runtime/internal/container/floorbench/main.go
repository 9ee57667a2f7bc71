//go:build nodectlbench

// Command floorbench is the in-process libcontainer floor of the benchmark
// table (make bench): it does what the shim does at a task start
// (ociconf.Start: config, libcontainer create and start) in its own
// process, with no shim exec, no monitor and no agent, on command, so the
// harness in node/e2e can interleave it with nodectl's own task starts and
// Debian's `runc run -d` in one run. It is the logic of
// BenchmarkBareLibcontainer as a long-lived process.
//
// It builds only with -tags nodectlbench: it is a measuring tool, not part
// of nodectl, and it keeps the runc imports inside runtime/.
//
// Protocol, one line each way on stdin and stdout:
//
//	start ID  ->  "ok MICROSECONDS" (create+start of busybox `sleep 3600`) or "error MESSAGE"
//	quit      ->  every container started is killed and destroyed, then exit
//
// Usage: floorbench -rootfs DIR -root DIR -cgroup-parent /PATH
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter" // runs the container's init when re-executed
	"golang.org/x/sys/unix"

	"nodectl/runtime/internal/container"
	"nodectl/runtime/internal/container/internal/ociconf"
	"nodectl/runtime/internal/container/internal/shimapi"
)

func init() {
	// libcontainer re-executes this binary as the container's init.
	if len(os.Args) > 1 && os.Args[1] == "init" {
		libcontainer.Init()
	}
}

func main() {
	rootfs := flag.String("rootfs", "", "busybox root filesystem (read-only by convention)")
	root := flag.String("root", "", "directory for libcontainer state and sandboxes")
	cgroupParent := flag.String("cgroup-parent", "/nodectl-floorbench", "cgroup parent of the containers")
	flag.Parse()
	if *rootfs == "" || *root == "" {
		fmt.Fprintln(os.Stderr, "usage: floorbench -rootfs DIR -root DIR [-cgroup-parent /PATH]")
		os.Exit(2)
	}
	var started []*ociconf.Started
	defer func() {
		for _, st := range started {
			_ = st.Container.Signal(unix.SIGKILL)
			_, _ = st.Process.Wait()
			_ = st.Container.Destroy()
		}
	}()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, id, _ := strings.Cut(strings.TrimSpace(in.Text()), " ")
		switch cmd {
		case "quit":
			return
		case "start":
			st, took, err := start(*rootfs, *root, *cgroupParent, id)
			if err != nil {
				fmt.Printf("error %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
				continue
			}
			started = append(started, st)
			fmt.Printf("ok %d\n", took.Microseconds())
		default:
			fmt.Printf("error unknown command %q\n", cmd)
		}
	}
}

// start times ociconf.Start of busybox `sleep 3600` in a fresh sandbox,
// as BenchmarkBareLibcontainer does.
func start(rootfs, root, cgroupParent, id string) (*ociconf.Started, time.Duration, error) {
	if id == "" || strings.ContainsAny(id, "/ ") {
		return nil, 0, fmt.Errorf("bad id %q", id)
	}
	sandbox := filepath.Join(root, "sandboxes", id)
	if err := os.MkdirAll(sandbox, 0o755); err != nil {
		return nil, 0, fmt.Errorf("sandbox: %w", err)
	}
	req := &shimapi.Request{
		Spec: container.Spec{
			ID: id, Rootfs: rootfs, SandboxDir: sandbox, SandboxTarget: container.DefaultSandboxTarget,
			Cwd: container.DefaultSandboxTarget, Args: []string{"sleep", "3600"},
			Env: []string{"PATH=/bin"},
		},
		StateRoot:  filepath.Join(root, "state"),
		CgroupPath: cgroupParent + "/" + id,
	}
	t0 := time.Now()
	st, err := ociconf.Start(req)
	return st, time.Since(t0), err
}
