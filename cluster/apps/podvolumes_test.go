package apps

import (
	"strings"
	"testing"

	"nodectl/cluster/api"
)

// TestPodHostVolumes: a pod's host volume is bound at each mount's
// absolute mountPath, read-only as the mount says; a relative host or
// mountPath, and (with agents known) a host path no agent allows, are
// 422s naming the field.
func TestPodHostVolumes(t *testing.T) {
	h := newHarness(t)
	pod := func(host, mountPath string) string {
		return `{"id":"/hv","volumes":[{"name":"etc","host":"` + host + `"}],"containers":[{"name":"c","image":{"kind":"DOCKER","id":"busybox"},
			"exec":{"command":{"shell":"sleep 1"}},"resources":{"cpus":0.1,"mem":16},"volumeMounts":[{"name":"etc","mountPath":"` + mountPath + `","readOnly":true}]}]}`
	}
	for body, want := range map[string]string{
		pod("etc", "/mnt/etc"):  "/volumes/0/host",
		pod("/etc", "mnt/etc"):  "/containers/0/volumeMounts/0/mountPath",
		pod("/srv/x", "/mnt/x"): "/volumes/0/host",
	} {
		if strings.Contains(body, "/srv/x") {
			h.a.cfg.HostPathAllowed = func(p string) (bool, bool) { return strings.HasPrefix(p, "/etc"), true }
		}
		var out map[string]any
		if code := h.do("POST", "/v2/pods", body, &out); code != 422 || !strings.Contains(toJSON(t, out), want) {
			t.Errorf("%s: %d %v, want 422 naming %s", body, code, out, want)
		}
	}
	if code := h.do("POST", "/v2/pods", pod("/etc", "/mnt/etc"), nil); code != 201 {
		t.Fatalf("an allowed host volume: %d, want 201", code)
	}
	def := &Pod{Volumes: []PodVolume{{Name: "etc", Host: "/etc"}, {Name: "e"}}}
	v := podHostVolume(def, PodVolumeMount{Name: "etc", MountPath: "/mnt/etc", ReadOnly: true})
	if v == nil || v.HostPath != "/etc" || v.ContainerPath != "/mnt/etc" || v.Mode != api.VolumeRO {
		t.Errorf("host volume %+v", v)
	}
	if v := podHostVolume(def, PodVolumeMount{Name: "e", MountPath: "e"}); v != nil {
		t.Errorf("an ephemeral volume became a host volume: %+v", v)
	}
}
