//go:build !amd64 && !arm64

package initpin

// currentCPU is unknown here: the pin goes to the lowest allowed CPU.
func currentCPU() int { return -1 }
