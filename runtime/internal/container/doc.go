// Package container is nodectl's container driver: it creates, starts,
// signals, waits for, loads, lists, measures and destroys containers with
// runc's libcontainer, on cgroup v1 (hybrid) hosts and, by design, cgroup v2.
//
// Besides runtime/ itself, this is the only nodectl package that may import
// runc, and it imports only its cgo-free parts: nodectl stays CGO_ENABLED=0
// and is never re-executed as a container init (TestDependencies guards
// this). It must not import other nodectl packages (storage, cluster, ...):
// callers above it own checkpoints and policy.
//
// # Design
//
// Every container has its own monitor process, so containers outlive the
// agent:
//
//	agent ──fork+exec, setsid──▶ nodectl-shim (cgo, static, links libcontainer)
//	                               │ subreaper; libcontainer Create+Run: init is its child,
//	                               │ which executes nodectl-seccomp (C): it loads the
//	                               │ precompiled seccomp filter and executes the task
//	        ◀──reply on fd 3────── │ monitor.json (pid, start time, boot id)
//	                               └─execve▶ nodectl-monitor (C, static musl, same pid)
//	                                           wait4(init) → exit.json (tmp+fsync+rename)
//
// A restarted agent finds a container with Driver.Load. It verifies the
// recorded monitor by its pid, start time and boot id, and then waits on a
// pidfd: the agent is no longer the monitor's parent. If the exit was
// recorded while no agent ran, Load sees that too. If the monitor is gone and
// left no record, the container is Lost (ErrLost).
//
// Container.Exec runs one more process in a running container (a COMMAND
// health check) through `nodectl-shim exec`, the way `runc exec` does: the
// container's namespaces, cgroup, user, capabilities, no_new_privs and
// seccomp filter; see docs/runtime.md.
//
// Why the shim execs a separate monitor (measured on the 2-core dev box; see
// docs/runtime.md for the method and alternatives):
//
//   - libcontainer create+start in-process takes 13-20 ms (p50). Driver.Start
//     adds 6-10 ms on the loaded 2-core box (ratio 1.3-1.6). Almost all of
//     that is the exec and Go init of the 6 MB static shim (≈2.5 ms), plus
//     waiting for a CPU.
//   - A monitor's PSS is 1.84 MiB. Had the shim itself stayed as the
//     monitor, it would be 7.3 MiB, or 4.6 MiB even after FreeOSMemory and
//     MADV_DONTNEED of its text, because page-cache large folios map back in
//     whole. The budget is 3 MiB.
//
// Seccomp is not enabled: libcontainer needs the seccomp build tag, cgo and
// libseccomp for it. The cgroup v1 device allow-list is written by
// internal/ociconf, because runc's devices package needs cilium/ebpf, which
// go.mod lacks. On cgroup v2 there is no device allow-list yet.
//
// The shim and the monitor are embedded in nodectl (shimbin/, filled by
// `make build`) and written to disk by InstallShim.
package container
