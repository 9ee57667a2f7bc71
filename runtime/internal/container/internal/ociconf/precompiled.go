package ociconf

// A container's seccomp filter, compiled once.
//
// libcontainer compiles the seccomp profile with libseccomp in each
// container's init (seccomp.InitSeccomp: the rules, libseccomp's binary
// tree, runc's -ENOSYS stub), ~2.5-3 ms of CPU per start for the default
// profile on the 2-core dev box (docs/performance.md), the same work every
// time. Here the profile is compiled by that same libcontainer function
// once, in a throwaway process (`nodectl-shim seccomp-capture`), whose
// loaded filter the shim reads back from the kernel with ptrace
// (PTRACE_SECCOMP_GET_FILTER, PTRACE_GET_SECCOMP_METADATA) and keeps in the
// driver's seccomp cache dir. A container started from a request with
// SeccompHelperPath then gets no profile in its libcontainer configuration:
// its process is nodectl-seccomp (seccompexec.c), executed by the init from
// a sealed memfd with the program on another, which loads the program and
// executes the task's command. The task runs under byte for byte the filter
// libcontainer would have loaded, with no_new_privs set as before
// (TestPrecompiledSeccompSameFilter compares them), and processes run in
// the container later (Exec) go through the helper too.
//
// Only what the helper can load exactly is precompiled: a profile with no
// filter flags and no SCMP_ACT_NOTIFY rule, in a container with
// no_new_privs. Anything else — or a capture that fails — is compiled in the
// init by libcontainer as before.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"nodectl/runtime/internal/container/internal/shimapi"
)

// CaptureArg is the shim's subcommand that compiles a profile and waits to
// have its filter read (CaptureChild).
const CaptureArg = "seccomp-capture"

// The helper's descriptors (seccompexec.c): itself, the program, the report
// pipe; its argv[0] is the first.
const (
	helperSelfFD = 3
	helperArg0   = "/proc/self/fd/3"
)

// ptrace requests of <linux/ptrace.h> that x/sys/unix does not name.
const (
	ptraceSeccompGetFilter   = 0x420c
	ptraceGetSeccompMetadata = 0x420d
)

// maxInsns is the kernel's BPF_MAXINSNS.
const maxInsns = 4096

// program is a compiled seccomp filter: raw struct sock_filter array and
// the SECCOMP_FILTER_FLAG_* it was loaded with.
type program struct {
	insns []byte
	flags uint64
}

// precompilable reports whether the helper can load exactly the filter
// libcontainer would for cfg.
func precompilable(req *shimapi.Request, cfg *configs.Config) bool {
	s := cfg.Seccomp
	if req.SeccompHelperPath == "" || req.SeccompCacheDir == "" || s == nil || !cfg.NoNewPrivileges ||
		s.ListenerPath != "" || s.DefaultAction == configs.Notify {
		return false
	}
	if _, ok := filterFlags(s); !ok {
		return false
	}
	for _, c := range s.Syscalls {
		if c.Action == configs.Notify {
			return false
		}
	}
	return true
}

// The SECCOMP_FILTER_FLAG_* of <linux/seccomp.h> libcontainer passes for
// a profile's flags (patchbpf's filterFlags, via libseccomp's attributes).
const (
	filterFlagLog       = 1 << 1
	filterFlagSpecAllow = 1 << 2
)

// filterFlags are the seccomp(2) flags libcontainer loads s with: the
// kernel keeps only SECCOMP_FILTER_FLAG_LOG where ptrace can read it back,
// so they come from the profile (runc's specconv adds SPEC_ALLOW to a
// profile that names no flags, where the kernel supports it). ok is false
// for flags the helper does not pass (a notify listener's).
func filterFlags(s *configs.Seccomp) (flags uint64, ok bool) {
	for _, f := range s.Flags {
		switch f {
		case specs.LinuxSeccompFlagLog:
			flags |= filterFlagLog
		case specs.LinuxSeccompFlagSpecAllow:
			flags |= filterFlagSpecAllow
		default:
			return 0, false
		}
	}
	return flags, true
}

