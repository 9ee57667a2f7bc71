package runtime

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"nodectl/cluster/api"
	"nodectl/runtime/internal/container/containertest"
)

func TestParseAllowedHostPaths(t *testing.T) {
	got, err := ParseAllowedHostPaths(" /data/shared:rw, /srv/ro/ ,/x:ro,")
	if err != nil {
		t.Fatal(err)
	}
	want := []HostPathRule{{"/data/shared", true}, {"/srv/ro", false}, {"/x", false}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if got, err := ParseAllowedHostPaths(""); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v %v", got, err)
	}
	for _, bad := range []string{"data", "/data:rwx", "relative:rw"} {
		if _, err := ParseAllowedHostPaths(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// hostPathLaunch is a command task with hostPath volumes (host path,
// container path, mode).
func hostPathLaunch(id, cmd string, vols ...[3]string) *api.AgentMessage {
	m := launchMessage(id, cmd, "")
	m.Launch.Task.Container = &api.ContainerInfo{Type: "MESOS"}
	for _, v := range vols {
		m.Launch.Task.Container.Volumes = append(m.Launch.Task.Container.Volumes, api.Volume{HostPath: v[0], ContainerPath: v[1], Mode: v[2]})
	}
	return m
}

func awaitTerminal(t *testing.T, a *Agent, id string) api.TaskStatus {
	t.Helper()
	var last api.TaskStatus
	containertest.Eventually(t, time.Minute, func() bool {
		sts := taskStatuses(a, id)
		if len(sts) == 0 {
			return false
		}
		last = sts[len(sts)-1]
		return last.State.Terminal()
	}, "task %s did not end: %+v", id, taskStatuses(a, id))
	return last
}

// TestHostPathVolumes: hostPath volumes mount only under
// --allowed-host-paths, read-only unless the entry says rw, and never the
// work dir (or what contains it or lies in it), even when listed; a
// refused volume ends the task TASK_ERROR naming the path and the flag.
func TestHostPathVolumes(t *testing.T) {
	a, ctx := killTestAgent(t)
	// Not beside the work dir (a t.TempDir): its parent is listed below.
	base, err := os.MkdirTemp("", "nodectl-hostpaths-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	ro, rw, other := filepath.Join(base, "ro"), filepath.Join(base, "rw"), filepath.Join(base, "other")
	for _, d := range []string{ro, rw, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(ro, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, filepath.Join(rw, "link")); err != nil {
		t.Fatal(err)
	}
	wd, _ := filepath.EvalSymlinks(a.cfg.WorkDir)
	// ro is listed without :rw; the work dir's parent (which contains it) is
	// listed rw, to show the work dir stays out anyway.
	a.cfg.AllowedHostPaths = []HostPathRule{{Path: ro}, {Path: rw, RW: true}, {Path: filepath.Dir(wd), RW: true}}

	for _, tc := range []struct {
		name, host, want string
	}{
		{"outside the list", other, "not under the agent's --allowed-host-paths"},
		{"symlink out of an allowed dir", filepath.Join(rw, "link"), "not under the agent's --allowed-host-paths"},
		{"the work dir", wd, "work dir"},
		{"inside the work dir", filepath.Join(wd, "slaves"), "work dir"},
		{"containing the work dir", filepath.Dir(wd), "work dir"},
		{"relative", "data", "is relative but is not the containerPath of one of the task's persistent volumes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_ = os.MkdirAll(filepath.Join(wd, "slaves"), 0o755)
			id := "refused-" + sanitizeName(tc.name)
			a.dispatch(ctx, hostPathLaunch(id, "exit 0", [3]string{tc.host, "/tmp/v", "RO"}))
			st := awaitTerminal(t, a, id)
			if st.State != api.TaskError || st.Reason != api.ReasonTaskInvalid || !strings.Contains(st.Message, tc.want) || !strings.Contains(st.Message, tc.host) {
				t.Fatalf("got %s/%s %q; want TASK_ERROR/%s naming %s and %q", st.State, st.Reason, st.Message, api.ReasonTaskInvalid, tc.host, tc.want)
			}
		})
	}

	t.Run("mounted as listed", func(t *testing.T) {
		// Inside the task: the ro entry is read-only although the volume
		// asks RW; the rw entry is writable.
		script := "cat /tmp/ro/f >/dev/null || exit 11; " +
			"if touch /tmp/ro/new 2>/dev/null; then exit 12; fi; " +
			"echo written > /tmp/rw/out || exit 13"
		a.dispatch(ctx, hostPathLaunch("mounted", script, [3]string{ro, "/tmp/ro", "RW"}, [3]string{rw, "/tmp/rw", "RW"}))
		st := awaitTerminal(t, a, "mounted")
		if st.State != api.TaskFinished {
			code := -1
			if st.ExitCode != nil {
				code = *st.ExitCode
			}
			t.Fatalf("task ended %s (exit %d, %q); want TASK_FINISHED (11: ro unreadable, 12: ro writable, 13: rw not writable)", st.State, code, st.Message)
		}
		if b, err := os.ReadFile(filepath.Join(rw, "out")); err != nil || string(b) != "written\n" {
			t.Fatalf("rw volume: %q %v", b, err)
		}
		if _, err := os.Stat(filepath.Join(ro, "new")); err == nil {
			t.Fatal("the task wrote into the read-only volume")
		}
	})
}
