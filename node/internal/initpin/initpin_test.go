package initpin

import (
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

func affinity(t *testing.T, tid int) cpuSet {
	t.Helper()
	var set cpuSet
	if _, _, e := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, uintptr(tid), unsafe.Sizeof(set), uintptr(unsafe.Pointer(&set))); e != 0 {
		if e == syscall.ESRCH {
			return cpuSet{} // gone meanwhile
		}
		t.Fatalf("sched_getaffinity(%d): %v", tid, e)
	}
	return set
}

// childCPUs is the Cpus_allowed_list of a process started now: it
// inherits the affinity of the thread that forks it.
func childCPUs(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("grep", "^Cpus_allowed_list", "/proc/self/status").Output()
	if err != nil {
		t.Fatalf("grep /proc/self/status: %v", err)
	}
	return strings.TrimSpace(strings.TrimPrefix(string(out), "Cpus_allowed_list:"))
}

// The test binary's own start ran the pin: every thread is on one CPU of
// those it was started with, and so is a child; after Release all are on
// all of them again.
func TestPinThenRelease(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("one CPU: the pin does nothing")
	}
	if !pinned {
		t.Fatal("not pinned although the process started with several CPUs")
	}
	ts := threads()
	if len(ts) < 2 {
		t.Fatalf("threads: %v", ts)
	}
	var one cpuSet
	for _, tid := range ts {
		set := affinity(t, tid)
		if set == (cpuSet{}) {
			continue
		}
		if one == (cpuSet{}) {
			one = set
		}
		if set != one {
			t.Fatalf("thread %d on %x, thread %d on %x", ts[0], one, tid, set)
		}
	}
	cpu := lowestCPU(&one)
	if one[cpu/64] != 1<<(cpu%64) || orig[cpu/64]&(1<<(cpu%64)) == 0 {
		t.Fatalf("pinned to %x, started with %x", one, orig)
	}
	if c := childCPUs(t); strings.ContainsAny(c, ",-") {
		t.Fatalf("a child of the pinned process may run on CPUs %s", c)
	}

	Release()
	for _, tid := range threads() {
		if set := affinity(t, tid); set != orig && set != (cpuSet{}) {
			t.Fatalf("thread %d on %x after Release, started with %x", tid, set, orig)
		}
	}
	if c := childCPUs(t); !strings.ContainsAny(c, ",-") {
		t.Fatalf("a child started after Release runs on CPU %s alone", c)
	}
	Release() // a second call changes nothing
	if pinned {
		t.Fatal("pinned again")
	}
}

func TestThreadsListsSelf(t *testing.T) {
	self := syscall.Gettid()
	for _, tid := range threads() {
		if tid == self {
			return
		}
	}
	t.Fatalf("thread %d not among %v", self, threads())
}

func TestLowestCPU(t *testing.T) {
	var s cpuSet
	s[1] = 1 << 3
	s[2] = 1
	if got := lowestCPU(&s); got != 67 {
		t.Fatalf("lowestCPU = %d, want 67", got)
	}
}
