// Package ociconf turns a shimapi.Request into a libcontainer configuration
// and starts it. It is the one piece of code that both the nodectl-shim and
// the driver's in-process benchmark run, so the two measure the same work.
//
// It imports libcontainer's specconv, which needs cgo; nodectl itself must
// therefore never import this package (only the shim and tests do). It must
// not import any nodectl package other than shimapi.
//
// The configuration follows runc's default spec (`runc spec`): its
// capabilities, NoNewPrivileges, masked and read-only paths, /proc, /dev,
// /dev/pts, /dev/shm, /dev/mqueue, read-only /sys and the default device
// allow-list; plus pid, ipc, uts and mount namespaces (and cgroup on v2), host
// networking, and the seccomp profile the driver resolved (the shim is built
// with the `seccomp` tag and links libseccomp statically). Command tasks see
// the host minus its secrets and the agent's work dir (hidden.go).
package ociconf

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"nodectl/runtime/internal/container/internal/hostroot"
	"nodectl/runtime/internal/container/internal/shimapi"
)

// cfsPeriod is the CFS period in microseconds (Mesos uses 100ms too).
const cfsPeriod = 100_000

// hostFiles are bind-mounted read-only into image containers so that host
// networking resolves names like on the host (Mesos' network/cni isolator
// does the same for host-network containers).
var hostFiles = []string{"/etc/resolv.conf", "/etc/hosts", "/etc/hostname"}

// Config builds the libcontainer configuration for req.
func Config(req *shimapi.Request) (*configs.Config, error) {
	s := &req.Spec
	spec := specconv.Example()
	spec.Process.Terminal = false
	spec.Process.Args = s.Args
	spec.Process.Env = s.Env
	spec.Process.Cwd = s.Cwd
	spec.Process.User = specs.User{UID: s.UID, GID: s.GID, AdditionalGids: s.Groups}
	// Inherit the agent's rlimits rather than runc's NOFILE=1024, as Mesos does.
	spec.Process.Rlimits = nil
	// Don't let the container inherit a monitor's OOM score adjustment.
	zero := 0
	spec.Process.OOMScoreAdj = &zero
	spec.Hostname = s.Hostname

	// Host networking: drop the network namespace from runc's default set;
	// a task on a CNI network joins the namespace the agent prepared.
	spec.Linux.Namespaces = slices.DeleteFunc(spec.Linux.Namespaces, func(ns specs.LinuxNamespace) bool {
		return ns.Type == specs.NetworkNamespace
	})
	if s.NetNSPath != "" {
		spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: s.NetNSPath})
		// A task with a namespace of its own may listen on any port of it
		// (Marathon's documented container ports 80 and 443), as Docker
		// sets for containers with their own network namespace.
		if spec.Linux.Sysctl == nil {
			spec.Linux.Sysctl = map[string]string{}
		}
		spec.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"] = "0"
	}
	if s.IPCNamespacePath != "" {
		for i, ns := range spec.Linux.Namespaces {
			if ns.Type == specs.IPCNamespace {
				spec.Linux.Namespaces[i].Path = s.IPCNamespacePath
			}
		}
	}
	spec.Linux.CgroupsPath = req.CgroupPath
	spec.Linux.Resources = resources(s, spec.Linux.Resources)

	var mounts []specs.Mount
	if s.Rootfs == "" {
		// Command task: the host's root, read-only. libcontainer can
		// neither pivot_root into "/" itself nor mount onto the container's
		// "/", so the root is the driver's skeleton of the host's top level
		// (package hostroot), with each top-level directory rbound
		// read-only (recursively: host submounts too).
		if req.HostRootDir == "" || req.RunDir == "" {
			return nil, fmt.Errorf("command task: no host root skeleton or run directory")
		}
		var binds []specs.Mount
		if !req.HostRootView { // a view's binds come with its copy
			var err error
			if binds, err = hostRootBinds(req.HostRootDir); err != nil {
				return nil, err
			}
		}
		spec.Root = &specs.Root{Path: req.HostRootDir, Readonly: true}
		mounts = append(mounts, binds...)
		mounts = append(mounts, spec.Mounts...)
		mounts = append(mounts, specs.Mount{
			Destination: "/tmp", Type: "tmpfs", Source: "tmpfs",
			Options: []string{"nosuid", "nodev", "mode=1777"},
		})
		dests := []string{filepath.Clean(s.SandboxTarget)}
		for _, m := range s.Mounts {
			dests = append(dests, filepath.Clean(m.Destination))
		}
		hidden, err := hide(spec, req.HiddenPaths, dests, req.RunDir)
		if err != nil {
			return nil, err
		}
		if req.Slot != "" {
			if hidden, err = slotCover(spec, hidden, req.HiddenPaths, s.SandboxTarget, req.Slot); err != nil {
				return nil, err
			}
		}
		mounts = append(mounts, hidden...)
	} else {
		spec.Root = &specs.Root{Path: s.Rootfs}
		mounts = append(mounts, spec.Mounts...)
		for _, f := range hostFiles {
			if _, err := os.Stat(f); err == nil {
				mounts = append(mounts, specs.Mount{
					Destination: f, Source: f, Type: "bind",
					Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"},
				})
			}
		}
	}
	switch {
	case req.Slot == "":
		mounts = append(mounts, specs.Mount{
			Destination: s.SandboxTarget, Source: s.SandboxDir, Type: "bind",
			Options: []string{"rbind", "rw"},
		})
	case s.Rootfs != "":
		// A warm image container's sandbox comes through its slot, bound
		// at the sandbox's place: the task's sandbox, bound onto the slot
		// on the host, appears there over it.
		mounts = append(mounts, slotBind(s.SandboxTarget, req.Slot))
	}
	for _, m := range s.Mounts {
		opts := []string{"rbind", "rw"}
		if m.ReadOnly {
			opts = []string{"rbind", "ro", "rro"}
		}
		mounts = append(mounts, specs.Mount{Destination: m.Destination, Source: m.Source, Type: "bind", Options: opts})
	}
	spec.Mounts = mounts
	if hasProfile(req) {
		spec.Linux.Seccomp = new(specs.LinuxSeccomp)
		if err := json.Unmarshal(req.Seccomp, spec.Linux.Seccomp); err != nil {
			return nil, fmt.Errorf("seccomp profile: %w", err)
		}
	}

	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{
		CgroupName: s.ID,
		Spec:       spec,
	})
	if err != nil {
		return nil, fmt.Errorf("convert spec: %w", err)
	}
	return cfg, nil
}