// buildID names what makes the program: this shim's libcontainer and
// libseccomp (Go binding and C library), the kernel and the cache format.
var buildID = sync.OnceValue(func() string {
	var b strings.Builder
	b.WriteString("nodectl-seccomp-cache-1 ")
	b.WriteString(runtime.Version())
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/opencontainers/runc" || d.Path == "github.com/seccomp/libseccomp-golang" {
				fmt.Fprintf(&b, " %s@%s", d.Path, d.Version)
			}
		}
	}
	ma, mi, mc := libseccomp.GetLibraryVersion()
	fmt.Fprintf(&b, " libseccomp %d.%d.%d", ma, mi, mc)
	// libseccomp asks the kernel what it supports (its API level).
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		fmt.Fprintf(&b, " linux %s", unix.ByteSliceToString(u.Release[:]))
	}
	return b.String()
})

// cache file layout: magic, flags (little endian), sha256 of the
// instructions, the instructions.
var cacheMagic = [8]byte{'n', 'd', 's', 'e', 'c', 'c', 'p', '1'}

const cacheHeader = 8 + 8 + sha256.Size

// hasProfile reports whether req carries a seccomp profile (JSON null or
// nothing: unconfined).
func hasProfile(req *shimapi.Request) bool {
	return len(req.Seccomp) > 0 && string(req.Seccomp) != "null"
}

// seccompConfig is req's profile in libcontainer's terms, as Config makes it.
func seccompConfig(req *shimapi.Request) (*configs.Seccomp, error) {
	var spec specs.LinuxSeccomp
	if err := json.Unmarshal(req.Seccomp, &spec); err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	s, err := specconv.SetupSeccomp(&spec)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	if s == nil {
		return nil, errors.New("seccomp profile: no filter")
	}
	return s, nil
}

// loadProgram returns the compiled filter of req's profile, s in
// libcontainer's terms: from the cache dir, or captured now and kept there.
func loadProgram(req *shimapi.Request, s *configs.Seccomp) (*program, error) {
	flags, ok := filterFlags(s)
	if !ok {
		return nil, errors.New("seccomp profile: flags the helper cannot pass")
	}
	key := sha256.Sum256(append([]byte(buildID()+"\n"), req.Seccomp...))
	path := filepath.Join(req.SeccompCacheDir, hex.EncodeToString(key[:])+".bpf")
	if b, err := os.ReadFile(path); err == nil {
		if p, err := decodeProgram(b); err == nil && p.flags == flags {
			return p, nil
		}
	}
	// A capture that failed once (a kernel without PTRACE_SECCOMP_GET_FILTER,
	// ptrace refused by an LSM) fails again: the containers of this shim
	// and kernel go without trying, libcontainer compiling in the init.
	failed := strings.TrimSuffix(path, ".bpf") + ".failed"
	if b, err := os.ReadFile(failed); err == nil {
		return nil, fmt.Errorf("compile the seccomp profile once: failed before (%s)", strings.TrimSpace(string(b)))
	}
	p, err := capture(req.Seccomp)
	if err != nil {
		if os.MkdirAll(req.SeccompCacheDir, 0o700) == nil {
			_ = os.WriteFile(failed, []byte(err.Error()+"\n"), 0o600)
		}
		return nil, err
	}
	if p.flags&filterFlagLog != flags&filterFlagLog {
		return nil, fmt.Errorf("compile the seccomp profile once: the kernel's log flag %d, the profile's %d", p.flags&filterFlagLog, flags&filterFlagLog)
	}
	p.flags = flags
	if err := os.MkdirAll(req.SeccompCacheDir, 0o700); err != nil {
		return p, nil // still good for this container
	}
	// A cache: no fsync. A torn file fails decodeProgram's checksum and is
	// captured again.
	tmp, err := os.CreateTemp(req.SeccompCacheDir, ".tmp-*")
	if err != nil {
		return p, nil
	}
	_, werr := tmp.Write(encodeProgram(p))
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), path) != nil {
		_ = os.Remove(tmp.Name())
	}
	return p, nil
}

