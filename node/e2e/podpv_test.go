package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// podPV is Marathon's pod example of its "Persistent Volumes" page
// (https://mesosphere.github.io/marathon/docs/persistent-volumes.html)
// with the host's busybox httpd instead of /opt/mesosphere/bin/python:
// container1 appends to the shared persistent volume and each container
// serves the volume, as it mounts it, on its endpoint's host port.
const podPV = `{"id":"/st/pvpod",
 "volumes":[{"name":"pst","persistent":{"type":"root","size":10,"constraints":[]}}],
 "scaling":{"kind":"fixed","instances":1},
 "scheduling":{"unreachableStrategy":"disabled","upgrade":{"minimumHealthCapacity":0,"maximumOverCapacity":0}},
 "containers":[
  {"name":"container1","exec":{"command":{"shell":"cd $MESOS_SANDBOX && echo hello >> pst1/foo && exec /usr/bin/busybox httpd -f -p 127.0.0.1:$EP_HOST_HTTPCT1 -h pst1"}},
   "resources":{"cpus":0.1,"mem":32},"endpoints":[{"name":"httpct1","hostPort":0,"protocol":["tcp"]}],
   "volumeMounts":[{"name":"pst","mountPath":"pst1","readOnly":false}],"lifecycle":{"killGracePeriodSeconds":5},
   "healthCheck":{"http":{"endpoint":"httpct1","path":"/foo"},"gracePeriodSeconds":30,"intervalSeconds":1,"delaySeconds":0}},
  {"name":"container2","exec":{"command":{"shell":"cd $MESOS_SANDBOX && exec /usr/bin/busybox httpd -f -p 127.0.0.1:$EP_HOST_HTTPCT2 -h pst2"}},
   "resources":{"cpus":0.1,"mem":32},"endpoints":[{"name":"httpct2","hostPort":0,"protocol":["tcp"]}],
   "volumeMounts":[{"name":"pst","mountPath":"pst2","readOnly":false}],"lifecycle":{"killGracePeriodSeconds":5}}],
 "networks":[{"mode":"host"}]}`

// podPVStatus is what the test reads of the pod's status.
type podPVStatus struct {
	Status    string `json:"status"`
	Instances []struct {
		ID         string `json:"id"`
		Status     string `json:"status"`
		AgentID    string `json:"agentId"`
		Containers []struct {
			Name      string `json:"name"`
			Endpoints []struct {
				Name              string `json:"name"`
				AllocatedHostPort int    `json:"allocatedHostPort"`
			} `json:"endpoints"`
		} `json:"containers"`
	} `json:"instances"`
}

// httpGetBody is the body of GET url, or "" on any error.
func httpGetBody(url string) string {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return ""
	}
	return string(b)
}