// Resources are the cgroup limits of req's container, for a container made
// before its task (a warm one): the CFS quota apart, to apply once the
// task's process runs (as Start does). Devices are left as they are.
func Resources(req *shimapi.Request) (*cgroups.Resources, int64, error) {
	spec := &specs.Spec{Linux: &specs.Linux{CgroupsPath: req.CgroupPath, Resources: resources(&req.Spec, &specs.LinuxResources{})}}
	cg, err := specconv.CreateCgroupConfig(&specconv.CreateOpts{CgroupName: req.Spec.ID, Spec: spec}, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("container resources: %w", err)
	}
	r := cg.Resources
	r.SkipDevices = true
	quota := r.CpuQuota
	r.CpuQuota = 0
	return r, quota, nil
}

func resources(s *shimapi.Spec, r *specs.LinuxResources) *specs.LinuxResources {
	if s.CPUs > 0 {
		shares := uint64(s.CPUs * 1024)
		shares = max(shares, 2) // the kernel's minimum
		r.CPU = &specs.LinuxCPU{Shares: &shares}
		if s.CPUHardLimit {
			quota := int64(s.CPUs * cfsPeriod)
			quota = max(quota, 1000) // the kernel's minimum is 1ms
			period := uint64(cfsPeriod)
			r.CPU.Quota, r.CPU.Period = &quota, &period
		}
	}
	if s.MemBytes > 0 {
		limit, swap := s.MemBytes, s.MemBytes
		r.Memory = &specs.LinuxMemory{Limit: &limit}
		// memory+swap == memory: no swap. Only where swap accounting exists.
		if swapAccounting() {
			r.Memory.Swap = &swap
		}
	}
	if s.PidsLimit > 0 {
		limit := s.PidsLimit
		r.Pids = &specs.LinuxPids{Limit: &limit}
	}
	return r
}

func swapAccounting() bool {
	if cgroups.IsCgroup2UnifiedMode() {
		return true // libcontainer converts memsw semantics and checks memory.swap.max itself
	}
	_, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
	return err == nil
}

