package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"nodectl/cluster/api"
	"nodectl/runtime/internal/container"
)

// execWriteTimeout bounds one WebSocket write of an exec session: a client
// that stops reading ends its session rather than stall the process.
const execWriteTimeout = time.Minute

// execReadLimit is the largest message an exec session's client may send.
const execReadLimit = 1 << 20

// ExecPattern is the agent port's exec session route (the master proxies
// GET /tasks/{taskId}/exec here; the protocol is in cluster/api/exec.go and
// docs/exec.md); ExecHandler serves it.
const ExecPattern = "GET /tasks/{frameworkId}/{taskId}/exec"

// ExecHandler serves exec sessions (ExecPattern, a WebSocket) on the
// agent's port.
//
// The agent port admits master and admin certificates only: the master
// authorized the principal. The process runs inside the task's container
// (container.StartSession): its namespaces, cgroup, user, capabilities,
// no_new_privs and seccomp filter, with the task's environment. It ends
// with the WebSocket.
func (a *Agent) ExecHandler() http.Handler { return http.HandlerFunc(a.handleExec) }

var execUpgrader = websocket.Upgrader{
	// The agent port takes master and admin certificates only, and the
	// master checked the browser's Origin.
	CheckOrigin:     func(*http.Request) bool { return true },
	ReadBufferSize:  32 << 10,
	WriteBufferSize: 32 << 10,
}

func (a *Agent) handleExec(w http.ResponseWriter, r *http.Request) {
	fwID, taskID := r.PathValue("frameworkId"), r.PathValue("taskId")
	req, err := api.ParseExecRequest(r.URL.Query())
	if err != nil {
		writeJSONStatus(w, http.StatusBadRequest, api.Error{Message: err.Error()})
		return
	}
	a.tasks.mu.Lock()
	t := a.tasks.live[streamKey{fwID, taskID}]
	var ctr taskContainer
	var state api.TaskState
	if t != nil {
		ctr, state = t.ctr, t.state
	}
	a.tasks.mu.Unlock()
	switch {
	case t == nil:
		writeJSONStatus(w, http.StatusNotFound, api.Error{Message: "no task '" + taskID + "' of framework '" + fwID + "' on this agent"})
		return
	case ctr == nil || state != api.TaskRunning:
		writeJSONStatus(w, http.StatusConflict, api.Error{Message: "task '" + taskID + "' has no running container (" + string(state) + ")"})
		return
	}
	conn, err := execUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade answered the client
	}
	defer conn.Close()
	conn.SetReadLimit(execReadLimit)
	a.log.Info("exec session started", "task_id", taskID, "framework_id", fwID, "command", req.Command, "tty", req.TTY)
	s := &execConn{conn: conn}
	ex := a.runExecSession(r.Context(), s, ctr, req)
	a.log.Info("exec session ended", "task_id", taskID, "framework_id", fwID, "code", ex.Code, "error", ex.Error)
	body, _ := json.Marshal(ex)
	_ = s.send(api.ExecExit, body)
	s.mu.Lock()
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	s.mu.Unlock()
}

// runExecSession runs req in ctr wired to s until the process ends or the
// client goes away (which kills it).
func (a *Agent) runExecSession(ctx context.Context, s *execConn, ctr taskContainer, req api.ExecRequest) api.ExecExitStatus {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The task's environment: its own variables and, while this agent
	// has them in memory, its secret ones (the task sees them anyway).
	env := slices.Concat(ctr.Spec().Env, ctr.Spec().SecretEnv)
	if req.TTY && !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "TERM=") }) {
		env = append(env, "TERM=xterm") // what the CLI's and the UI's terminals speak, as docker exec -t sets
	}
	spec := container.SessionSpec{
		ExecSpec: container.ExecSpec{Args: req.Command, Env: env},
		TTY:      req.TTY, Rows: req.Size.Rows, Cols: req.Size.Cols,
		Stdout: s.writer(api.ExecStdout), Stderr: s.writer(api.ExecStderr),
	}
	var stdinW *io.PipeWriter
	if req.Stdin {
		var stdinR *io.PipeReader
		stdinR, stdinW = io.Pipe()
		defer stdinW.Close()
		spec.Stdin = stdinR
	}
	sess, err := ctr.StartSession(ctx, spec)
	if err != nil {
		return api.ExecExitStatus{Code: -1, Error: err.Error()}
	}
	// The client's messages: stdin, resizes; its close ends the session.
	go func() {
		defer cancel()
		for {
			typ, msg, err := s.conn.ReadMessage()
			if err != nil {
				return
			}
			if typ != websocket.BinaryMessage || len(msg) == 0 {
				continue
			}
			switch msg[0] {
			case api.ExecStdin:
				if stdinW == nil {
					continue
				}
				if len(msg) == 1 {
					stdinW.Close()
					continue
				}
				if _, err := stdinW.Write(msg[1:]); err != nil && !errors.Is(err, io.ErrClosedPipe) {
					return
				}
			case api.ExecResize:
				var sz api.ExecSize
				if json.Unmarshal(msg[1:], &sz) == nil && sz.Rows > 0 && sz.Cols > 0 {
					_ = sess.Resize(sz.Rows, sz.Cols)
				}
			}
		}
	}()
	ex, err := sess.Wait()
	if stdinW != nil {
		stdinW.Close()
	}
	if err != nil && ex.Code == 0 && ex.Signal == 0 {
		return api.ExecExitStatus{Code: -1, Error: err.Error()}
	}
	return api.ExecExitStatus{Code: ex.Code, Signal: ex.Signal}
}

// execConn serializes an exec session's writes.
type execConn struct {
	mu   sync.Mutex
	conn *websocket.Conn
}

func (c *execConn) send(channel byte, p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(execWriteTimeout))
	w, err := c.conn.NextWriter(websocket.BinaryMessage)
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte{channel}); err != nil {
		return err
	}
	if _, err := w.Write(p); err != nil {
		return err
	}
	return w.Close()
}

// writer is an io.Writer sending on channel.
func (c *execConn) writer(channel byte) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		if err := c.send(channel, p); err != nil {
			return 0, err
		}
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func writeJSONStatus(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
