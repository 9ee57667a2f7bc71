package api

import (
	"fmt"
	"net/url"
	"strconv"
)

// The exec session protocol (`nodectl exec`, the UI's task terminal;
// docs/exec.md): one WebSocket carries a process run inside a running task.
// The client opens
//
//	GET /tasks/{taskId}/exec?command=sh&command=-c&command=...&tty=1&stdin=1&rows=24&cols=80
//
// on the leading master, which proxies it to the task's agent over mutual
// TLS. Every message is binary: its first byte is the channel, the rest
// the payload.
//
//	client → server  ExecStdin  bytes for the process's stdin; an empty payload closes it (EOF)
//	client → server  ExecResize JSON ExecSize: the terminal's new size (tty only)
//	server → client  ExecStdout the process's stdout (with a tty: the terminal's output)
//	server → client  ExecStderr the process's stderr (never with a tty)
//	server → client  ExecExit   JSON ExecExit, the last message; then the server closes
//
// Closing the WebSocket ends the session: the process and everything it
// started are killed. The feature is Mesos' nested container sessions
// (LAUNCH_NESTED_CONTAINER_SESSION, ATTACH_CONTAINER_INPUT/OUTPUT in
// https://mesos.apache.org/documentation/latest/operator-http-api/),
// on a simpler wire.
const (
	ExecStdin  byte = 0
	ExecStdout byte = 1
	ExecStderr byte = 2
	ExecExit   byte = 3
	ExecResize byte = 4
)

// ExecSize is an ExecResize payload.
type ExecSize struct {
	Rows uint16 `json:"rows"`
	Cols uint16 `json:"cols"`
}

// ExecExitStatus is the ExecExit payload: how the process ended, or why it
// could not run.
type ExecExitStatus struct {
	// Code is the exit status, 128+Signal when a signal ended it.
	Code   int    `json:"code"`
	Signal int    `json:"signal,omitempty"`
	Error  string `json:"error,omitempty"`
}

// ExecRequest is what an exec session runs, as its query parameters.
type ExecRequest struct {
	Command []string // argv (required)
	TTY     bool     // a pseudo-terminal
	Stdin   bool     // forward stdin (without it the process reads /dev/null)
	Size    ExecSize // the terminal's initial size (tty)
}

// Query encodes r as the session URL's query.
func (r ExecRequest) Query() url.Values {
	q := url.Values{"command": r.Command}
	if r.TTY {
		q.Set("tty", "1")
	}
	if r.Stdin {
		q.Set("stdin", "1")
	}
	if r.Size.Rows > 0 && r.Size.Cols > 0 {
		q.Set("rows", strconv.Itoa(int(r.Size.Rows)))
		q.Set("cols", strconv.Itoa(int(r.Size.Cols)))
	}
	return q
}

// ParseExecRequest decodes a session URL's query; an error is the client's.
func ParseExecRequest(q url.Values) (ExecRequest, error) {
	r := ExecRequest{Command: q["command"]}
	if len(r.Command) == 0 || r.Command[0] == "" {
		return r, fmt.Errorf("exec: command is required (query parameter command, once per argument)")
	}
	for k := range q {
		switch k {
		case "command", "tty", "stdin", "rows", "cols", "framework_id": // framework_id: which framework's task, for the master
		default:
			return r, fmt.Errorf("exec: unknown query parameter %q", k)
		}
	}
	var err error
	flag := func(name string) bool {
		v := q.Get(name)
		if v == "" {
			return false
		}
		b, perr := strconv.ParseBool(v)
		if perr != nil && err == nil {
			err = fmt.Errorf("exec: %s=%q: not a boolean", name, v)
		}
		return b
	}
	r.TTY, r.Stdin = flag("tty"), flag("stdin")
	dim := func(name string) uint16 {
		v := q.Get(name)
		if v == "" {
			return 0
		}
		n, perr := strconv.ParseUint(v, 10, 16)
		if perr != nil && err == nil {
			err = fmt.Errorf("exec: %s=%q: not a terminal dimension", name, v)
		}
		return uint16(n)
	}
	r.Size = ExecSize{Rows: dim("rows"), Cols: dim("cols")}
	return r, err
}
