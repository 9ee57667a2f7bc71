package runtime

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"nodectl/cluster/api"
)

// Task users (issue 15 point 1), as Mesos' --switch_user
// (https://mesos.apache.org/documentation/latest/configuration/agent/):
// a task runs as CommandInfo.user, else as FrameworkInfo.user (see
// resolveTaskUser for image tasks and their USER). Users are read from
// /etc/passwd and /etc/group (the host's, or an image's). With
// switch-user off, command tasks run as the agent's user (root) and image
// tasks as their image's USER. The sandbox (and its stdout and
// stderr) belongs to the task's user, and so does a persistent volume the
// first time a task uses it.

// taskUser is who a task's processes run as.
type taskUser struct {
	Name     string
	UID, GID uint32
	Groups   []uint32 // supplementary groups, without GID
	Home     string
}

// errNoUser is wrapped by lookups of a user or group that does not exist.
var errNoUser = errors.New("no such user")

// resolveTaskUser decides who a task runs as. rootfs is the image's root
// filesystem ("" for a command task) and imageUser the image's USER.
//
// A command task runs as CommandInfo.user, else FrameworkInfo.user, looked
// up on the host. An image task runs as CommandInfo.user, else its
// image's USER, else FrameworkInfo.user; a named user is looked up in the
// image's /etc/passwd and, when the image lacks it, on the host (Mesos
// resolves users on the agent). An image cannot grant root: a USER that is
// uid 0 gives way to the framework's user. With switchUser off only the
// image's USER counts.
func resolveTaskUser(ti api.TaskInfo, fw api.FrameworkInfo, switchUser bool, rootfs, imageUser string) (taskUser, error) {
	var taskName, fwName string
	if switchUser {
		if c := ti.Command; c != nil {
			taskName = c.User
		}
		fwName = fw.User
	}
	if rootfs == "" {
		name := cmp.Or(taskName, fwName)
		if name == "" {
			return agentUser(), nil
		}
		u, err := lookupUser("/", name, false)
		if err != nil {
			return taskUser{}, fmt.Errorf("user %q of the task does not exist on this agent: %w", name, err)
		}
		return u, nil
	}
	named := func(name string) (taskUser, error) {
		u, err := lookupUser(rootfs, name, false)
		if errors.Is(err, errNoUser) {
			u, err = lookupUser("/", name, false)
		}
		if err != nil {
			return taskUser{}, fmt.Errorf("user %q of the task exists neither in its image nor on this agent: %w", name, err)
		}
		return u, nil
	}
	if taskName != "" {
		return named(taskName)
	}
	var img *taskUser
	if imageUser != "" {
		u, err := lookupUser(rootfs, imageUser, true)
		if err != nil {
			return taskUser{}, fmt.Errorf("the image's USER %q cannot be used: %w", imageUser, err)
		}
		if u.UID != 0 || fwName == "" || fwName == "root" {
			return u, nil
		}
		img = &u
	}
	if fwName != "" {
		return named(fwName)
	}
	if img != nil {
		return *img, nil
	}
	u, err := lookupUser(rootfs, "0", true)
	if err != nil {
		// An image without /etc/passwd runs as root, as in Docker.
		return taskUser{Name: "root", Home: "/root"}, nil
	}
	return u, nil
}

