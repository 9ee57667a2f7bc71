package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"nodectl/cluster/api"
)

func writeUserFiles(t *testing.T, passwd, group string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"passwd": passwd, "group": group} {
		if err := os.WriteFile(filepath.Join(root, "etc", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestResolveTaskUserImage(t *testing.T) {
	root := writeUserFiles(t,
		"root:x:0:0:root:/root:/bin/sh\n# comment\napp:x:1000:1000:app:/home/app:/bin/sh\nweb:x:1001:1001::/srv:/bin/sh\n",
		"root:x:0:\napp:x:1000:\nweb:x:1001:\nextra:x:2000:app,web\nother:x:2001:web\n")
	cmd := func(user string) api.TaskInfo { return api.TaskInfo{Command: &api.CommandInfo{User: user}} }
	for _, tc := range []struct {
		name, taskUser, fwUser, imageUser string
		want                              taskUser
		wantErr                           bool
	}{
		{name: "image USER name", imageUser: "app", want: taskUser{Name: "app", UID: 1000, GID: 1000, Groups: []uint32{2000}, Home: "/home/app"}},
		{name: "image USER uid", imageUser: "1001", want: taskUser{Name: "web", UID: 1001, GID: 1001, Groups: []uint32{2000, 2001}, Home: "/srv"}},
		{name: "image USER uid:gid unknown", imageUser: "4242:4343", want: taskUser{Name: "4242", UID: 4242, GID: 4343, Home: "/"}},
		{name: "image USER name:group", imageUser: "app:other", want: taskUser{Name: "app", UID: 1000, GID: 2001, Home: "/home/app"}},
		{name: "image USER missing group", imageUser: "app:nogroup", wantErr: true},
		{name: "image USER missing name", imageUser: "ghost", wantErr: true},
		{name: "no USER is root", want: taskUser{Name: "root", Home: "/root"}},
		{name: "task user wins", taskUser: "web", imageUser: "app", want: taskUser{Name: "web", UID: 1001, GID: 1001, Groups: []uint32{2000, 2001}, Home: "/srv"}},
		{name: "framework user", fwUser: "app", want: taskUser{Name: "app", UID: 1000, GID: 1000, Groups: []uint32{2000}, Home: "/home/app"}},
		{name: "image USER beats framework user", fwUser: "app", imageUser: "web", want: taskUser{Name: "web", UID: 1001, GID: 1001, Groups: []uint32{2000, 2001}, Home: "/srv"}},
		{name: "image USER root gives way to framework user", fwUser: "app", imageUser: "root", want: taskUser{Name: "app", UID: 1000, GID: 1000, Groups: []uint32{2000}, Home: "/home/app"}},
		{name: "image USER root with framework root", fwUser: "root", imageUser: "0", want: taskUser{Name: "root", Home: "/root"}},
		{name: "task user missing", taskUser: "ghost", wantErr: true},
		{name: "task user numeric is not a uid", taskUser: "0", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveTaskUser(cmd(tc.taskUser), api.FrameworkInfo{User: tc.fwUser}, true, root, tc.imageUser)
			if tc.wantErr {
				if !errors.Is(err, errNoUser) {
					t.Fatalf("got %+v, %v; want errNoUser", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tc.want.Name || got.UID != tc.want.UID || got.GID != tc.want.GID || got.Home != tc.want.Home || !slices.Equal(got.Groups, tc.want.Groups) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestResolveTaskUserHost(t *testing.T) {
	u, err := resolveTaskUser(api.TaskInfo{}, api.FrameworkInfo{User: "nobody"}, true, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "nobody" || u.UID == 0 {
		t.Fatalf("nobody resolved to %+v", u)
	}
	if _, err := resolveTaskUser(api.TaskInfo{}, api.FrameworkInfo{User: "no-such-user-x"}, true, "", ""); !errors.Is(err, errNoUser) {
		t.Fatalf("missing user: %v", err)
	}
	// --switch_user=false: the agent's own user, whatever the task names.
	u, err = resolveTaskUser(api.TaskInfo{}, api.FrameworkInfo{User: "no-such-user-x"}, false, "", "")
	if err != nil || u.UID != uint32(os.Getuid()) {
		t.Fatalf("switch off: %+v, %v", u, err)
	}
}

func TestImageTaskUserFromHost(t *testing.T) {
	root := t.TempDir() // an image without /etc/passwd
	u, err := resolveTaskUser(api.TaskInfo{}, api.FrameworkInfo{User: "nobody"}, true, root, "")
	if err != nil || u.Name != "nobody" || u.UID == 0 {
		t.Fatalf("nobody in an image without passwd: %+v, %v", u, err)
	}
	if u, err := resolveTaskUser(api.TaskInfo{}, api.FrameworkInfo{}, true, root, ""); err != nil || u.UID != 0 {
		t.Fatalf("no user at all: %+v, %v", u, err)
	}
}

func TestImageUserFileSymlinkNotFollowedOut(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "etc", "passwd")); err != nil {
		t.Fatal(err)
	}
	if _, err := lookupUser(root, "nobody", true); err == nil {
		t.Fatal("an image's /etc/passwd symlink to the host's was followed")
	}
}

func TestTaskLimitsMinimums(t *testing.T) {
	rs, err := api.ParseResources("cpus:0;mem:0")
	if err != nil {
		t.Fatal(err)
	}
	if c, m := taskLimits(rs); c != api.MinCPUs || m != api.MinMemMB<<20 {
		t.Fatalf("limits %v %v", c, m)
	}
	rs, _ = api.ParseResources("cpus:0.5;mem:128")
	if c, m := taskLimits(rs); c != 0.5 || m != 128<<20 {
		t.Fatalf("limits %v %v", c, m)
	}
}
