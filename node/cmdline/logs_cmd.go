package cmdline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"nodectl/cluster/api"
	"nodectl/cluster/client"
)

// Reading a task's output: its sandbox's stdout and stderr, through the
// leading master's proxy of the agent's Mesos files API
// (GET /agents/{agentId}/files/read?path=...&offset=...&length=..., see
// https://mesos.apache.org/documentation/latest/endpoints/files/read/).
// `nodectl logs`, `nodectl app logs` and `nodectl execute` all use it.

// logsPoll is the pace at which a followed file is polled for growth.
var logsPoll = 250 * time.Millisecond

// logsChunk is how much one /files/read asks for (the agent caps it).
const logsChunk = 64 << 10

// sandboxFile is one file of a task's sandbox, read from offset on.
type sandboxFile struct {
	c       *client.Client
	agentID string
	path    string // Mesos virtual path
	offset  int64
}

// sandboxDir is the Mesos virtual path of a task's sandbox: a command
// task's executor id is its task id.
func sandboxDir(frameworkID, executorID, taskID string) string {
	if executorID == "" {
		executorID = taskID
	}
	return "/frameworks/" + frameworkID + "/executors/" + executorID + "/runs/latest"
}

func newSandboxFile(c *client.Client, agentID, dir, name string) *sandboxFile {
	return &sandboxFile{c: c, agentID: agentID, path: dir + "/" + name}
}

// errNoFile: the file is not there (yet: the container has not started;
// or any more: the sandbox was garbage-collected).
var errNoFile = errors.New("no such file")

// read is one /files/read: the bytes at off (at most length); length -1
// asks only for the size, returned as n.
func (f *sandboxFile) read(ctx context.Context, off, length int64) (data []byte, n int64, err error) {
	q := url.Values{"path": {f.path}, "offset": {strconv.FormatInt(off, 10)}}
	if length >= 0 {
		q.Set("length", strconv.FormatInt(length, 10))
	}
	var chunk api.FileChunk
	err = f.c.Get(ctx, "/agents/"+url.PathEscape(f.agentID)+"/files/read?"+q.Encode(), &chunk)
	if errors.Is(err, client.ErrNotFound) {
		return nil, 0, fmt.Errorf("%s: %w", f.path, errNoFile)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", f.path, err)
	}
	if off == -1 {
		return nil, chunk.Offset, nil
	}
	data, n = rawBytes(chunk.Data, length)
	return data, n, nil
}

// rawBytes undoes what JSON did to a chunk of the file: its bytes, and
// how many of the file's bytes they stand for. The files API sends the
// chunk as a JSON string, where every byte that is not UTF-8 became one
// U+FFFD: each counts as one byte of the file. U+FFFDs that end a full
// chunk may be a character cut in two by the chunk's end; they are left
// for the next read.
func rawBytes(s string, length int64) ([]byte, int64) {
	if int64(len(s)) >= length && length > 0 {
		trimmed := strings.TrimRight(s, "\uFFFD")
		if len(s)-len(trimmed) <= 3*3 && trimmed != "" {
			s = trimmed
		}
	}
	var n int64
	for _, r := range s {
		if r == utf8.RuneError {
			n++
		} else {
			n += int64(utf8.RuneLen(r))
		}
	}
	return []byte(s), n
}

// size is the file's current size.
func (f *sandboxFile) size(ctx context.Context) (int64, error) {
	_, n, err := f.read(ctx, -1, -1)
	return n, err
}

// seekTail sets the offset to where the file's last n lines start.
func (f *sandboxFile) seekTail(ctx context.Context, n int) error {
	size, err := f.size(ctx)
	if err != nil {
		return err
	}
	start, buf := size, []byte(nil)
	for start > 0 {
		want := bytes.Count(buf, []byte("\n"))
		if bytes.HasSuffix(buf, []byte("\n")) {
			want--
		}
		if want >= n {
			break
		}
		length := min(int64(logsChunk), start)
		data, _, err := f.read(ctx, start-length, length)
		if err != nil {
			return err
		}
		start -= length
		buf = append(append([]byte(nil), data...), buf...)
	}
	// keep the last n lines of buf
	lines := bytes.SplitAfter(buf, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	skip := 0
	for _, l := range lines[:max(len(lines)-n, 0)] {
		skip += len(l)
	}
	f.offset = start + int64(skip)
	return nil
}

// drain copies what the file holds past offset to w; it reports whether
// anything was copied. A missing file copies nothing.
func (f *sandboxFile) drain(ctx context.Context, w io.Writer) (bool, error) {
	copied := false
	for {
		data, n, err := f.read(ctx, f.offset, logsChunk)
		if errors.Is(err, errNoFile) {
			return copied, nil
		}
		if err != nil {
			return copied, err
		}
		if n == 0 {
			return copied, nil
		}
		if _, err := w.Write(data); err != nil {
			return copied, err
		}
		copied = true
		f.offset += n
		if n < logsChunk/2 {
			return copied, nil
		}
	}
}

// syncWriter serializes writes (task output and status lines share
// stderr).
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// prefixWriter starts every line with prefix (docker compose logs style);
// a partial line is held until its newline or flush.
type prefixWriter struct {
	prefix string
	w      io.Writer
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		if _, err := io.WriteString(p.w, p.prefix+string(p.buf[:i+1])); err != nil {
			return 0, err
		}
		p.buf = p.buf[i+1:]
	}
}