// agentUser is the agent's own user, as which tasks run with switch-user
// off.
func agentUser() taskUser {
	u := taskUser{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
	if pw, err := findPasswd("/", strconv.Itoa(os.Getuid()), true); err == nil {
		u.Name, u.Home = pw.name, pw.home
	}
	if u.Name == "" {
		u.Name = strconv.Itoa(os.Getuid())
	}
	if u.Home == "" {
		u.Home = "/"
	}
	return u
}

// lookupUser resolves a user against root's /etc/passwd and /etc/group.
// A task names a user by name only. With image, spec is an image's USER:
// "name", "uid", "name:group" or "uid:gid", and a uid that /etc/passwd
// lacks is still used (with gid 0 unless given), as Docker does.
func lookupUser(root, spec string, image bool) (taskUser, error) {
	userPart, groupPart, hasGroup := spec, "", false
	if image {
		userPart, groupPart, hasGroup = strings.Cut(spec, ":")
	}
	if userPart == "" || (hasGroup && groupPart == "") {
		return taskUser{}, fmt.Errorf("%w: %q is not a user", errNoUser, spec)
	}
	var u taskUser
	pw, err := findPasswd(root, userPart, image)
	switch {
	case err == nil:
		u = taskUser{Name: pw.name, UID: pw.uid, GID: pw.gid, Home: pw.home}
	case errors.Is(err, errNoUser) && image && isNumber(userPart):
		uid, _ := strconv.ParseUint(userPart, 10, 32)
		u = taskUser{Name: userPart, UID: uint32(uid), Home: "/"}
	default:
		return taskUser{}, err
	}
	if u.Home == "" {
		u.Home = "/"
	}
	if hasGroup {
		gid, err := findGroupID(root, groupPart)
		if err != nil {
			return taskUser{}, err
		}
		u.GID = gid
		return u, nil // an explicit group replaces the supplementary ones, as in Docker
	}
	groups, err := supplementaryGroups(root, u.Name, u.GID)
	if err != nil {
		return taskUser{}, err
	}
	u.Groups = groups
	return u, nil
}

func isNumber(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

// findPasswd finds a user by name (or, with byUID, by uid when no user
// has that name) in root's /etc/passwd.
func findPasswd(root, key string, byUIDToo bool) (passwdEntry, error) {
	var byUID *passwdEntry
	var found *passwdEntry
	err := scanColonFile(filepath.Join(root, "etc", "passwd"), func(f []string) bool {
		if len(f) < 7 {
			return true
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			return true
		}
		e := passwdEntry{name: f[0], uid: uint32(uid), gid: uint32(gid), home: f[5]}
		if f[0] == key {
			found = &e
			return false
		}
		if byUIDToo && byUID == nil && f[2] == key {
			byUID = &e
		}
		return true
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return passwdEntry{}, err
	}
	if found != nil {
		return *found, nil
	}
	if byUID != nil {
		return *byUID, nil
	}
	return passwdEntry{}, fmt.Errorf("%w: %q is not in %s", errNoUser, key, filepath.Join(root, "etc", "passwd"))
}

// findGroupID resolves a group name or number in root's /etc/group; a
// number not listed is used as is.
func findGroupID(root, key string) (uint32, error) {
	var gid *uint32
	err := scanColonFile(filepath.Join(root, "etc", "group"), func(f []string) bool {
		if len(f) < 3 || f[0] != key {
			return true
		}
		if n, err := strconv.ParseUint(f[2], 10, 32); err == nil {
			v := uint32(n)
			gid = &v
		}
		return false
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	if gid != nil {
		return *gid, nil
	}
	if n, err := strconv.ParseUint(key, 10, 32); err == nil {
		return uint32(n), nil
	}
	return 0, fmt.Errorf("%w: group %q is not in %s", errNoUser, key, filepath.Join(root, "etc", "group"))
}

// supplementaryGroups are the groups of root's /etc/group listing name as
// a member, other than primary.
func supplementaryGroups(root, name string, primary uint32) ([]uint32, error) {
	var out []uint32
	err := scanColonFile(filepath.Join(root, "etc", "group"), func(f []string) bool {
		if len(f) < 4 {
			return true
		}
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil || uint32(gid) == primary {
			return true
		}
		for _, m := range strings.Split(f[3], ",") {
			if strings.TrimSpace(m) == name {
				out = append(out, uint32(gid))
				break
			}
		}
		return true
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return out, nil
}

// maxUserFile bounds what is read of an image's /etc/passwd or /etc/group.
const maxUserFile = 4 << 20

// scanColonFile calls fn with the colon-separated fields of each line of
// path (comments and blank lines skipped) until fn returns false. An
// image's file is read beneath its rootfs only: a symlink out of it is
// not followed.
func scanColonFile(path string, fn func([]string) bool) error {
	f, err := openBeneath(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, maxUserFile))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !fn(strings.Split(line, ":")) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// openBeneath opens path (<root>/etc/<file>) beneath root: a symlink in
// an image cannot lead the agent to a host file (os.Root refuses escapes).
func openBeneath(path string) (*os.File, error) {
	root, rel := filepath.Dir(filepath.Dir(path)), filepath.Join(filepath.Base(filepath.Dir(path)), filepath.Base(path))
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.Open(rel)
}

// userEnv is the environment a task's user implies: USER and LOGNAME (as
// login(1) sets them) and HOME, the user's home directory from passwd (as
// Docker/runc do). The task's own variables still win.
func userEnv(u taskUser) []string {
	return []string{"USER=" + u.Name, "LOGNAME=" + u.Name, "HOME=" + u.Home}
}

// chownSandbox gives the sandbox and its stdout and stderr (created here,
// so the shim appends to files the user owns) to the task's user, as
// Mesos chowns the sandbox to the executor's user.
func chownSandbox(sandbox string, u taskUser) error {
	for _, name := range []string{"stdout", "stderr"} {
		f, err := os.OpenFile(filepath.Join(sandbox, name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("sandbox %s: %w", name, err)
		}
		f.Close()
	}
	if u.UID == 0 && u.GID == 0 {
		return nil
	}
	for _, p := range []string{sandbox, filepath.Join(sandbox, "stdout"), filepath.Join(sandbox, "stderr")} {
		if err := os.Lchown(p, int(u.UID), int(u.GID)); err != nil {
			return fmt.Errorf("give the sandbox to user %s: %w", u.Name, err)
		}
	}
	return nil
}

// chownNewVolume gives a persistent volume's directory to the task's user
// the first time it is used: while it is still empty and root's, as
// created.
func chownNewVolume(dir string, u taskUser) error {
	if u.UID == 0 && u.GID == 0 {
		return nil
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); !ok || sys.Uid != 0 {
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) > 0 {
		return err
	}
	if err := os.Lchown(dir, int(u.UID), int(u.GID)); err != nil {
		return fmt.Errorf("give the persistent volume to user %s: %w", u.Name, err)
	}
	return nil
}

// taskUser resolves the user of t (see resolveTaskUser), gives it the
// sandbox and any persistent volume the task uses for the first time, and
// logs who the task runs as.
func (a *Agent) taskUser(t *task, rootfs, imageUser, sandbox string) (taskUser, error) {
	u, err := resolveTaskUser(t.info, t.framework, !a.cfg.NoSwitchUser, rootfs, imageUser)
	if err != nil {
		return taskUser{}, err
	}
	if err := chownSandbox(sandbox, u); err != nil {
		return taskUser{}, err
	}
	// The fetcher ran before the user was known (an image's USER is read
	// after its pull): what it fetched goes to the user now, as Mesos'
	// fetcher gives the task's user its files.
	if c := t.info.Command; c != nil && len(c.URIs) > 0 && (u.UID != 0 || u.GID != 0) {
		if err := chownSandboxTree(sandbox, u); err != nil {
			return taskUser{}, fmt.Errorf("give the fetched files to user %s: %w", u.Name, err)
		}
	}
	for _, v := range a.taskVolumes(t.info) {
		if v.readOnly {
			continue
		}
		if err := chownNewVolume(v.hostPath, u); err != nil && !errors.Is(err, os.ErrNotExist) {
			return taskUser{}, fmt.Errorf("persistent volume %s: %w", v.id, err)
		}
	}
	a.log.Debug("task user", "task_id", t.id, "user", u.Name, "uid", u.UID, "gid", u.GID)
	return u, nil
}

// chownSandboxTree gives everything in the sandbox to the task's user,
// walking beneath the sandbox root (symlinks are not followed).
func chownSandboxTree(sandbox string, u taskUser) error {
	root, err := os.OpenRoot(sandbox)
	if err != nil {
		return err
	}
	defer root.Close()
	return chownTree(root, fileOwner{uid: int(u.UID), gid: int(u.GID)})
}
