package node

import (
	"bufio"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"nodectl/cluster/api"
)

// detectResources derives agent resources from the host the way Mesos
// does: all CPUs, memory and disk less a reserve for the system, and the
// default port range.
func detectResources(workDir string) api.Resources {
	const mb = 1 << 20
	mem := float64(hostMemBytes()) / mb
	mem -= min(1024, mem/2) // leave min(1 GB, half) to the host
	disk := 10240.0
	var st unix.Statfs_t
	if err := unix.Statfs(existingParent(workDir), &st); err == nil {
		// The filesystem's size, not its free space: detected resources
		// must not change between restarts, or the agent's checkpointed
		// config stops matching (Mesos sizes disk the same way).
		d := float64(st.Blocks) * float64(st.Bsize) / mb
		disk = d - min(5120, d/2)
	}
	return api.Resources{
		api.ScalarResource("cpus", float64(goruntime.NumCPU())),
		api.ScalarResource("mem", float64(int64(mem))),
		api.ScalarResource("disk", float64(int64(disk))),
		api.RangesResource("ports", api.Range{Begin: 31000, End: 32000}),
	}
}

func hostMemBytes() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 1 << 30
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "MemTotal:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 1 << 30
}

func existingParent(p string) string {
	for p != "/" && p != "." {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		p = p[:max(strings.LastIndex(p, "/"), 1)]
	}
	return "/"
}
