package node

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
)

// logging owns the node's log outputs: stderr (unless --quiet) and, with
// --log-dir, one size-rotated file per role (nodectl-master.log,
// nodectl-agent.log), as Mesos writes mesos-master.* and mesos-slave.*.
// Every logger it makes redacts the secrets registered with RedactValues
// and secret-named attributes (redactHandler).
type logging struct {
	cfg    Config
	level  *slog.LevelVar
	stderr slog.Handler
	redact *redactor

	// console is where one-time notices meant for the operator only (the
	// bootstrap join commands) are printed, bypassing the log handlers;
	// nil with --quiet, or with --external-log-file (stderr is then most
	// likely that file, which the files API serves).
	console io.Writer

	mu    sync.Mutex // guards files
	files map[string]*bufferedFile

	stop chan struct{}
	done chan struct{}
}

func slogLevel(s string) slog.Level {
	switch s {
	case "DEBUG":
		return slog.LevelDebug
	case "WARNING", "WARN":
		return slog.LevelWarn
	case "ERROR":
		return slog.LevelError
	}
	return slog.LevelInfo
}

func newLogging(cfg Config, stderr io.Writer) (*logging, error) {
	l := &logging{cfg: cfg, level: new(slog.LevelVar), redact: &redactor{}, files: map[string]*bufferedFile{}, stop: make(chan struct{}), done: make(chan struct{})}
	l.level.Set(slogLevel(cfg.LoggingLevel))
	if !cfg.Quiet {
		l.stderr = l.handler(stderr)
		if cfg.ExternalLogFile == "" {
			l.console = stderr
		}
	}
	if cfg.LogDir != "" {
		if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
			return nil, fmt.Errorf("%w: --log-dir: %w", ErrConfig, err)
		}
	}
	go l.flushLoop()
	return l, nil
}

func (l *logging) handler(w io.Writer) slog.Handler {
	opts := &slog.HandlerOptions{Level: l.level}
	if l.cfg.LogFormat == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// logger returns the logger for one role's components ("master", "agent").
func (l *logging) logger(role string) *slog.Logger {
	var hs []slog.Handler
	if l.stderr != nil {
		hs = append(hs, l.stderr)
	}
	if l.cfg.LogDir != "" {
		hs = append(hs, l.handler(l.file(role)))
	}
	var h slog.Handler
	switch len(hs) {
	case 0:
		return slog.New(slog.DiscardHandler)
	case 1:
		h = hs[0]
	default:
		h = slog.NewMultiHandler(hs...)
	}
	return slog.New(&redactHandler{next: h, r: l.redact})
}

// RedactValues registers secret values (a token's secret, a credential's
// secret) that every logger of l, made before or after, replaces with
// <redacted> wherever they appear in a message or an attribute value.
// Values shorter than 8 bytes are ignored: replacing them would mangle
// ordinary text. It is safe for concurrent use and cheap to call again
// with known values.
func (l *logging) RedactValues(vals ...string) { l.redact.add(vals...) }

// logFile is the path of a role's log file ("" without --log-dir).
func (l *logging) logFile(role string) string {
	if l.cfg.LogDir == "" {
		return ""
	}
	return filepath.Join(l.cfg.LogDir, "nodectl-"+role+".log")
}

func (l *logging) file(role string) *bufferedFile {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f, ok := l.files[role]; ok {
		return f
	}
	lj := &lumberjack.Logger{Filename: l.logFile(role), MaxSize: 100, MaxBackups: 10}
	f := &bufferedFile{lj: lj, buffered: l.cfg.LogBufSecs > 0}
	f.w = bufio.NewWriterSize(lj, 64<<10)
	l.files[role] = f
	return f
}

func (l *logging) flushLoop() {
	defer close(l.done)
	if l.cfg.LogBufSecs <= 0 {
		<-l.stop
		return
	}
	t := time.NewTicker(time.Duration(l.cfg.LogBufSecs) * time.Second)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.flush()
		}
	}
}

func (l *logging) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.files {
		f.flush()
	}
}

// Close flushes and closes the log files.
func (l *logging) Close() {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.files {
		f.flush()
		_ = f.lj.Close()
	}
}

// bufferedFile is a rotated log file whose writes are either immediate or
// buffered until the next flush (--logbufsecs).
type bufferedFile struct {
	mu       sync.Mutex // guards w
	lj       *lumberjack.Logger
	w        *bufio.Writer
	buffered bool
}

func (f *bufferedFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.buffered {
		return f.lj.Write(p)
	}
	return f.w.Write(p)
}

func (f *bufferedFile) flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = f.w.Flush()
}