// A resident pod: the instance reserves and creates its volume, both
// containers see it at their own mountPath, its endpoints are served on
// the allocated host ports (and health-checked there); a killed instance
// comes back on the same agent with the earlier data; DELETE destroys the
// volume and releases the reservation.
func TestPodPersistentVolume(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	if _, err := os.Stat("/usr/bin/busybox"); err != nil {
		t.Skip("no /usr/bin/busybox on the host")
	}
	m, _, ags := stCluster(t, "a")
	ag := ags[0]
	appMust(t, m, "POST", "/v2/pods", podPV, 201)

	stable := func(not string) podPVStatus {
		var st podPVStatus
		waitFor(t, 60*time.Second, "pod STABLE with a new instance", func() bool {
			code, b := appDo(t, m, "GET", "/v2/pods/st/pvpod::status", "")
			return code == 200 && json.Unmarshal(b, &st) == nil && st.Status == "STABLE" &&
				len(st.Instances) == 1 && st.Instances[0].ID != not
		})
		return st
	}
	ports := func(st podPVStatus) (int, int) {
		var p [2]int
		for i, c := range st.Instances[0].Containers {
			if len(c.Endpoints) != 1 || c.Endpoints[0].AllocatedHostPort == 0 {
				t.Fatalf("container %s endpoints %+v", c.Name, c.Endpoints)
			}
			p[i] = c.Endpoints[0].AllocatedHostPort
		}
		return p[0], p[1]
	}
	first := stable("")
	p1, p2 := ports(first)
	if p1 == p2 {
		t.Fatalf("both endpoints on port %d", p1)
	}
	// Both containers serve the one volume, each at its own mount path.
	for _, p := range []int{p1, p2} {
		url := fmt.Sprintf("http://127.0.0.1:%d/foo", p)
		waitFor(t, 30*time.Second, url+" serves the volume's foo", func() bool { return httpGetBody(url) == "hello\n" })
	}
	if r, v := stReserved(t, m); r < 3 || v != 1 {
		t.Fatalf("/state: %d reserved resources, %d volumes; want cpus, mem, disk and a volume", r, v)
	}
	if files := stVolumeFiles(ag.n.dir, "foo"); len(files) != 1 {
		t.Fatalf("volume directories with foo: %v", files)
	}

	// Kill the instance: it comes back on the same agent and reservation,
	// and container1 appends to the earlier data.
	appMust(t, m, "DELETE", "/v2/pods/st/pvpod::instances/"+first.Instances[0].ID, "", 200)
	second := stable(first.Instances[0].ID)
	if second.Instances[0].AgentID != first.Instances[0].AgentID {
		t.Fatalf("relaunched on agent %s, was %s", second.Instances[0].AgentID, first.Instances[0].AgentID)
	}
	q1, q2 := ports(second)
	for _, p := range []int{q1, q2} {
		url := fmt.Sprintf("http://127.0.0.1:%d/foo", p)
		waitFor(t, 30*time.Second, url+" serves both lines", func() bool { return httpGetBody(url) == "hello\nhello\n" })
	}
	if files := stVolumeFiles(ag.n.dir, "foo"); len(files) != 1 {
		t.Fatalf("volume directories with foo after the relaunch: %v", files)
	}
	if _, v := stReserved(t, m); v != 1 {
		t.Fatalf("/state: %d volumes after the relaunch, want 1", v)
	}

	// Agent kill -9 and restart: the instance is recovered or relaunched on
	// the same agent, with the data.
	ag.p.kill(syscall.SIGKILL)
	ag.p = start(t, ag.args...)
	waitFor(t, 30*time.Second, "agent back", func() bool { s := slaves(t, m.url()); return len(s) == 1 && s[0].Active })
	var third podPVStatus
	waitFor(t, 60*time.Second, "pod STABLE after the agent restart, serving the earlier data", func() bool {
		code, b := appDo(t, m, "GET", "/v2/pods/st/pvpod::status", "")
		if code != 200 || json.Unmarshal(b, &third) != nil || third.Status != "STABLE" || len(third.Instances) != 1 {
			return false
		}
		r1, _ := ports(third)
		return strings.HasPrefix(httpGetBody(fmt.Sprintf("http://127.0.0.1:%d/foo", r1)), "hello\nhello\n")
	})
	if third.Instances[0].AgentID != first.Instances[0].AgentID {
		t.Fatalf("after the agent restart on agent %s, was %s", third.Instances[0].AgentID, first.Instances[0].AgentID)
	}
	if files := stVolumeFiles(ag.n.dir, "foo"); len(files) != 1 {
		t.Fatalf("volume directories with foo after the agent restart: %v", files)
	}

	// Delete: the volume is destroyed and the reservation released.
	appMust(t, m, "DELETE", "/v2/pods/st/pvpod", "", 202)
	waitFor(t, 60*time.Second, "reservations released and the volume removed", func() bool {
		r, v := stReserved(t, m)
		vols, _ := filepath.Glob(filepath.Join(ag.n.dir, "volumes", "roles", "marathon", "*"))
		return r == 0 && v == 0 && len(vols) == 0
	})
}
