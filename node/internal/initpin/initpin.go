// Package initpin keeps a nodectl process on one CPU while its packages
// are initialised, and gives it all of its CPUs back once they are
// (Release, from package node's init).
//
// Why: etcd's server packages register about a hundred Prometheus
// collectors in their init functions, and client_golang's
// Registry.Register describes each collector on a goroutine of its own.
// The Go runtime runs package initialisation on the main goroutine locked
// to the main thread, so every registration hands the processor to
// another thread and back: two wake-ups of a thread on another CPU, each
// an inter-processor interrupt, and in a virtual machine the wake-up of
// an idle virtual CPU. On the 2-core development VM 110 registrations in
// an init took 4.3 ms of wall time (0.3 ms from main), and `nodectl
// --version` took 14 ms where the same binary under `taskset -c 1` took
// 10: every command's start (`nodectl execute`'s included) and the
// daemon's. With the whole process on one CPU the hand-overs stay on it.
//
// The pin is this package's init. Packages are initialised in the order of
// their import paths, a package as soon as everything it imports is (The
// Go Programming Language Specification, "Package initialization"); this
// one imports only syscall and unsafe, so it runs before time, os and
// everything that imports them, Prometheus and etcd among them. It pins
// every thread the process has to the CPU it runs on (threads made later
// inherit it), within the affinity it was started with, and Release puts
// that affinity back on every thread. A process started on one CPU, or
// one whose affinity cannot be read, is left alone.
package initpin

import (
	"syscall"
	"unsafe"
)

// cpuSet is a sched_setaffinity(2) mask: 1,024 CPUs, as glibc's cpu_set_t.
type cpuSet [16]uint64

var (
	// orig is the affinity the process was started with; pinned says the
	// threads were moved off it.
	orig   cpuSet
	pinned bool
)

func init() { pin() }

func pin() {
	if _, _, e := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, 0, unsafe.Sizeof(orig), uintptr(unsafe.Pointer(&orig))); e != 0 {
		return
	}
	n := 0
	for _, w := range orig {
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	if n < 2 {
		return
	}
	cpu := currentCPU()
	if cpu < 0 || cpu >= len(orig)*64 || orig[cpu/64]&(1<<(cpu%64)) == 0 {
		cpu = lowestCPU(&orig)
	}
	var one cpuSet
	one[cpu/64] = 1 << (cpu % 64)
	pinned = true
	eachThread(&one)
}

// Release gives every thread of the process the affinity it was started
// with. Threads made by a thread still pinned inherit the pin, so it goes
// over the process's threads until a pass finds none it had not already
// released.
func Release() {
	if !pinned {
		return
	}
	pinned = false
	eachThread(&orig)
}

// eachThread sets set as the affinity of every thread in
// /proc/self/task, listing them again until a listing shows no thread it
// has not set (a thread that has gone meanwhile is skipped).
func eachThread(set *cpuSet) {
	done := map[int]bool{}
	for pass := 0; pass < 8; pass++ {
		tids := threads()
		if tids == nil {
			// No /proc: at least the calling thread, which makes the
			// rest as the process goes on.
			_, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, unsafe.Sizeof(*set), uintptr(unsafe.Pointer(set)))
			return
		}
		fresh := false
		for _, tid := range tids {
			if done[tid] {
				continue
			}
			fresh = true
			done[tid] = true
			_, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(*set), uintptr(unsafe.Pointer(set)))
		}
		if !fresh {
			return
		}
	}
}

// threads lists the thread ids in /proc/self/task, nil if it cannot.
func threads() []int {
	fd, err := syscall.Open("/proc/self/task", syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer syscall.Close(fd)
	var tids []int
	buf := make([]byte, 4096)
	for {
		n, err := syscall.ReadDirent(fd, buf)
		if err != nil {
			return nil
		}
		if n <= 0 {
			return tids
		}
		var names []string
		_, _, names = syscall.ParseDirent(buf[:n], -1, names)
		for _, name := range names {
			tid := 0
			for _, c := range []byte(name) {
				if c < '0' || c > '9' {
					tid = -1
					break
				}
				tid = tid*10 + int(c-'0')
			}
			if tid > 0 {
				tids = append(tids, tid)
			}
		}
	}
}

func lowestCPU(set *cpuSet) int {
	for i, w := range set {
		for b := 0; b < 64; b++ {
			if w&(1<<b) != 0 {
				return i*64 + b
			}
		}
	}
	return 0
}