func (p *prefixWriter) flush() {
	if len(p.buf) > 0 {
		_, _ = io.WriteString(p.w, p.prefix+string(p.buf)+"\n")
		p.buf = nil
	}
}

// logTarget is one task whose output is shown.
type logTarget struct {
	taskID, frameworkID, executorID, agentID string
	state                                    api.TaskState
}

// logStream is a followed file and where its bytes go.
type logStream struct {
	f  *sandboxFile
	w  io.Writer
	pw *prefixWriter // nil: no prefix
}

// logsOptions are the flags of `nodectl logs`.
type logsOptions struct {
	stderr bool
	follow bool
	tail   int           // -1: all
	since  time.Duration // 0: all
}

// openStreams positions one stream per target (stdout, or stderr with
// --stderr) by --tail and --since; prefix names each line's task when
// there are several.
func openStreams(ctx context.Context, c *client.Client, targets []logTarget, o logsOptions, out io.Writer, prefix bool) ([]*logStream, error) {
	name := "stdout"
	if o.stderr {
		name = "stderr"
	}
	width := 0
	for _, t := range targets {
		width = max(width, len(t.taskID))
	}
	var streams []*logStream
	for _, t := range targets {
		if t.agentID == "" {
			continue // never launched
		}
		f := newSandboxFile(c, t.agentID, sandboxDir(t.frameworkID, t.executorID, t.taskID), name)
		s := &logStream{f: f, w: out}
		if prefix {
			s.pw = &prefixWriter{prefix: fmt.Sprintf("%-*s | ", width, t.taskID), w: out}
			s.w = s.pw
		}
		if o.since > 0 {
			fresh, err := writtenSince(ctx, f, o.since)
			if err != nil && !errors.Is(err, errNoFile) {
				return nil, err
			}
			if !fresh {
				// Not written within --since: only what comes next.
				if n, err := f.size(ctx); err == nil {
					f.offset = n
				}
			}
		}
		if o.tail >= 0 && f.offset == 0 {
			if err := f.seekTail(ctx, o.tail); err != nil && !errors.Is(err, errNoFile) {
				return nil, err
			}
		}
		streams = append(streams, s)
	}
	return streams, nil
}

// writtenSince reports whether the file was modified within d
// (/files/browse of the file gives its mtime). The files API keeps no
// time per line, so --since selects files, not lines.
func writtenSince(ctx context.Context, f *sandboxFile, d time.Duration) (bool, error) {
	var fis []api.FileInfo
	err := f.c.Get(ctx, "/agents/"+url.PathEscape(f.agentID)+"/files/browse?"+url.Values{"path": {f.path}}.Encode(), &fis)
	if errors.Is(err, client.ErrNotFound) {
		return false, errNoFile
	}
	if err != nil || len(fis) == 0 {
		return false, err
	}
	return time.Unix(fis[0].Mtime, 0).After(time.Now().Add(-d)), nil
}

