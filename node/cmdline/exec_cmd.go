package cmdline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/gorilla/websocket"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"nodectl/cluster/api"
)

// execCommand is `nodectl exec [-i] [-t] TASK_ID -- COMMAND [ARG...]`: run
// a process inside a running task, the way `docker exec` does and Mesos'
// nested container sessions do. The leading master authorizes it
// (launch_nested_container_sessions) and proxies a WebSocket to the task's
// agent, which runs the process in the task's container: its namespaces,
// cgroup, user, no_new_privs, seccomp filter and environment. The
// protocol is in cluster/api/exec.go and docs/exec.md. The remote exit
// code is nodectl's; closing the session (Ctrl-C without -t) kills the
// process and what it started.
func execCommand() *cli.Command {
	return &cli.Command{
		Name:                   "exec",
		Usage:                  "run a command inside a running task (its namespaces, user, cgroup and seccomp filter)",
		ArgsUsage:              "TASK_ID -- COMMAND [ARG...]",
		OnUsageError:           usageError,
		UseShortOptionHandling: true,
		Flags: append(clientFlags(),
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "forward stdin to the command"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "give the command a terminal (this terminal in raw mode; its size follows)"},
			&cli.StringFlag{Name: "framework", Usage: "the task's framework id, when several frameworks use the same task id"},
		),
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) > 1 && args[1] == "--" {
				args = append(args[:1:1], args[2:]...)
			}
			if len(args) < 2 || args[0] == "" || args[1] == "" {
				return &exitError{2, "usage: nodectl exec [-i] [-t] TASK_ID -- COMMAND [ARG...]"}
			}
			req := api.ExecRequest{Command: args[1:], TTY: c.Bool("tty"), Stdin: c.Bool("interactive")}
			stdinFD := int(os.Stdin.Fd())
			if req.TTY {
				if !term.IsTerminal(stdinFD) {
					return &exitError{2, "--tty needs a terminal on stdin (drop -t, or run it in a terminal)"}
				}
				if w, h, err := term.GetSize(stdinFD); err == nil && w > 0 && h > 0 {
					req.Size = api.ExecSize{Rows: uint16(h), Cols: uint16(w)}
				}
			}
			cl, err := newClient(c, 0)
			if err != nil {
				return err
			}
			q := req.Query()
			if fw := c.String("framework"); fw != "" {
				q.Set("framework_id", fw)
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			conn, err := cl.DialWebSocket(ctx, "/tasks/"+url.PathEscape(args[0])+"/exec?"+q.Encode())
			if err != nil {
				return fmt.Errorf("exec in task %s: %w", args[0], err)
			}
			defer conn.Close()
			if req.TTY {
				old, err := term.MakeRaw(stdinFD)
				if err != nil {
					return fmt.Errorf("terminal: %w", err)
				}
				defer term.Restore(stdinFD, old)
			}
			st, err := execSession(ctx, conn, req, os.Stdin, c.App.Writer, c.App.ErrWriter)
			if err != nil {
				if ctx.Err() != nil {
					return &exitError{130, ""}
				}
				return fmt.Errorf("exec in task %s: %w", args[0], err)
			}
			if st.Error != "" {
				return &exitError{126, "exec in task " + args[0] + ": " + st.Error}
			}
			if st.Code != 0 {
				return &exitError{st.Code, ""}
			}
			return nil
		},
	}
}

// execSession runs the client side of an exec session on conn until the
// server's exit message: stdin (with req.Stdin) and terminal resizes (with
// req.TTY, on SIGWINCH) out, stdout and stderr in. ctx's end closes the
// session, which kills the remote process.
func execSession(ctx context.Context, conn *websocket.Conn, req api.ExecRequest, stdin *os.File, stdout, stderr io.Writer) (api.ExecExitStatus, error) {
	var wmu sync.Mutex
	send := func(channel byte, p []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return conn.WriteMessage(websocket.BinaryMessage, append([]byte{channel}, p...))
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			conn.Close()
		case <-done:
		}
	}()
	if req.Stdin {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := stdin.Read(buf)
				if n > 0 && send(api.ExecStdin, buf[:n]) != nil {
					return
				}
				if err != nil {
					_ = send(api.ExecStdin, nil) // EOF
					return
				}
			}
		}()
	}
	if req.TTY {
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go func() {
			for {
				select {
				case <-winch:
					if w, h, err := term.GetSize(int(stdin.Fd())); err == nil && w > 0 && h > 0 {
						b, _ := json.Marshal(api.ExecSize{Rows: uint16(h), Cols: uint16(w)})
						_ = send(api.ExecResize, b)
					}
				case <-done:
					return
				}
			}
		}()
	}
	for {
		typ, msg, err := conn.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return api.ExecExitStatus{}, ctx.Err()
			}
			return api.ExecExitStatus{}, fmt.Errorf("session ended without an exit status: %w", err)
		}
		if typ != websocket.BinaryMessage || len(msg) == 0 {
			continue
		}
		switch msg[0] {
		case api.ExecStdout:
			if _, err := stdout.Write(msg[1:]); err != nil {
				return api.ExecExitStatus{}, err
			}
		case api.ExecStderr:
			if _, err := stderr.Write(msg[1:]); err != nil {
				return api.ExecExitStatus{}, err
			}
		case api.ExecExit:
			var st api.ExecExitStatus
			if err := json.Unmarshal(msg[1:], &st); err != nil {
				return st, errors.New("bad exit message: " + err.Error())
			}
			wmu.Lock()
			_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
			wmu.Unlock()
			return st, nil
		}
	}
}
