package api

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func secretTask() TaskInfo {
	ref := func(n string) *Secret { return &Secret{Type: SecretReference, Reference: &SecretRef{Name: n}} }
	return TaskInfo{
		TaskID: ID{Value: "t"},
		Command: &CommandInfo{Value: "true", Environment: &Environment{Variables: []EnvVar{
			{Name: "PLAIN", Value: "x"},
			{Name: "DB", Type: EnvTypeSecret, Secret: ref("/db/password")},
		}}},
		Container: &ContainerInfo{Type: "MESOS", Volumes: []Volume{
			{ContainerPath: "key", Mode: "RO", Source: &VolumeSource{Type: VolumeTypeSecret, Secret: ref("/tls/key")}},
		}},
	}
}

// TestSecretResolveRedact: Resolved fills values into a copy (the
// original keeps its references), Redacted takes them out again, and a
// missing secret names itself and where it is used.
func TestSecretResolveRedact(t *testing.T) {
	ti := secretTask()
	if err := ti.ValidateSecrets(); err != nil {
		t.Fatal(err)
	}
	if got := ti.SecretRefs(); len(got) != 2 || got[0] != "/db/password" || got[1] != "/tls/key" {
		t.Fatalf("refs: %v", got)
	}
	vals := map[string]string{"/db/password": "pw-value", "/tls/key": "key-value"}
	wire, err := ti.Resolved(func(n string) ([]byte, error) { return []byte(vals[n]), nil })
	if err != nil {
		t.Fatal(err)
	}
	wj, _ := json.Marshal(wire)
	oj, _ := json.Marshal(ti)
	if !wire.HasSecretValues() || ti.HasSecretValues() || strings.Contains(string(oj), "cHctdmFsdWU") {
		t.Errorf("resolution changed the original or filled nothing: %s", wj)
	}
	if err := wire.ValidateSecrets(); err != nil {
		t.Errorf("resolved task invalid: %v", err)
	}
	red := wire.Redacted()
	if red.HasSecretValues() || !wire.HasSecretValues() {
		t.Error("Redacted kept a value or changed its receiver")
	}
	_, err = ti.Resolved(func(n string) ([]byte, error) {
		if n == "/tls/key" {
			return nil, ErrSecretMissing
		}
		return []byte("v"), nil
	})
	if !errors.Is(err, ErrSecretMissing) || !strings.Contains(err.Error(), "/tls/key") || !strings.Contains(err.Error(), "volume key") {
		t.Errorf("missing secret: %v", err)
	}
	bad := secretTask()
	bad.Command.Environment.Variables[1].Value = "inline"
	if err := bad.ValidateSecrets(); err == nil {
		t.Error("a SECRET variable with a value was accepted")
	}
	// Other volume sources are not secrets: the master checks them
	// (cluster.validateVolumeSource refuses what it does not support).
	other := secretTask()
	other.Container.Volumes[0].Source = &VolumeSource{Type: VolumeSourceSandboxPath, SandboxPath: &SandboxPath{Type: SandboxPathParent, Path: "v"}}
	if err := other.ValidateSecrets(); err != nil {
		t.Errorf("a SANDBOX_PATH volume refused as a secret: %v", err)
	}
}

// TestSecretImagePullConfig: Image.Docker.config is a secret like the
// others: referenced, resolved into a copy, redacted, validated.
func TestSecretImagePullConfig(t *testing.T) {
	ti := TaskInfo{TaskID: ID{Value: "t"}, Container: &ContainerInfo{Type: "MESOS", Mesos: &MesosContainer{Image: &Image{
		Type: "DOCKER", Docker: &DockerImage{Name: "reg:5000/app", Config: &Secret{Type: SecretReference, Reference: &SecretRef{Name: "/reg/creds"}}},
	}}}}
	if err := ti.ValidateSecrets(); err != nil {
		t.Fatal(err)
	}
	if got := ti.SecretRefs(); len(got) != 1 || got[0] != "/reg/creds" {
		t.Fatalf("refs: %v", got)
	}
	wire, err := ti.Resolved(func(string) ([]byte, error) { return []byte(`{"auths":{}}`), nil })
	if err != nil {
		t.Fatal(err)
	}
	if c := wire.Container.Mesos.Image.Docker.Config; c.Type != SecretValue || string(c.Value.Data) != `{"auths":{}}` {
		t.Fatalf("resolved config: %+v", c)
	}
	if ti.HasSecretValues() || ti.Container.Mesos.Image.Docker.Config.Type != SecretReference {
		t.Error("resolution changed the original")
	}
	if red := wire.Redacted(); red.HasSecretValues() || !wire.HasSecretValues() {
		t.Error("Redacted kept the value or changed its receiver")
	}
	_, err = ti.Resolved(func(string) ([]byte, error) { return nil, ErrSecretMissing })
	if !errors.Is(err, ErrSecretMissing) || !strings.Contains(err.Error(), "docker.config") {
		t.Errorf("missing: %v", err)
	}
	ti.Container.Mesos.Image.Docker.Config = &Secret{Type: SecretReference}
	if err := ti.ValidateSecrets(); err == nil {
		t.Error("a config reference without a name was accepted")
	}
}
