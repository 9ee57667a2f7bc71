// Command escapeprobe tries, from inside a task's container, each way out of
// the box that the isolation tests list, and prints one line per attempt:
// "<name> blocked <detail>" or "<name> ESCAPED <detail>". It exits 0 either
// way; the test reading its output decides.
//
// Usage: escapeprobe <pids-limit> [read=<path>|write=<path>]...: read paths
// must not be readable (any content read counts as an escape; a masked file
// reads empty, a masked directory lists empty); write paths must not be
// creatable.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "pause" {
		select {} // a child for the pids probe
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: escapeprobe <pids-limit> [read=<path>|write=<path>]...")
		os.Exit(2)
	}
	pidsLimit, err := strconv.Atoi(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// Not an escape: the task's own sandbox (its cwd) stays writable.
	if err := os.WriteFile("probe-was-here", nil, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox not writable:", err)
		os.Exit(1)
	}
	for _, a := range os.Args[2:] {
		switch op, p, _ := strings.Cut(a, "="); op {
		case "read":
			report("read "+p, readSecret(p))
		case "write":
			report("write "+p, create(p))
		default:
			fmt.Fprintln(os.Stderr, "bad argument", a)
			os.Exit(2)
		}
	}
	report("mount tmpfs", unix.Mount("tmpfs", "/mnt", "tmpfs", 0, ""))
	report("remount / rw", unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND, ""))
	report("remount /etc rw", unix.Mount("/etc", "/etc", "", unix.MS_REMOUNT|unix.MS_BIND, ""))
	report("mknod block device", mknodOpen())
	report("open host disk", openDisk())
	report("unshare user ns", unix.Unshare(unix.CLONE_NEWUSER))
	report("unshare mount ns", unix.Unshare(unix.CLONE_NEWNS))
	report("clone new user ns", cloneNewUser())
	report("keyctl add_key", addKey())
	report("ptrace pid 1", unix.PtraceAttach(1))
	report("ptrace child", ptraceChild())
	report("init_module", initModule())
	report("finit_module", finitModule())
	report("raise rlimit", raiseRlimit())
	report("bpf", bpf())
	report("fork past pids limit", forkBomb(pidsLimit))
	report("no_new_privs unset", status("NoNewPrivs", "1"))
	report("seccomp off", status("Seccomp", "2"))
}

// report prints err == nil as an escape.
func report(name string, err error) {
	if err == nil {
		fmt.Printf("%s ESCAPED\n", name)
		return
	}
	fmt.Printf("%s blocked %v\n", name, err)
}

func readSecret(p string) error {
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		return listDir(p)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return errors.New("reads empty (masked)")
	}
	return nil
}

func listDir(p string) error {
	ents, err := os.ReadDir(p)
	if err != nil {
		return err
	}
	if len(ents) == 0 {
		return errors.New("empty (masked)")
	}
	return nil
}

func create(p string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	f.Close()
	return nil
}

// mknodOpen makes /dev/sda's node (8:0) in a writable place and reads it.
func mknodOpen() error {
	p := "sda-probe"
	if err := unix.Mknod(p, unix.S_IFBLK|0o600, int(unix.Mkdev(8, 0))); err != nil {
		return err
	}
	defer os.Remove(p)
	return readBlock(p)
}

func openDisk() error {
	for _, p := range []string{"/dev/sda", "/dev/vda", "/dev/nvme0n1", "/dev/xvda"} {
		if err := readBlock(p); err == nil {
			return nil
		}
	}
	return errors.New("no disk device opens")
}

func readBlock(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Read(make([]byte, 512))
	return err
}

func cloneNewUser() error {
	cmd := exec.Command("/proc/self/exe", "pause")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
	if err := cmd.Start(); err != nil {
		return err
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return nil
}

func ptraceChild() error {
	cmd := exec.Command("/proc/self/exe", "pause")
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("no child: %w", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	return unix.PtraceAttach(cmd.Process.Pid)
}

func addKey() error {
	typ, _ := unix.BytePtrFromString("user")
	desc, _ := unix.BytePtrFromString("nodectl-escape")
	payload := []byte("x")
	_, _, errno := unix.Syscall6(unix.SYS_ADD_KEY, uintptr(unsafe.Pointer(typ)), uintptr(unsafe.Pointer(desc)),
		uintptr(unsafe.Pointer(&payload[0])), 1, uintptr(0xfffffffd) /* KEY_SPEC_SESSION_KEYRING */, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func initModule() error {
	params, _ := unix.BytePtrFromString("")
	img := make([]byte, 64) // not an ELF module: only a refusal before parsing counts
	_, _, errno := unix.Syscall(unix.SYS_INIT_MODULE, uintptr(unsafe.Pointer(&img[0])), uintptr(len(img)), uintptr(unsafe.Pointer(params)))
	if errno == unix.ENOEXEC || errno == 0 {
		return nil // the kernel looked at the image: the call was allowed
	}
	return errno
}

func finitModule() error {
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	if err == nil || errors.Is(err, unix.ENOEXEC) {
		return nil
	}
	return err
}

func raiseRlimit() error {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return err
	}
	r.Max++
	r.Cur = r.Max
	return unix.Setrlimit(unix.RLIMIT_NOFILE, &r)
}

func bpf() error {
	_, _, errno := unix.Syscall(unix.SYS_BPF, 0 /* BPF_MAP_CREATE */, 0, 0)
	if errno == unix.EINVAL || errno == unix.EFAULT {
		return nil // the kernel parsed the attributes: allowed
	}
	return errno
}

// forkBomb starts limit+1 processes; an error on the way means the limit held.
func forkBomb(limit int) error {
	var kids []*os.Process
	defer func() {
		for _, p := range kids {
			_ = p.Kill()
			_, _ = p.Wait()
		}
	}()
	for i := 0; i <= limit; i++ {
		p, err := os.StartProcess("/proc/self/exe", []string{"escapeprobe", "pause"}, &os.ProcAttr{})
		if err != nil {
			return fmt.Errorf("after %d processes: %w", i, err)
		}
		kids = append(kids, p)
	}
	return nil
}

// status checks a /proc/self/status field; a value other than want is an escape.
func status(field, want string) error {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil // cannot tell: count it as an escape
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			if strings.TrimSpace(v) == want {
				return fmt.Errorf("%s %s", field, want)
			}
			return nil
		}
	}
	return nil
}