func encodeProgram(p *program) []byte {
	b := make([]byte, cacheHeader, cacheHeader+len(p.insns))
	copy(b, cacheMagic[:])
	binary.LittleEndian.PutUint64(b[8:], p.flags)
	sum := sha256.Sum256(p.insns)
	copy(b[16:], sum[:])
	return append(b, p.insns...)
}

func decodeProgram(b []byte) (*program, error) {
	if len(b) < cacheHeader || !bytes.Equal(b[:8], cacheMagic[:]) {
		return nil, errors.New("not a seccomp cache file")
	}
	insns := b[cacheHeader:]
	if n := len(insns) / 8; len(insns)%8 != 0 || n < 1 || n > maxInsns {
		return nil, fmt.Errorf("seccomp cache file: %d bytes of instructions", len(insns))
	}
	if sum := sha256.Sum256(insns); !bytes.Equal(sum[:], b[16:cacheHeader]) {
		return nil, errors.New("seccomp cache file: checksum")
	}
	return &program{insns: bytes.Clone(insns), flags: binary.LittleEndian.Uint64(b[8:])}, nil
}

// capture is captureProgram; tests replace it.
var capture = captureProgram

// captureProgram has profile (OCI LinuxSeccomp JSON) compiled and loaded by
// libcontainer in a child (CaptureChild) and reads the loaded filter back.
func captureProgram(profile []byte) (_ *program, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("compile the seccomp profile once: %w", err)
		}
	}()
	cmd := exec.Command("/proc/self/exe", CaptureArg)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Env = []string{"GOMAXPROCS=1"}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		stdin.Close() // the child exits at end of file
		if werr := cmd.Wait(); werr != nil && err == nil {
			err = fmt.Errorf("%w: %s", werr, strings.TrimSpace(stderr.String()))
		}
	}()
	if _, err := stdin.Write(profile); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("no filter loaded: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	tid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || tid <= 0 {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("capture child said %q", line)
	}
	p, err := readFilter(tid)
	if err != nil {
		_ = cmd.Process.Kill()
	}
	return p, err
}

// readFilter reads the most recent seccomp filter of thread tid (a child
// of this process) and its flags, attaching to it with ptrace for that.
func readFilter(tid int) (*program, error) {
	// Every ptrace request must come from the thread that attached.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.PtraceSeize(tid); err != nil {
		return nil, fmt.Errorf("ptrace seize: %w", err)
	}
	defer func() { _ = unix.PtraceDetach(tid) }()
	if err := unix.PtraceInterrupt(tid); err != nil {
		return nil, fmt.Errorf("ptrace interrupt: %w", err)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(tid, &ws, unix.WALL, nil); err != nil {
		return nil, fmt.Errorf("wait for the stop: %w", err)
	}
	if !ws.Stopped() {
		return nil, fmt.Errorf("capture child did not stop: %v", ws)
	}
	n, _, e := unix.Syscall6(unix.SYS_PTRACE, ptraceSeccompGetFilter, uintptr(tid), 0, 0, 0, 0)
	if e != 0 {
		return nil, fmt.Errorf("PTRACE_SECCOMP_GET_FILTER: %w", e)
	}
	if n < 1 || n > maxInsns {
		return nil, fmt.Errorf("PTRACE_SECCOMP_GET_FILTER: %d instructions", n)
	}
	insns := make([]byte, 8*n)
	if m, _, e := unix.Syscall6(unix.SYS_PTRACE, ptraceSeccompGetFilter, uintptr(tid), 0, uintptr(unsafe.Pointer(&insns[0])), 0, 0); e != 0 || m != n {
		return nil, fmt.Errorf("PTRACE_SECCOMP_GET_FILTER: %d of %d instructions: %w", m, n, e)
	}
	var md struct{ FilterOff, Flags uint64 }
	if _, _, e := unix.Syscall6(unix.SYS_PTRACE, ptraceGetSeccompMetadata, uintptr(tid), unsafe.Sizeof(md), uintptr(unsafe.Pointer(&md)), 0, 0); e != 0 {
		return nil, fmt.Errorf("PTRACE_GET_SECCOMP_METADATA: %w", e)
	}
	return &program{insns: insns, flags: md.Flags}, nil
}

