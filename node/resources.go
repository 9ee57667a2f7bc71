package node

import (
	"bufio"
	"fmt"
	"math"
	"os"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"nodectl/cluster/api"
)

// hostResources is the host's capacity: all CPUs, memory and the work
// dir's file system (its size, not its free space: detected resources must
// not change between restarts, or the agent's checkpointed config stops
// matching; Mesos sizes disk the same way), and the default port range.
func hostResources(workDir string) api.Resources {
	const mb = 1 << 20
	disk := 20480.0
	var st unix.Statfs_t
	if err := unix.Statfs(existingParent(workDir), &st); err == nil {
		disk = float64(st.Blocks) * float64(st.Bsize) / mb
	}
	return api.Resources{
		api.ScalarResource("cpus", float64(goruntime.NumCPU())),
		api.ScalarResource("mem", float64(hostMemBytes()/mb)),
		api.ScalarResource("disk", float64(int64(disk))),
		api.RangesResource("ports", api.Range{Begin: 31000, End: 32000}),
	}
}

// defaultReserved is what a node keeps for itself out of the host's
// capacity when --reserved-resources does not say (docs/runtime.md
// "Protected control-plane capacity"): max(0.5, 5%) of the CPUs, and the
// memory and disk Mesos' agent leaves to the host when it detects its
// resources, min(1 GiB, half) and min(5 GiB, half) (Mesos'
// src/slave/containerizer/containerizer.cc), so the advertised memory and
// disk are what they were before the reservation existed.
func defaultReserved(host api.Resources) api.Resources {
	cpus, mem, disk := host.Scalar("cpus"), host.Scalar("mem"), host.Scalar("disk")
	return api.Resources{
		api.ScalarResource("cpus", math.Round(max(0.5, cpus*0.05)*1000)/1000),
		api.ScalarResource("mem", math.Floor(min(1024, mem/2))),
		api.ScalarResource("disk", math.Floor(min(5120, disk/2))),
	}
}

// reservedFor merges the --reserved-resources the operator gave (nil:
// none) over the defaults for host: a resource named there (in given or,
// for zero amounts, which parsing drops, in named) replaces the default of
// that name ("cpus:0" reserves no CPU), the others keep theirs. It fails
// if the reservation does not fit in host.
func reservedFor(host, given api.Resources, named []string) (api.Resources, error) {
	out := slices.DeleteFunc(defaultReserved(host), func(d api.Resource) bool {
		return slices.Contains(named, d.Name) || slices.ContainsFunc(given, func(g api.Resource) bool { return g.Name == d.Name })
	})
	out = out.Add(given)
	for _, r := range out {
		if r.Role != "" && r.Role != "*" {
			return nil, fmt.Errorf("%s: a role does not apply to the node's own reservation", r.Name)
		}
	}
	if !host.Contains(out) {
		return nil, fmt.Errorf("%s does not fit in the host's %s", out, host)
	}
	return out, nil
}

// withDetected completes the resources --resources gave as Mesos' agent
// does (Containerizer::resources in Mesos'
// src/slave/containerizer/containerizer.cc): each of cpus, mem, disk and
// ports that the flag does not name is detected — what the host has less
// what the node keeps for itself (defaultReserved), and ports
// [31000-32000] — so `--resources cpus:1;mem:512` still offers disk and
// ports. A resource named with any amount, zero included, is as given.
func withDetected(given api.Resources, named []string, workDir string) api.Resources {
	for _, r := range given {
		named = append(named, r.Name)
	}
	host := hostResources(workDir)
	detected := host.Subtract(defaultReserved(host))
	out := given
	for _, r := range detected {
		if !slices.Contains(named, r.Name) {
			out = append(out, r)
		}
	}
	return out
}

// resourceNames are the names in a Mesos resources string
// ("cpus(role):1;mem:2" → cpus, mem). The JSON form's names come from
// the parsed resources (withDetected).
func resourceNames(s string) []string {
	if strings.HasPrefix(strings.TrimSpace(s), "[") {
		return nil
	}
	var out []string
	for _, part := range strings.Split(s, ";") {
		name, _, _ := strings.Cut(part, ":")
		name, _, _ = strings.Cut(name, "(")
		if name = strings.TrimSpace(name); name != "" {
			out = append(out, name)
		}
	}
	return out
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
