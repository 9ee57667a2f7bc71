package storage

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// crashEnv makes the test binary the crash child: it writes to the store
// at the path in the variable until it is killed, printing one line per
// write that returned (so was reported durable).
const crashEnv = "NODECTL_STORAGE_CRASH_CHILD"

// TestCrashSafety kills a writing process with SIGKILL, several times
// over the same database, and checks after each kill that every write the
// child saw return is there and that nothing is torn (a strict load
// succeeds: each task's state matches its stream, acks are in order).
//
// SIGKILL loses the process, not the machine: the kernel keeps what was
// written. Power loss is what synchronous=FULL's fsync at commit is for;
// it is not simulated here.
func TestCrashSafety(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(t, path)
		return
	}
	path := filepath.Join(t.TempDir(), "agent.db")
	for round := range 5 {
		// Kill at a different point of the write pattern each round.
		acked := runCrashChild(t, path, round, 100+73*round)
		s, err := Open(context.Background(), Config{Path: path, Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		st, err := s.LoadState(context.Background(), true)
		s.Close()
		if err != nil {
			t.Fatalf("round %d: strict load after kill: %v", round, err)
		}
		checkAcked(t, round, st, acked)
	}
}

// runCrashChild starts the child, kills it once it has reported n writes,
// and returns every write it reported.
func runCrashChild(t *testing.T, path string, round, n int) []string {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashSafety$", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), crashEnv+"="+path, fmt.Sprintf("NODECTL_STORAGE_CRASH_ROUND=%d", round))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "WROTE ")
		if !ok {
			continue
		}
		acked = append(acked, line)
		if len(acked) == n && !killed {
			// Keep reading after the kill: lines already in the pipe were
			// written after their write returned, so they count too.
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("round %d: child exited after %d writes: %v", round, len(acked), err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("round %d: child ended with %v, want SIGKILL", round, err)
	}
	t.Logf("round %d: child killed after %d reported writes", round, len(acked))
	return acked
}

// crashChild runs task lives on four goroutines until killed.
func crashChild(t *testing.T, path string) {
	s, err := Open(context.Background(), Config{Path: path, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	round := os.Getenv("NODECTL_STORAGE_CRASH_ROUND")
	ctx := context.Background()
	report := func(format string, args ...any) {
		// One write(2) per line: a line in the pipe is whole.
		os.Stdout.WriteString("WROTE " + fmt.Sprintf(format, args...) + "\n")
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(3)
	}
	for g := range 4 {
		go func() {
			for i := 0; ; i++ {
				fw, task := "fw"+round, fmt.Sprintf("r%s-g%d-t%d", round, g, i)
				k := TaskKey{fw, task}
				l := launchOf(fw, task)
				if err := s.LaunchTask(ctx, l); err != nil {
					fail(err)
				}
				report("launch %s %s", fw, task)
				ups := []*Update{l.Update, updateOf(fw, task, "TASK_RUNNING", false), updateOf(fw, task, "TASK_FINISHED", true)}
				for j, u := range ups[1:] {
					seq, err := s.AppendUpdate(ctx, *u)
					if err != nil {
						fail(err)
					}
					report("update %s %s %d %x", fw, task, seq, u.UUID)
					if _, err := s.Ack(ctx, k, ups[j].UUID); err != nil {
						fail(err)
					}
					report("ack %s %s %x", fw, task, ups[j].UUID)
				}
				if _, err := s.Ack(ctx, k, ups[2].UUID); err != nil {
					fail(err)
				}
				report("ack %s %s %x", fw, task, ups[2].UUID)
				if i%5 == 4 {
					// Announced before: once the run is completed, any
					// goroutine's prune may delete the task.
					report("completing %s %s", fw, task)
					if err := s.CompleteExecutor(ctx, l.Executor.ContainerID, fromNanos(1)); err != nil {
						fail(err)
					}
					if _, err := s.Prune(ctx, fromNanos(2)); err != nil {
						fail(err)
					}
				}
			}
		}()
	}
	select {}
}

// checkAcked checks that every reported write is in st.
func checkAcked(t *testing.T, round int, st State, acked []string) {
	tasks := map[TaskKey]Task{}
	for _, task := range st.Tasks {
		tasks[task.Key()] = task
	}
	find := func(k TaskKey, uuid string) (Update, bool) {
		for _, u := range tasks[k].Updates {
			if hex.EncodeToString(u.UUID) == uuid {
				return u, true
			}
		}
		return Update{}, false
	}
	completing := map[TaskKey]bool{}
	for _, line := range acked {
		if f := strings.Fields(line); f[0] == "completing" {
			completing[TaskKey{f[1], f[2]}] = true
		}
	}
	pruned := 0
	for k := range completing {
		if _, ok := tasks[k]; !ok {
			pruned++
		}
	}
	for i := range acked {
		f := strings.Fields(acked[i])
		k := TaskKey{f[1], f[2]}
		_, present := tasks[k]
		switch {
		case f[0] == "completing":
		case completing[k] && !present: // pruned
		case f[0] == "launch":
			if !present {
				t.Errorf("round %d: reported %q, but the task is missing", round, acked[i])
			}
		case f[0] == "update":
			if u, ok := find(k, f[4]); !ok || fmt.Sprint(u.Seq) != f[3] {
				t.Errorf("round %d: reported %q, but the update is missing (%+v)", round, acked[i], u)
			}
		case f[0] == "ack":
			if u, ok := find(k, f[3]); !ok || !u.Acked() {
				t.Errorf("round %d: reported %q, but the update is not acknowledged (%+v)", round, acked[i], u)
			}
		}
	}
	t.Logf("round %d: %d tasks in the checkpoint, %d pruned", round, len(st.Tasks), pruned)
}
