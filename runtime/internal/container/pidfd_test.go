package container

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A poll of a live process's pidfd that a signal interrupts (EINTR) is not
// an exit: waitFD keeps waiting and monitorAlive says alive. (It was taken
// for one, and a restarted agent destroyed running containers as lost.)
func TestPidfdPollInterrupted(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	fd, err := unix.PidfdOpen(cmd.Process.Pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	pidfd := os.NewFile(uintptr(fd), "pidfd")
	defer pidfd.Close()

	interrupts := 0
	poll = func(fds []unix.PollFd, timeout int) (int, error) {
		if interrupts < 3 {
			interrupts++
			return -1, unix.EINTR
		}
		return unix.Poll(fds, timeout)
	}
	t.Cleanup(func() { poll = unix.Poll })

	if gone, err := pidfdExited(pidfd.Fd()); gone || err != nil || interrupts != 3 {
		t.Fatalf("pidfdExited of a live process: %v, %v after %d interrupts", gone, err, interrupts)
	}
	interrupts = 0
	c := &Container{monitor: pidfd}
	if !c.monitorAlive() {
		t.Fatal("monitorAlive: a live process polled with EINTR is reported gone")
	}
	interrupts = 0
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := waitFD(ctx, pidfd); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waitFD of a live process with an interrupted poll: %v, want the deadline", err)
	}
	// And an exit is still seen, interrupted or not.
	interrupts = 0
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := waitFD(context.Background(), pidfd); err != nil {
		t.Fatalf("waitFD after the exit: %v", err)
	}
}
