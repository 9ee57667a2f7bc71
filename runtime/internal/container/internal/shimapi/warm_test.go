package shimapi

import (
	"encoding/json"
	"testing"
)

func TestWarmCompatible(t *testing.T) {
	task := func() *Request {
		return &Request{
			Spec:        Spec{ID: "t", SandboxDir: "/w/s/1", SandboxTarget: "/w/s/1", Args: []string{"sleep", "1"}, UID: 65534, GID: 65534, MemBytes: 32 << 20},
			HostRootDir: "/r/hostroot/abc", Seccomp: json.RawMessage(`{"defaultAction":"SCMP_ACT_ERRNO"}`),
			StateRoot: "/r/runc", CgroupPath: "/nodectl/t", HiddenPaths: []string{"/r", "/w"},
		}
	}
	warm := task()
	warm.Spec.ID, warm.CgroupPath, warm.Slot = "warm-x", "/nodectl/warm-x", "/r/warm/warm-x/slot"
	if err := WarmCompatible(warm, task()); err != nil {
		t.Fatalf("a task like the model: %v", err)
	}
	other := task()
	other.Spec.Args, other.Spec.Env, other.Spec.Cwd, other.Spec.CPUs, other.Spec.MemBytes = []string{"x"}, []string{"A=1"}, "/", 2, 1<<30
	if err := WarmCompatible(warm, other); err != nil {
		t.Errorf("arguments, environment, cwd and resources come later: %v", err)
	}
	for name, change := range map[string]func(r *Request){
		"image task":        func(r *Request) { r.Spec.Rootfs = "/img" },
		"another root":      func(r *Request) { r.HostRootDir = "/r/hostroot/def" },
		"a volume":          func(r *Request) { r.Spec.Mounts = []Mount{{Source: "/v", Destination: "/tmp/v"}} },
		"a gate":            func(r *Request) { r.Spec.WaitBeforeExec = true },
		"a network":         func(r *Request) { r.Spec.NetNSPath = "/run/netns/x" },
		"an IPC namespace":  func(r *Request) { r.Spec.IPCNamespacePath = "/proc/1/ns/ipc" },
		"sandbox elsewhere": func(r *Request) { r.Spec.SandboxTarget = "/mnt/mesos/sandbox" },
		"another user":      func(r *Request) { r.Spec.UID = 0 },
		"another group":     func(r *Request) { r.Spec.Groups = []uint32{4} },
		"a hostname":        func(r *Request) { r.Spec.Hostname = "h" },
		"another profile":   func(r *Request) { r.Seccomp = json.RawMessage(`null`) },
		"other hidden":      func(r *Request) { r.HiddenPaths = []string{"/r"} },
		"another parent":    func(r *Request) { r.CgroupPath = "/other/t" },
	} {
		r := task()
		change(r)
		if WarmCompatible(warm, r) == nil {
			t.Errorf("%s: fits the warm container", name)
		}
	}
	if WarmCompatible(task(), task()) == nil {
		t.Error("a request without a slot is no warm container")
	}
}

// TestWarmCompatibleImage: an image task fits the warm container whose
// root it claimed (Spec.Warm) of the same image, with its sandbox at the
// slot; what fixes a container must be the same, as for command tasks.
func TestWarmCompatibleImage(t *testing.T) {
	task := func() *Request {
		return &Request{
			Spec: Spec{ID: "t", Rootfs: "/w/provisioner/containers/t/rootfs", Image: "sha256:aa", Warm: "warm-x",
				SandboxDir: "/w/s/1", SandboxTarget: "/mnt/mesos/sandbox", Args: []string{"sleep", "1"}},
			Seccomp: json.RawMessage(`{"defaultAction":"SCMP_ACT_ERRNO"}`), StateRoot: "/r/runc", CgroupPath: "/nodectl/t",
		}
	}
	warm := task()
	warm.Spec.ID, warm.Spec.Warm, warm.Spec.Rootfs = "warm-x", "", "/w/provisioner/containers/warm-x/rootfs"
	warm.CgroupPath, warm.Slot = "/nodectl/warm-x", "/r/warm/warm-x/slot"
	if err := WarmCompatible(warm, task()); err != nil {
		t.Fatalf("the task that claimed its root: %v", err)
	}
	for name, change := range map[string]func(r *Request){
		"not claimed":       func(r *Request) { r.Spec.Warm = "" },
		"another's root":    func(r *Request) { r.Spec.Warm = "warm-y" },
		"another image":     func(r *Request) { r.Spec.Image = "sha256:bb" },
		"a command task":    func(r *Request) { r.Spec.Rootfs, r.HostRootDir = "", "/r/hostroot/abc" },
		"sandbox elsewhere": func(r *Request) { r.Spec.SandboxTarget = "/sandbox" },
		"a volume":          func(r *Request) { r.Spec.Mounts = []Mount{{Source: "/v", Destination: "/v"}} },
		"another user":      func(r *Request) { r.Spec.UID = 65534 },
		"another profile":   func(r *Request) { r.Seccomp = nil },
	} {
		r := task()
		change(r)
		if WarmCompatible(warm, r) == nil {
			t.Errorf("%s: fits the warm container", name)
		}
	}
	cmd := task()
	cmd.Spec.Rootfs, cmd.Spec.Image, cmd.Spec.Warm, cmd.HostRootDir = "", "", "", "/r/hostroot/abc"
	cmd.Slot = "/r/warm/warm-z/slot"
	if WarmCompatible(cmd, task()) == nil {
		t.Error("an image task fits a command task's warm container")
	}
}
