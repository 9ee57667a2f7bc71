package container_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nodectl/runtime/internal/container/internal/shimapi"
)

// TestMonitorRecordsExit runs the monitor as the shim does, by exec from the
// parent of the process it waits for (here a shell that started it in the
// background), and reads its record back as the driver does: the C program's
// hand-written JSON must be what encoding/json makes of shimapi.Exit.
func TestMonitorRecordsExit(t *testing.T) {
	if shimPath == "" {
		t.Skip("no shim and monitor built (needs root, gcc, musl-gcc)")
	}
	monitor := filepath.Join(filepath.Dir(shimPath), "nodectl-monitor")
	// Each child ends once the shell is the monitor: one that ended before
	// the exec may be reaped by the shell first (ECHILD for the monitor).
	const execd = `for i in $(seq 3000); do [ "$(cat /proc/$$/comm)" = nodectl-monitor ] && break; sleep 0.01; done`
	tests := []struct {
		name, script, oom string
		want              shimapi.Exit
	}{
		{"exit code", `(` + execd + `; exit 3) & exec "$0" "$1" $!`, "", shimapi.Exit{Code: 3}},
		{"killed, OOM counter set", `sleep 100 & p=$!; (` + execd + `; kill -9 $p) & exec "$0" "$1" $p "$2"`, "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
			shimapi.Exit{Code: 137, Signal: 9, OOMKilled: true}},
		{"OOM counter zero", `(` + execd + `; exit 0) & exec "$0" "$1" $! "$2"`, "low 0\noom 1\noom_kill 0\n", shimapi.Exit{}},
		{"OOM file unreadable", `(` + execd + `; exit 1) & exec "$0" "$1" $! /nonexistent/memory.events`, "", shimapi.Exit{Code: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			oomFile := filepath.Join(dir, "oom")
			if err := os.WriteFile(oomFile, []byte(tt.oom), 0o644); err != nil {
				t.Fatal(err)
			}
			before := time.Now()
			if out, err := exec.Command("sh", "-c", tt.script, monitor, dir, oomFile).CombinedOutput(); err != nil {
				t.Fatalf("monitor: %v\n%s", err, out)
			}
			after := time.Now()
			var got shimapi.Exit
			if err := shimapi.ReadJSON(filepath.Join(dir, shimapi.ExitFile), &got); err != nil {
				t.Fatal(err)
			}
			if got.FinishedAt.Before(before.Truncate(time.Second)) || got.FinishedAt.After(after) || got.FinishedAt.Location() != time.UTC {
				t.Errorf("finished at %v, want UTC between %v and %v", got.FinishedAt, before, after)
			}
			got.FinishedAt = time.Time{}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				if strings.Contains(e.Name(), ".tmp-") {
					t.Errorf("temp file left: %s", e.Name())
				}
			}
		})
	}
}

// TestMonitorRefusesBadArguments: a wrong call exits 1 with a line naming
// what is wrong, and records nothing.
func TestMonitorRefusesBadArguments(t *testing.T) {
	if shimPath == "" {
		t.Skip("no shim and monitor built (needs root, gcc, musl-gcc)")
	}
	monitor := filepath.Join(filepath.Dir(shimPath), "nodectl-monitor")
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "usage: nodectl-monitor"},
		{[]string{dir, "x1"}, "bad init pid x1"},
		{[]string{dir, "0"}, "bad init pid 0"},
		{[]string{dir, "4194304"}, "wait for the container's init: No child process"}, // not our child
	} {
		out, err := exec.Command(monitor, tt.args...).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), tt.want) {
			t.Errorf("monitor %q: %v, %q; want exit 1 and %q", tt.args, err, out, tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, shimapi.ExitFile)); !os.IsNotExist(err) {
		t.Errorf("exit record written by a refused call: %v", err)
	}
}
