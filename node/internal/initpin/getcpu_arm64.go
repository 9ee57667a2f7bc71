package initpin

import (
	"syscall"
	"unsafe"
)

// currentCPU is the CPU the calling thread runs on (getcpu(2)), -1 if
// unknown.
func currentCPU() int {
	var cpu uint32
	if _, _, e := syscall.RawSyscall(syscall.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0); e != 0 {
		return -1
	}
	return int(cpu)
}
