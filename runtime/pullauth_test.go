package runtime

import (
	"encoding/json"
	"strings"
	"testing"

	"nodectl/cluster/api"
)

// TestTakePullConfig: the image's pull config leaves the checkpointed
// task and becomes pull options; one without its value refuses the
// launch; a config that is not a config.json is an error that does not
// quote it.
func TestTakePullConfig(t *testing.T) {
	conf := `{"auths":{"127.0.0.1:5000":{"username":"u","password":"PULLSECRET"}}}`
	ti := api.TaskInfo{Container: &api.ContainerInfo{Type: "MESOS", Mesos: &api.MesosContainer{Image: &api.Image{Type: "DOCKER",
		Docker: &api.DockerImage{Name: "127.0.0.1:5000/app", Config: &api.Secret{Type: api.SecretValue,
			Reference: &api.SecretRef{Name: "/reg"}, Value: &api.SecretVal{Data: []byte(conf)}}}}}}}
	info, s := takeSecrets(ti)
	if s.err != nil {
		t.Fatal(s.err)
	}
	b, _ := json.Marshal(info)
	if info.HasSecretValues() || strings.Contains(string(b), "UFVMTFNFQ1JFV") || string(s.pull) != conf {
		t.Errorf("task %s, pull %q", b, s.pull)
	}
	if opts, err := pullOptions(s.pull); err != nil || len(opts) != 1 {
		t.Errorf("options: %d %v", len(opts), err)
	}
	if opts, err := pullOptions(nil); err != nil || opts != nil {
		t.Errorf("no config: %v %v", opts, err)
	}
	if _, err := pullOptions([]byte("PULLSECRET")); err == nil || strings.Contains(err.Error(), "PULLSECRET") {
		t.Errorf("bad config: %v", err)
	}
	ti.Container.Mesos.Image.Docker.Config = &api.Secret{Type: api.SecretReference, Reference: &api.SecretRef{Name: "/reg"}}
	if _, s := takeSecrets(ti); s.err == nil || !strings.Contains(s.err.Error(), "/reg") {
		t.Errorf("unresolved pull config: %v", s.err)
	}
}
