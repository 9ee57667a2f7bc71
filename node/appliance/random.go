package appliance

import (
	"crypto/sha256"
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// randomSeedFile keeps entropy across boots on the data disk, as
// systemd-random-seed does.
const randomSeedFile = "random-seed"

// crngReady tells whether the kernel's random generator is initialised
// (getrandom would not block).
func crngReady() bool {
	var b [1]byte
	_, err := unix.Getrandom(b[:], unix.GRND_NONBLOCK)
	return err == nil
}

// seedRandom makes sure the kernel's random generator is ready before
// anything needs it (the DHCP client, etcd, key generation): every Go
// program blocks in getrandom until it is, and under emulation without a
// hardware RNG the kernel's own jitter collection takes minutes. Sources,
// in order: a virtio-rng device (the kernel credits it by itself), the
// seed saved on the data disk at the previous boot, and timing jitter
// gathered here, the way jitterentropy-rngd does. The seed for the next
// boot is refreshed once the generator is ready.
func seedRandom(log *slog.Logger, workDir string) {
	defer refreshSeed(log, workDir)
	// A hardware RNG feeds the kernel shortly after its driver binds.
	for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if crngReady() {
			return
		}
	}
	path := filepath.Join(workDir, randomSeedFile)
	if seed, err := os.ReadFile(path); err == nil && len(seed) >= 32 {
		// Used once: removed before it is credited so a crash cannot replay it.
		_ = os.Remove(path)
		unix.Sync()
		if err := addEntropy(seed, len(seed)*8); err != nil {
			log.Warn("credit saved random seed", "err", err)
		}
		if crngReady() {
			log.Info("random generator seeded from the data disk")
			return
		}
	}
	start := time.Now()
	for i := 0; i < 8 && !crngReady(); i++ {
		if err := addEntropy(jitter(), 256); err != nil {
			log.Warn("credit timing jitter", "err", err)
			return
		}
	}
	log.Warn("random generator seeded from timing jitter (no hardware RNG: add -device virtio-rng-pci to qemu)", "elapsed", time.Since(start).Round(time.Millisecond))
}

// jitter condenses the timing noise of many small memory-bound loops into
// 32 bytes: 64 raw samples (low bits of nanosecond deltas) per output
// bit, far more than the kernel's own jitter collector asks for.
func jitter() []byte {
	const samples = 256 * 64
	buf := make([]byte, 64*1024)
	h := sha256.New()
	var rec [8]byte
	prev := time.Now().UnixNano()
	for i := 0; i < samples; i++ {
		for j := 0; j < 64; j++ {
			k := (i*4099 + j*257) % len(buf)
			buf[k] += byte(j) ^ buf[(k+1021)%len(buf)]
		}
		now := time.Now().UnixNano()
		binary.LittleEndian.PutUint64(rec[:], uint64(now-prev))
		h.Write(rec[:])
		prev = now
	}
	return h.Sum(nil)
}

// addEntropy mixes data into the kernel pool and credits bits of entropy
// (RNDADDENTROPY; PID 1 has CAP_SYS_ADMIN).
func addEntropy(data []byte, bits int) error {
	f, err := os.OpenFile("/dev/urandom", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	// struct rand_pool_info { int entropy_count; int buf_size; __u32 buf[]; }
	req := make([]byte, 8+len(data)+3)
	binary.NativeEndian.PutUint32(req[0:], uint32(bits))
	binary.NativeEndian.PutUint32(req[4:], uint32(len(data)))
	copy(req[8:], data)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.RNDADDENTROPY, uintptr(unsafe.Pointer(&req[0])))
	if errno != 0 {
		return errno
	}
	return nil
}

// writeSynced replaces path with data durably (a power cut must not leave
// an empty seed behind).
func writeSynced(path string, data []byte) error {
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	f, err := os.Open(tmp)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	unix.Sync()
	return nil
}

// refreshSeed saves fresh random bytes for the next boot (only on a data
// disk: a seed on the tmpfs root would not survive).
func refreshSeed(log *slog.Logger, workDir string) {
	var st unix.Statfs_t
	if unix.Statfs(workDir, &st) != nil || st.Type == unix.TMPFS_MAGIC || !crngReady() {
		return
	}
	seed := make([]byte, 512)
	if _, err := unix.Getrandom(seed, 0); err != nil {
		return
	}
	path := filepath.Join(workDir, randomSeedFile)
	if err := writeSynced(path, seed); err != nil {
		log.Warn("save random seed", "err", err)
	}
}
