package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"nodectl/runtime/internal/container/internal/shimapi"
)

// SessionSpec is an interactive process to run in a running container
// (`nodectl exec`): ExecSpec's command with the caller's stdio.
type SessionSpec struct {
	ExecSpec
	// TTY gives the process a new pseudo-terminal as its stdin, stdout,
	// stderr and controlling terminal, Rows×Cols big (0: the kernel's
	// default); everything it writes goes to Stdout, and Stderr is unused.
	TTY        bool
	Rows, Cols uint16
	// Stdin feeds the process (nil: /dev/null). Without a TTY its EOF
	// closes the process's stdin.
	Stdin io.Reader
	// Stdout and Stderr receive the process's output (nil: discarded).
	Stdout, Stderr io.Writer
}

// Session is a running interactive process (StartSession).
type Session struct {
	c       *Container
	console *os.File // the pty master (TTY), else nil
	done    chan struct{}
	exit    Exit
	err     error
}

// StartSession starts s in the container as Exec does (the container's
// namespaces, cgroup, user, capabilities, no_new_privs and seccomp filter,
// through `nodectl-shim exec`), but wired to the caller's stdio, and with a
// terminal when s.TTY: libcontainer creates the pty inside the container and
// sends its master over a socket (runc's --console-socket) straight to this
// process, which copies it to and from s's streams and resizes it.
//
// The session ends when the process exits, or when ctx ends: the process
// and everything left in its process group are then killed (SIGKILL), so
// nothing a session started outlives it. Wait returns how it ended.
func (c *Container) StartSession(ctx context.Context, s SessionSpec) (*Session, error) {
	sess, err := c.startSession(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("exec session in container %s: %w", c.id, err)
	}
	return sess, nil
}

func (c *Container) startSession(ctx context.Context, s SessionSpec) (*Session, error) {
	if len(s.Args) == 0 || s.Args[0] == "" {
		return nil, fmt.Errorf("%w: empty command", ErrInvalidSpec)
	}
	if s.Cwd != "" && !filepath.IsAbs(s.Cwd) {
		return nil, fmt.Errorf("%w: cwd %q: not absolute", ErrInvalidSpec, s.Cwd)
	}
	switch st, err := c.Status(); {
	case err != nil:
		return nil, err
	case st != Running:
		return nil, fmt.Errorf("%w: %s", ErrNotRunning, st)
	}
	req := shimapi.ExecRequest{Args: s.Args, Env: s.Env, Cwd: s.Cwd, Session: true, TTY: s.TTY, Rows: s.Rows, Cols: s.Cols}
	if len(req.Env) > 0 && !slices.ContainsFunc(req.Env, func(e string) bool { return strings.HasPrefix(e, "PATH=") }) {
		req.Env = append(slices.Clip(req.Env), defaultPath)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if s.Stdout == nil {
		s.Stdout = io.Discard
	}
	if s.Stderr == nil {
		s.Stderr = io.Discard
	}

	// Closed when StartSession returns: ours are the other ends, or copies
	// the shim has.
	var closers []io.Closer
	defer func() {
		for _, f := range closers {
			f.Close()
		}
	}()
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			closers = append(closers, r, w)
		}
		return r, w, err
	}
	keep := func(f *os.File) { closers = slices.DeleteFunc(closers, func(c io.Closer) bool { return c == f }) }
	reqR, reqW, err := pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := pipe()
	if err != nil {
		return nil, err
	}
	replyR, replyW, err := pipe()
	if err != nil {
		return nil, err
	}
	log, err := os.OpenFile(filepath.Join(c.dir, shimapi.ShimLogFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open shim log: %w", err)
	}
	closers = append(closers, log)
	files := []*os.File{reqR, outW, log, replyW}

	var (
		consoleOurs       *os.File // our end of the console socket (TTY)
		stdinW, errR      *os.File // without a TTY
		shimFDs           []*os.File
		copyStdin         = s.Stdin != nil
		closeAfterStart   []*os.File
		consoleSocketPair [2]int
	)
	if s.TTY {
		consoleSocketPair, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("console socket: %w", err)
		}
		// Ours polls (a shim that dies closes its end: EOF).
		if err := unix.SetNonblock(consoleSocketPair[0], true); err != nil {
			unix.Close(consoleSocketPair[0])
			unix.Close(consoleSocketPair[1])
			return nil, fmt.Errorf("console socket: %w", err)
		}
		consoleOurs = os.NewFile(uintptr(consoleSocketPair[0]), "console-socket")
		theirs := os.NewFile(uintptr(consoleSocketPair[1]), "console-socket")
		closers = append(closers, consoleOurs, theirs)
		shimFDs = []*os.File{theirs}
	} else {
		var stdinR *os.File
		if copyStdin {
			if stdinR, stdinW, err = pipe(); err != nil {
				return nil, err
			}
		} else if stdinR, err = os.Open(os.DevNull); err != nil {
			return nil, err
		} else {
			closers = append(closers, stdinR)
		}
		var errW *os.File
		if errR, errW, err = pipe(); err != nil {
			return nil, err
		}
		shimFDs = []*os.File{stdinR, errW}
		closeAfterStart = append(closeAfterStart, stdinR, errW)
	}
	files = append(files, shimFDs...)

	env := []string{defaultPath}
	if v, ok := os.LookupEnv("GOMAXPROCS"); ok {
		env = append(env, "GOMAXPROCS="+v)
	}
	proc, err := os.StartProcess(c.d.cfg.ShimPath, []string{ShimName, "exec", c.dir}, &os.ProcAttr{
		Dir:   "/",
		Env:   env,
		Files: files,
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return nil, fmt.Errorf("exec shim: %w", err)
	}
	// Only the shim and what it starts hold the shim's ends now.
	for _, f := range append([]*os.File{reqR, outW, replyW}, closeAfterStart...) {
		f.Close()
	}
	for _, f := range shimFDs {
		f.Close()
	}
	go func() {
		_, _ = reqW.Write(body)
		reqW.Close()
	}()
	// These live on with the session: its goroutines close them.
	for _, f := range []*os.File{reqW, outR, replyR, stdinW, errR, consoleOurs} {
		if f != nil {
			keep(f)
		}
	}

	sess := &Session{c: c, done: make(chan struct{})}
	replyc := make(chan shimapi.ExecReply, 1)
	replyErr := make(chan error, 1)
	go func() {
		defer replyR.Close()
		var r shimapi.ExecReply
		if err := json.NewDecoder(replyR).Decode(&r); err != nil {
			replyErr <- err
			return
		}
		replyc <- r
	}()

	var copies sync.WaitGroup // the output copies
	copyOut := func(w io.Writer, r *os.File) {
		copies.Add(1)
		go func() {
			defer copies.Done()
			defer r.Close()
			_, _ = io.Copy(w, r)
		}()
	}
	// The shim's own stdout: the process's stdout without a TTY.
	copyOut(s.Stdout, outR)
	if s.TTY {
		// libcontainer sends the master once the process has its terminal;
		// a shim that fails first closes the socket, and this gets EOF.
		master, err := recvFile(consoleOurs)
		consoleOurs.Close()
		if err == nil {
			sess.console = master
			copyOut(s.Stdout, master)
			if copyStdin {
				go func() { _, _ = io.Copy(master, s.Stdin) }()
			}
		}
	} else {
		copyOut(s.Stderr, errR)
		if copyStdin {
			go func() {
				_, _ = io.Copy(stdinW, s.Stdin)
				stdinW.Close()
			}()
		}
	}

	go func() {
		defer close(sess.done)
		reply, rerr, ctxErr := waitShimExec(ctx, proc, replyc, replyErr)
		// The process and its group are gone: the output ends, unless a
		// process that left the group still holds it.
		if sess.console != nil {
			_ = sess.console.SetReadDeadline(time.Now().Add(execKillGrace))
		}
		drained := make(chan struct{})
		go func() { copies.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(execKillGrace):
			// outR or errR held by an escaped process: stop reading.
			outR.Close()
			if errR != nil {
				errR.Close()
			}
			<-drained
		}
		if sess.console != nil {
			sess.console.Close()
		}
		switch {
		case rerr != nil:
			sess.err = fmt.Errorf("no answer from the shim: %w: %s", rerr, c.d.shimLogTail(c.dir))
		case reply.Error != "" && reply.NotRunning:
			sess.err = fmt.Errorf("%w: %s", ErrNotRunning, reply.Error)
		case reply.Error != "":
			sess.err = errors.New(reply.Error)
		default:
			sess.exit = Exit{Code: reply.Code, Signal: reply.Signal, FinishedAt: time.Now().UTC()}
			if reply.Killed && ctxErr != nil {
				sess.err = ctxErr
			}
		}
		if sess.err != nil && ctxErr != nil && !errors.Is(sess.err, ctxErr) {
			sess.err = fmt.Errorf("%w (%w)", ctxErr, sess.err)
		}
	}()
	return sess, nil
}

