package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"

	"nodectl/runtime/exetrim"
	"nodectl/runtime/internal/container/internal/shimapi"
)

// stubFD is the stub's end of its socket to the shim (warm.go).
const stubFD = 3

// stubMain is a warm container's process until its task arrives (`nodectl-
// shim stub`, run by libcontainer's init as any task's process: in the
// container, as the task's user, with its capabilities, no_new_privs and
// seccomp filter). It reads a shimapi.StubRequest and the task's stdout and
// stderr from stubFD and execs the task in its place, resolving Args[0] as
// libcontainer's init does (exec.LookPath with the task's PATH, after
// changing to its working directory). End of file before a request (the
// shim is gone) ends it. It never returns.
func stubMain() {
	unix.CloseOnExec(stubFD)
	// It may wait long: its binary's pages go back to the page cache
	// (~6 MB resident otherwise), as a spare shim's do.
	_, _ = exetrim.Release(true)
	var data []byte
	var fds []int
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(2*4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(stubFD, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			stubFail(fmt.Errorf("read: %w", err))
		}
		if oobn > 0 && fds == nil {
			if fds, err = stubRights(oob[:oobn]); err != nil {
				stubFail(err)
			}
		}
		if n == 0 {
			break
		}
		data = append(data, buf[:n]...)
		if len(data) > 16<<20 {
			stubFail(fmt.Errorf("request too large"))
		}
	}
	if len(data) == 0 {
		os.Exit(0) // no task: the shim is gone
	}
	var r shimapi.StubRequest
	if err := json.Unmarshal(data, &r); err != nil || len(r.Args) == 0 || len(fds) != 2 {
		stubFail(fmt.Errorf("bad request (%v, %d fds)", err, len(fds)))
	}
	if err := unix.Chdir(r.Cwd); err != nil {
		stubFail(fmt.Errorf("chdir to cwd (%q) set in config.json failed: %w", r.Cwd, err))
	}
	env := r.Env
	if !hasVar(env, "HOME") {
		env = append(env, "HOME="+os.Getenv("HOME")) // libcontainer's default for the user
	}
	path := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	_ = os.Setenv("PATH", path)
	name, err := exec.LookPath(r.Args[0])
	if err != nil {
		stubFail(err)
	}
	for i, fd := range fds {
		if err := unix.Dup3(fd, i+1, 0); err != nil {
			stubFail(fmt.Errorf("output: %w", err))
		}
	}
	err = unix.Exec(name, r.Args, env)
	stubFail(fmt.Errorf("exec %q: %w", name, err))
}

func hasVar(env []string, name string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, name+"=") {
			return true
		}
	}
	return false
}

func stubRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, m := range msgs {
		f, err := unix.ParseUnixRights(&m)
		if err != nil {
			return nil, err
		}
		fds = append(fds, f...)
	}
	return fds, nil
}

// stubFail tells the shim why the task could not be started, and exits.
func stubFail(err error) {
	_, _ = unix.Write(stubFD, []byte(err.Error()+"\n"))
	os.Exit(127)
}