// pump copies what every stream has; with follow it polls until ctx ends
// or done says to stop (then it drains a last time).
func pump(ctx context.Context, streams []*logStream, follow bool, done func() bool) error {
	for {
		stop := !follow || (done != nil && done())
		for _, s := range streams {
			if _, err := s.f.drain(ctx, s.w); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
		if stop {
			for _, s := range streams {
				if s.pw != nil {
					s.pw.flush()
				}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(logsPoll):
		}
	}
}

// taskTargets finds the task with this id (the newest, when frameworks
// share it).
func taskTargets(ctx context.Context, m *masterAPI, id string) ([]logTarget, error) {
	q := url.Values{"task_id": {id}, "limit": {"1000"}}
	var resp struct {
		Tasks []struct {
			taskEntry
			ExecutorID string `json:"executor_id"`
		} `json:"tasks"`
	}
	if err := m.getJSON(ctx, "/tasks?"+q.Encode(), &resp); err != nil {
		return nil, err
	}
	var out []logTarget
	for _, t := range resp.Tasks {
		out = append(out, logTarget{taskID: t.ID, frameworkID: t.FrameworkID, executorID: t.ExecutorID, agentID: t.AgentID, state: t.State})
	}
	return out, nil
}

// appTargets finds an app's tasks (Marathon's /v2/apps/{id}/tasks), in
// id order, with where they run from the master's /tasks.
func appTargets(ctx context.Context, m *masterAPI, appID string) ([]logTarget, error) {
	var resp struct {
		Tasks []struct {
			ID string `json:"id"`
		} `json:"tasks"`
	}
	if err := m.c.Get(ctx, appPath(appID)+"/tasks", &resp); err != nil {
		return nil, err
	}
	var out []logTarget
	for _, t := range resp.Tasks {
		ts, err := taskTargets(ctx, m, t.ID)
		if err != nil {
			return nil, err
		}
		for _, x := range ts {
			if !x.state.Terminal() {
				out = append(out, x)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].taskID < out[j].taskID })
	return out, nil
}

// logsFlags are the flags of `nodectl logs` and `nodectl app logs`.
func logsFlags() []cli.Flag {
	return append(clientFlags(),
		&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing as the output grows (until the task ends, or Ctrl-C)"},
		&cli.BoolFlag{Name: "stderr", Usage: "show the sandbox's stderr instead of stdout"},
		&cli.IntFlag{Name: "tail", Value: -1, Usage: "only the last N lines of each task (-1: all)"},
		&cli.GenericFlag{Name: "since", Value: &durationFlag{}, Usage: "only tasks whose file was written within this duration (e.g. 10m); the files API keeps no time per line"},
		&cli.BoolFlag{Name: "app", Usage: "the argument is a Marathon app id (default: a task id, else an app id)"},
	)
}

// logsCommand is `nodectl logs TASK|APP`.
func logsCommand() *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Usage:     "print a task's output (stdout, or --stderr), or that of every task of an app, each line prefixed with its task id",
		ArgsUsage: "TASK_ID|APP_ID",
		Flags:     logsFlags(),
		Action:    func(c *cli.Context) error { return runLogs(c, c.Bool("app")) },
	}
}

func runLogs(c *cli.Context, forceApp bool) error {
	if c.NArg() != 1 {
		return usageErr(c, c.Command.HelpName+" [flags] "+c.Command.ArgsUsage)
	}
	o := logsOptions{stderr: c.Bool("stderr"), follow: c.Bool("follow"), tail: c.Int("tail"), since: c.Generic("since").(*durationFlag).D}
	if o.tail < -1 {
		return &exitError{2, "--tail must be ≥ 0 (or -1 for all)"}
	}
	if o.since < 0 {
		return &exitError{2, "--since must not be negative"}
	}
	m, err := newMasterAPI(c)
	if err != nil {
		return err
	}
	ctx := c.Context
	id := c.Args().First()
	var targets []logTarget
	isApp := forceApp
	if !forceApp {
		if targets, err = taskTargets(ctx, m, id); err != nil {
			return cliErr(err)
		}
		isApp = len(targets) == 0
	}
	if isApp {
		if targets, err = appTargets(ctx, m, id); errors.Is(err, client.ErrNotFound) {
			return &exitError{1, fmt.Sprintf("no task or app %s", id)}
		} else if err != nil {
			return cliErr(err)
		}
		if len(targets) == 0 {
			return &exitError{1, fmt.Sprintf("app %s has no running tasks", id)}
		}
	} else if len(targets) > 1 {
		targets = targets[:1] // /tasks lists the newest first
	}
	streams, err := openStreams(ctx, m.c, targets, o, c.App.Writer, isApp)
	if err != nil {
		return cliErr(err)
	}
	var done func() bool
	if o.follow && !isApp {
		// A single task: stop once it has ended (after a last drain).
		t := targets[0]
		last := time.Time{}
		done = func() bool {
			if time.Since(last) < time.Second {
				return false
			}
			last = time.Now()
			ts, err := taskTargets(ctx, m, t.taskID)
			return err == nil && len(ts) > 0 && (ts[0].state.Terminal() || ts[0].state == api.TaskLost)
		}
	}
	return cliErr(pump(ctx, streams, o.follow, done))
}
