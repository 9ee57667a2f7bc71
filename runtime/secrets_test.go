package runtime

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nodectl/cluster/api"
)

// TestTakeSecrets: the agent keeps values out of the task it checkpoints,
// puts them in the environment and in 0400 sandbox files, and refuses a
// secret that came without its value.
func TestTakeSecrets(t *testing.T) {
	val := func(v string) *api.Secret {
		return &api.Secret{Type: api.SecretValue, Reference: &api.SecretRef{Name: "/p"}, Value: &api.SecretVal{Data: []byte(v)}}
	}
	ti := api.TaskInfo{
		Command: &api.CommandInfo{Value: "true", Environment: &api.Environment{Variables: []api.EnvVar{
			{Name: "A", Value: "plain"}, {Name: "S", Type: api.EnvTypeSecret, Secret: val("env-value")},
		}}},
		Container: &api.ContainerInfo{Volumes: []api.Volume{
			{ContainerPath: "dir/file", Mode: "RO", Source: &api.VolumeSource{Type: api.VolumeTypeSecret, Secret: val("file-value")}},
		}},
	}
	info, s := takeSecrets(ti)
	if s.err != nil {
		t.Fatal(s.err)
	}
	b, _ := json.Marshal(info)
	if strings.Contains(string(b), "ZW52LXZhbHVl") || strings.Contains(string(b), "ZmlsZS12YWx1ZQ") || info.HasSecretValues() {
		t.Errorf("checkpointed task holds a value: %s", b)
	}
	if len(s.env) != 1 || s.env[0] != "S=env-value" {
		t.Errorf("env: %v", s.env)
	}
	tk := &task{info: info, secrets: s}
	for _, kv := range taskEnv(tk, "a", "h", "/sb", nil) {
		if strings.HasPrefix(kv, "S=") {
			t.Errorf("taskEnv has the secret variable (%q): it goes through SecretEnv only", kv)
		}
	}
	dir := filepath.Join(t.TempDir(), "secrets", "cid")
	mounts, err := secretMounts(dir, "/mnt/mesos/sandbox", s.files, taskUser{})
	if err != nil || len(mounts) != 1 {
		t.Fatalf("mounts: %v %v", mounts, err)
	}
	m := mounts[0]
	st, err := os.Stat(m.Source)
	if got, _ := os.ReadFile(m.Source); err != nil || string(got) != "file-value" || st.Mode().Perm() != 0o400 || !m.ReadOnly || m.Destination != "/mnt/mesos/sandbox/dir/file" {
		t.Errorf("secret mount %+v: %q %v", m, got, err)
	}
	if d, err := os.Stat(dir); err != nil || d.Mode().Perm() != 0o700 {
		t.Errorf("secret dir: %v %v", d, err)
	}
	if _, err := secretMounts(dir+"2", "/sb", []secretFile{{containerPath: "../escape", data: []byte("x")}}, taskUser{}); err == nil {
		t.Error("a secret file outside the sandbox was mounted")
	}
	// A reference that reached the agent unresolved refuses the launch.
	ti.Command.Environment.Variables[1].Secret = &api.Secret{Type: api.SecretReference, Reference: &api.SecretRef{Name: "/db/x"}}
	if _, s := takeSecrets(ti); s.err == nil || !strings.Contains(s.err.Error(), "/db/x") {
		t.Errorf("unresolved secret: %v", s.err)
	}
}
