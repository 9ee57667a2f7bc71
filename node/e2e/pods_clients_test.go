package e2e

import (
	"testing"
	"time"

	marathon "github.com/gambol99/go-marathon"
)

// go-marathon's pod calls, unchanged: SupportsPods, CreatePod, WaitOnPod,
// PodStatus, Pods, PodVersions, PodByVersion, UpdatePod (scale to 2),
// DeletePodInstance (replaced), DeletePod.
func TestClientsGoMarathonPods(t *testing.T) {
	t.Parallel() // e2e_test.go: the long, self-contained tests run side by side
	n, hc := clientsStartNode(t)
	c := marathonClient(t, n, hc, clientPrincipal, clientSecret)

	if ok, err := c.SupportsPods(); err != nil || !ok {
		t.Fatalf("SupportsPods: %v %v", ok, err)
	}
	p := marathon.NewPod().Name("/cp/pod").Count(1).
		AddContainer(marathon.NewPodContainer().SetName("a").SetCommand("sleep " + appMark(7201)).CPUs(0.05).Memory(16)).
		AddContainer(marathon.NewPodContainer().SetName("b").SetCommand("sleep " + appMark(7202)).CPUs(0.05).Memory(16))
	created, err := c.CreatePod(p)
	if err != nil {
		t.Fatalf("CreatePod: %v", err)
	}
	if created.ID != "/cp/pod" || len(created.Containers) != 2 || created.Version == "" {
		t.Fatalf("created: %+v", created)
	}
	if err := c.WaitOnPod("/cp/pod", 60*time.Second); err != nil {
		t.Fatalf("WaitOnPod: %v", err)
	}
	st, err := c.PodStatus("/cp/pod")
	if err != nil || st.Status != marathon.PodStateStable || len(st.Instances) != 1 || len(st.Instances[0].Containers) != 2 {
		t.Fatalf("PodStatus: %+v %v", st, err)
	}
	for _, cs := range st.Instances[0].Containers {
		if cs.Status != "TASK_RUNNING" {
			t.Errorf("container %s: %s", cs.Name, cs.Status)
		}
	}
	first := st.Instances[0].ID
	if pods, err := c.Pods(); err != nil || len(pods) != 1 {
		t.Fatalf("Pods: %v %v", pods, err)
	}
	vs, err := c.PodVersions("/cp/pod")
	if err != nil || len(vs) != 1 {
		t.Fatalf("PodVersions: %v %v", vs, err)
	}
	if v, err := c.PodByVersion("/cp/pod", vs[0]); err != nil || v.Version != vs[0] {
		t.Fatalf("PodByVersion: %+v %v", v, err)
	}

	created.Count(2)
	if _, err := c.UpdatePod(created, false); err != nil {
		t.Fatalf("UpdatePod: %v", err)
	}
	waitFor(t, 60*time.Second, "two stable instances of the new version", func() bool {
		st, err := c.PodStatus("/cp/pod")
		return err == nil && st.Status == marathon.PodStateStable && len(st.Instances) == 2
	})

	inst, err := c.DeletePodInstance("/cp/pod", first)
	if err != nil || inst.InstanceID.ID != first {
		t.Fatalf("DeletePodInstance: %+v %v", inst, err)
	}
	waitFor(t, 60*time.Second, "the killed instance replaced", func() bool {
		st, err := c.PodStatus("/cp/pod")
		if err != nil || st.Status != marathon.PodStateStable || len(st.Instances) != 2 {
			return false
		}
		for _, i := range st.Instances {
			if i.ID == first {
				return false
			}
		}
		return true
	})

	if _, err := c.DeletePod("/cp/pod", false); err != nil {
		t.Fatalf("DeletePod: %v", err)
	}
	waitFor(t, 60*time.Second, "no container left", func() bool { return appMonitors(n.dir) == 0 })
	if pods, err := c.Pods(); err != nil || len(pods) != 0 {
		t.Fatalf("Pods after delete: %v %v", pods, err)
	}
}
