package initpin

import (
	"syscall"
	"unsafe"
)

// currentCPU is the CPU the calling thread runs on (getcpu(2); the syscall
// package has no name for its number on amd64), -1 if unknown.
func currentCPU() int {
	var cpu uint32
	if _, _, e := syscall.RawSyscall(309, uintptr(unsafe.Pointer(&cpu)), 0, 0); e != 0 {
		return -1
	}
	return int(cpu)
}
