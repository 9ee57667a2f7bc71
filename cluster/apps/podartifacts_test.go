package apps

import (
	"testing"
)

// TestPodArtifactsAndForcePull: a container's artifacts become the
// Mesos CommandInfo.URIs of its task and forcePull an uncached image.
func TestPodArtifactsAndForcePull(t *testing.T) {
	h := newHarness(t)
	pod := `{"id":"/art/pod","containers":[{"name":"c","exec":{"command":{"shell":"sleep 1"}},"resources":{"cpus":0.1,"mem":16},
	  "image":{"kind":"DOCKER","id":"busybox","forcePull":true},
	  "artifacts":[{"uri":"http://127.0.0.1/a.tgz","extract":false,"executable":true,"cache":true,"destPath":"bin/a"},{"uri":"http://127.0.0.1/b.txt"}]}]}`
	if code := h.do("POST", "/v2/pods", pod, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	h.a.step()
	h.offerFrom("h1", "cpus:1;mem:512;disk:100")
	tasks := launchedPodTasks(h, 0)
	if len(tasks) != 1 {
		t.Fatalf("launched %d", len(tasks))
	}
	ti := tasks[0]
	us := ti.Command.URIs
	if len(us) != 2 || us[0].Value != "http://127.0.0.1/a.tgz" || us[0].Extract == nil || *us[0].Extract || !us[0].Executable || !us[0].Cache ||
		us[0].OutputFile != "bin/a" || us[1].Value != "http://127.0.0.1/b.txt" || us[1].Extract != nil {
		t.Fatalf("uris: %+v", us)
	}
	if img := ti.Container.Mesos.Image; img.Cached == nil || *img.Cached {
		t.Fatalf("forcePull: image %+v, want cached false", img)
	}
}
