package e2e

import (
	"fmt"
	"os/exec"
	"sort"
	"testing"
	"time"

	"nodectl/cluster/api"
)

// BenchmarkConfinementCost measures what the task confinement of the
// isolation work costs at launch: TASK_STAGING to TASK_RUNNING (master
// timestamps) of command and image tasks that run as nobody under the
// default seccomp profile (today's default) against tasks that run as root
// with no seccomp filter (the defaults before), on one node, interleaved
// round by round so that both see the same machine. The work-dir view and
// hidden paths apply to both.
//
//	NODECTL_BIN=$PWD/bin/nodectl go test ./node/e2e -run '^$' -bench ConfinementCost -benchtime 10x
func BenchmarkConfinementCost(b *testing.B) {
	if probeRun(b) {
		return
	}
	b.StopTimer()
	n := newNode(b)
	b.Cleanup(func() { unmountUnder(n.dir) })
	start(b, n.args("all", "--quiet", "--resources", "cpus:16;mem:16384;disk:1024;ports:[31000-31100]")...)
	waitFor(b, 30*time.Second, "agent active", func() bool { s := slaves(b, n.url()); return len(s) == 1 && s[0].Active })
	if out, err := exec.Command(bin, "image", "import", "--work-dir", n.dir, busyboxTarball(b), "bench/busybox:1").CombinedOutput(); err != nil {
		b.Fatalf("image import: %v\n%s", err, out)
	}
	res, err := api.ParseResources("cpus:0.01;mem:32")
	if err != nil {
		b.Fatal(err)
	}
	type variant struct {
		name, user string
		image      bool
		unconfined bool
	}
	variants := []variant{
		{"command-confined", "nobody", false, false},
		{"command-root-unconfined", "root", false, true},
		{"image-confined", "nobody", true, false},
		{"image-root-unconfined", "root", true, true},
	}
	lat := map[string][]float64{}
	for i := range b.N {
		for _, v := range variants {
			id := fmt.Sprintf("%s-%d", v.name, i)
			ti := api.TaskInfo{Name: id, TaskID: api.ID{Value: id}, Resources: res,
				Command: &api.CommandInfo{Shell: new(bool), Value: "sleep", Arguments: []string{"sleep", "3600"}, User: v.user}}
			ci := &api.ContainerInfo{Type: "MESOS"}
			if v.image {
				ci.Mesos = &api.MesosContainer{Image: &api.Image{Type: "DOCKER", Docker: &api.DockerImage{Name: "bench/busybox:1"}}}
			}
			if v.unconfined {
				ci.LinuxInfo = &api.LinuxInfo{Seccomp: &api.SeccompInfo{Unconfined: true}}
			}
			ti.Container = ci
			launchAll(b, n.url(), []api.TaskInfo{ti}, 60*time.Second)
			staging, running := statusTimes(b, n.url(), id)
			lat[v.name] = append(lat[v.name], (running-staging)*1000)
		}
	}
	p50 := func(name string) float64 {
		l := lat[name]
		sort.Float64s(l)
		return l[len(l)/2]
	}
	for _, v := range variants {
		b.ReportMetric(p50(v.name), "ms-p50-"+v.name)
	}
	b.ReportMetric(p50("command-confined")/p50("command-root-unconfined"), "ratio-command")
	b.ReportMetric(p50("image-confined")/p50("image-root-unconfined"), "ratio-image")
	b.ReportMetric(0, "ns/op")
}