// CaptureChild is `nodectl-shim seccomp-capture`: it reads an OCI
// LinuxSeccomp profile on stdin, has libcontainer compile and load it into
// this thread as it would in a container's init, writes the thread's id on
// stdout and waits for end of file on stdin. It returns an exit code.
func CaptureChild(stdin io.Reader, stdout, stderr io.Writer) int {
	runtime.LockOSThread() // the filter is this thread's; the parent reads it there
	var spec specs.LinuxSeccomp
	if err := json.NewDecoder(stdin).Decode(&spec); err != nil {
		fmt.Fprintf(stderr, "seccomp profile: %v\n", err)
		return 1
	}
	cfg, err := specconv.SetupSeccomp(&spec)
	if err != nil {
		fmt.Fprintf(stderr, "seccomp profile: %v\n", err)
		return 1
	}
	if cfg == nil {
		fmt.Fprintln(stderr, "seccomp profile: no filter")
		return 1
	}
	// As in a container's init, which has set no_new_privs by now.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Fprintf(stderr, "no_new_privs: %v\n", err)
		return 1
	}
	if fd, err := seccomp.InitSeccomp(cfg); err != nil {
		fmt.Fprintf(stderr, "load seccomp filter: %v\n", err)
		return 1
	} else if fd >= 0 {
		fmt.Fprintln(stderr, "load seccomp filter: a notify listener")
		return 1
	}
	fmt.Fprintln(stdout, unix.Gettid())
	_, _ = io.Copy(io.Discard, stdin)
	return 0
}

// helperProcess turns args into the helper's command line and opens what
// it needs as fds 3, 4 and 5: the helper binary and the program, each in a
// sealed memfd (nothing in the container can write them, even as root), and
// the write end of the report pipe, whose read end it returns.
func helperProcess(req *shimapi.Request, p *program, args []string) (argv []string, files []*os.File, report *os.File, err error) {
	bin, err := os.ReadFile(req.SeccompHelperPath)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("seccomp helper: %w", err)
	}
	self, err := sealedMemfd("nodectl-seccomp", bin, true)
	if err != nil {
		return nil, nil, nil, err
	}
	prog, err := sealedMemfd("nodectl-seccomp-filter", p.insns, false)
	if err != nil {
		self.Close()
		return nil, nil, nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		self.Close()
		prog.Close()
		return nil, nil, nil, err
	}
	argv = append([]string{helperArg0, strconv.FormatUint(p.flags, 10)}, args...)
	return argv, []*os.File{self, prog, w}, r, nil
}

// sealedMemfd is a memfd holding b, sealed against any change.
func sealedMemfd(name string, b []byte, executable bool) (*os.File, error) {
	flags := unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING
	fd := -1
	var err error
	if executable {
		// Kernels since 6.3 want executability said (vm.memfd_noexec);
		// older ones refuse the flag.
		if fd, err = unix.MemfdCreate(name, flags|unix.MFD_EXEC); err != nil {
			fd = -1
		}
	} else {
		if fd, err = unix.MemfdCreate(name, flags|unix.MFD_NOEXEC_SEAL); err != nil {
			fd = -1
		}
	}
	if fd < 0 {
		if fd, err = unix.MemfdCreate(name, flags); err != nil {
			return nil, fmt.Errorf("memfd: %w", err)
		}
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("memfd: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal memfd: %w", err)
	}
	return f, nil
}

// helperReportWait bounds awaitHelper: the helper reports within
// microseconds, but in an exec session another process of the container
// could open the helper's end of the pipe (/proc/<pid>/fd/5) and keep it.
const helperReportWait = 30 * time.Second

// awaitHelper reads the report pipe once the helper ran: end of file when
// the task's command was executed, or why it was not. Nothing within
// helperReportWait counts as executed (a failing helper writes at once and
// exits).
func awaitHelper(report *os.File) error {
	defer report.Close()
	_ = report.SetReadDeadline(time.Now().Add(helperReportWait))
	b, err := io.ReadAll(io.LimitReader(report, 4096))
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("seccomp helper report: %w", err)
	}
	if msg := strings.TrimSpace(string(b)); msg != "" {
		return errors.New(msg)
	}
	return nil
}