// Resize sets the session's terminal size; without a TTY it does nothing.
func (s *Session) Resize(rows, cols uint16) error {
	if s.console == nil {
		return nil
	}
	select {
	case <-s.done:
		return nil
	default:
	}
	conn, err := s.console.SyscallConn()
	if err != nil {
		return err
	}
	var ierr error
	if err := conn.Control(func(fd uintptr) {
		ierr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	}); err != nil {
		return err
	}
	return ierr
}

// Done is closed when the session has ended and its output was copied.
func (s *Session) Done() <-chan struct{} { return s.done }

// Wait waits for the session to end and returns how the process ended.
func (s *Session) Wait() (Exit, error) {
	<-s.done
	if s.err != nil {
		return s.exit, fmt.Errorf("exec session in container %s: %w", s.c.id, s.err)
	}
	return s.exit, nil
}

// recvFile receives one descriptor sent with SCM_RIGHTS over the AF_UNIX
// socket sock (what libcontainer's console setup sends; runc's
// utils.RecvFile is the same).
func recvFile(sock *os.File) (*os.File, error) {
	conn, err := sock.SyscallConn()
	if err != nil {
		return nil, err
	}
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	var (
		n, oobn int
		rerr    error
	)
	if err := conn.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), name, oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN && rerr != unix.EWOULDBLOCK
	}); err != nil {
		return nil, err
	}
	if rerr != nil {
		return nil, fmt.Errorf("receive console: %w", rerr)
	}
	if n == 0 && oobn == 0 {
		return nil, errors.New("receive console: no terminal was sent")
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("receive console: %w", err)
	}
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil || len(fds) == 0 {
			continue
		}
		for _, fd := range fds[1:] {
			unix.Close(fd)
		}
		{
			// Through the poller, so a read can be given a deadline.
			if err := unix.SetNonblock(fds[0], true); err != nil {
				unix.Close(fds[0])
				return nil, fmt.Errorf("receive console: %w", err)
			}
			return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
		}
	}
	return nil, errors.New("receive console: no descriptor in the message")
}