// hostRootBinds are the read-only binds of the host's top-level entries
// onto their mount points in the skeleton dir: directories recursively
// (host submounts too), except the ones the container has its own of;
// files singly. Symlinks are in the skeleton already.
func hostRootBinds(dir string) ([]specs.Mount, error) {
	entries, err := hostroot.Read(dir)
	if err != nil {
		return nil, err
	}
	var binds []specs.Mount
	for _, e := range entries {
		host := "/" + e.Name
		switch {
		case e.Kind == hostroot.Dir && !hostroot.Replaced[host]:
			binds = append(binds, specs.Mount{Destination: host, Source: host, Type: "bind",
				Options: []string{"rbind", "ro", "rro"}})
		case e.Kind == hostroot.File:
			binds = append(binds, specs.Mount{Destination: host, Source: host, Type: "bind",
				Options: []string{"bind", "ro"}})
		}
	}
	return binds, nil
}

// slotCover binds slot, read-only and a slave of it, over the hidden
// directory that holds sandbox: a mount made under slot on the host (the
// task's sandbox, once it arrives) then appears inside at the same place
// under that directory. It replaces the empty tmpfs hide lays there; under
// the container's own /tmp, where hide lays nothing (nothing of the host's
// /tmp is there), it goes over the deepest of hiddenPaths holding sandbox.
func slotCover(spec *specs.Spec, hidden []specs.Mount, hiddenPaths []string, sandbox, slot string) ([]specs.Mount, error) {
	bind := func(dir string) specs.Mount { return slotBind(dir, slot) }
	for i, m := range hidden {
		if m.Type != "tmpfs" || !under(sandbox, m.Destination) || sandbox == m.Destination {
			continue
		}
		hidden[i] = bind(m.Destination)
		spec.Linux.ReadonlyPaths = slices.DeleteFunc(spec.Linux.ReadonlyPaths, func(p string) bool { return p == m.Destination })
		return hidden, nil
	}
	cover := ""
	for _, p := range hiddenPaths {
		p = filepath.Clean(p)
		if strings.HasPrefix(p, "/tmp/") && under(sandbox, p) && sandbox != p && len(p) > len(cover) {
			cover = p
		}
	}
	if cover == "" {
		return nil, fmt.Errorf("warm container: no hidden directory holds the sandbox %s", sandbox)
	}
	return append(hidden, bind(cover)), nil
}

// slotBind binds a warm container's slot at dir: read-only and a slave of
// it, so that what is mounted under it (or onto it) on the host appears
// inside, and nothing goes the other way.
func slotBind(dir, slot string) specs.Mount {
	return specs.Mount{Destination: dir, Source: slot, Type: "bind",
		Options: []string{"bind", "ro", "nosuid", "nodev", "noexec", "slave"}}
}

// WarmCover is the hidden directory that holds the sandbox of the warm
// container req, where its slot is bound.
func WarmCover(req *shimapi.Request) (string, error) {
	spec := specconv.Example()
	hidden, err := hide(spec, req.HiddenPaths, []string{filepath.Clean(req.Spec.SandboxTarget)}, req.RunDir)
	if err != nil {
		return "", err
	}
	hidden, err = slotCover(spec, hidden, req.HiddenPaths, req.Spec.SandboxTarget, req.Slot)
	if err != nil {
		return "", err
	}
	for _, m := range hidden {
		if m.Source == req.Slot {
			return m.Destination, nil
		}
	}
	return "", fmt.Errorf("warm container: no slot")
}

// Started is a container whose init process has been started. With
// Spec.WaitBeforeExec the init waits, created, for Exec (runc's create and
// start).
type Started struct {
	Container *libcontainer.Container
	Process   *libcontainer.Process
	InitPid   int
	// quota is the CFS quota Exec applies once the task's process runs;
	// cfg the configuration it is applied to.
	quota int64
	cfg   *configs.Config
	// report is the seccomp helper's report pipe (precompiled.go), read
	// once the init has run it; nil when libcontainer loads the filter.
	report *os.File
}

// Start creates the container described by req and starts its init process
// with the sandbox's stdout and stderr files (O_APPEND, so they keep growing
// whoever else writes or rotates them). On error nothing is left behind.
func Start(req *shimapi.Request) (_ *Started, err error) {
	return StartWith(req, nil)
}

// StartWith is Start, passing extra as the process's fds 3, 4, ... A warm
// container's (req.Slot set) output goes nowhere until its task's.
func StartWith(req *shimapi.Request, extra []*os.File) (_ *Started, err error) {
	cfg, err := Config(req)
	if err != nil {
		return nil, err
	}
	var stdout, stderr *os.File
	if req.Slot == "" {
		if stdout, err = openLog(filepath.Join(req.Spec.SandboxDir, shimapi.StdoutFile)); err != nil {
			return nil, err
		}
		defer stdout.Close()
		if stderr, err = openLog(filepath.Join(req.Spec.SandboxDir, shimapi.StderrFile)); err != nil {
			return nil, err
		}
		defer stderr.Close()
	}

	// The CFS quota is applied only once the task's process runs: the
	// container's init is a Go program whose few milliseconds of start-up
	// would otherwise take hundreds under a small quota (cpus:0.01 is 1ms
	// of CPU per 100ms).
	var quota int64
	if cfg.Cgroups != nil && cfg.Cgroups.Resources != nil {
		quota = cfg.Cgroups.Resources.CpuQuota
		cfg.Cgroups.Resources.CpuQuota = 0
	}
	args := req.Spec.Args
	var report *os.File
	if req.Slot == "" && len(extra) == 0 && precompilable(req, cfg) {
		// A warm container (Slot) keeps libcontainer's own filter: its
		// stub, not a task, is its process, and it is made ahead anyway.
		prog, perr := loadProgram(req, cfg.Seccomp)
		if perr != nil {
			fmt.Fprintf(os.Stderr, "nodectl-shim: %v; libcontainer compiles it in the init\n", perr)
		} else {
			if args, extra, report, err = helperProcess(req, prog, args); err != nil {
				return nil, err
			}
			cfg.Seccomp = nil
			defer func() {
				if err != nil {
					for _, f := range extra {
						f.Close()
					}
					report.Close()
				}
			}()
		}
	}
	c, err := libcontainer.Create(req.StateRoot, req.Spec.ID, cfg)
	if err != nil {
		return nil, fmt.Errorf("create container: %w", err)
	}
	defer func() {
		if err != nil {
			_ = c.Destroy()
		}
	}()
	p := &libcontainer.Process{
		Args:             args,
		Env:              req.Spec.Env,
		Cwd:              req.Spec.Cwd,
		UID:              int(req.Spec.UID),
		GID:              int(req.Spec.GID),
		AdditionalGroups: additionalGroups(req.Spec.Groups),
		Init:             true,
		ExtraFiles:       extra,
	}
	if stdout != nil { // a nil *os.File in the interface would not mean /dev/null
		p.Stdout, p.Stderr = stdout, stderr
	}
	// Create: the init sets the container up and waits on libcontainer's
	// exec fifo.
	err = c.Start(p)
	if report != nil {
		// The init has its own copies now: the report pipe ends once
		// the helper executes the task (or says why not).
		for _, f := range extra {
			f.Close()
		}
		extra = nil
	}
	if err != nil {
		return nil, fmt.Errorf("start container: %w", err)
	}
	pid, err := p.Pid()
	if err != nil {
		return nil, fmt.Errorf("start container: %w", err)
	}
	st := &Started{Container: c, Process: p, InitPid: pid, quota: quota, cfg: cfg, report: report}
	if req.Spec.WaitBeforeExec {
		return st, nil // the caller calls Exec
	}
	if err := st.Exec(); err != nil {
		return nil, err
	}
	return st, nil
}

// Resources are the container's cgroup resources, device rules included.
func (st *Started) Resources() *cgroups.Resources { return st.cfg.Cgroups.Resources }

// Exec lets a created container's init run the task's process (runc
// start) and applies the CPU quota. On error the caller destroys the
// container.
func (st *Started) Exec() error {
	if err := st.Container.Exec(); err != nil {
		return fmt.Errorf("start container: %w", err)
	}
	if st.report != nil {
		err := awaitHelper(st.report)
		st.report = nil
		if err != nil {
			return fmt.Errorf("start container: %w", err)
		}
	}
	if st.quota != 0 {
		st.cfg.Cgroups.Resources.CpuQuota = st.quota
		// A task that already ended (a quick command) has nothing left to
		// limit; its exit is reported as usual.
		if err := st.Container.Set(*st.cfg); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
			return fmt.Errorf("limit container cpu: %w", err)
		}
	}
	return nil
}

func additionalGroups(gids []uint32) []int {
	var out []int
	for _, g := range gids {
		out = append(out, int(g))
	}
	return out
}

// OpenLog opens a sandbox output file for appending.
func OpenLog(path string) (*os.File, error) { return openLog(path) }

func openLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open sandbox log: %w", err)
	}
	return f, nil
}
