package apps

import (
	"fmt"
	"path"
	"strings"

	"nodectl/cluster/api"
)

// Secrets of pods (Marathon docs, "Secrets": mesosphere.github.io/
// marathon/docs/secrets.html, and types/pod.raml's secrets,
// environment and volumes): "secrets" names secrets of the cluster store
// as for apps, {"secret1": {"source": "/db/password"}}; the pod's or a
// container's environment refers to one as {"PASS": {"secret":
// "secret1"}}, and a volume {"name": "v", "secret": "secret1"} is a file
// holding the value, placed at the mountPath of each container that
// mounts the volume. As for apps, the pod and every instance hold the
// references only; the leading master resolves them into the LAUNCH_GROUP
// the agent gets (cluster/secrets_launch.go).

// validateSecrets checks the pod's "secrets" and every reference to them:
// an undefined reference is named (422), never dropped.
func (p *Pod) validateSecrets() []Detail {
	var ds []Detail
	add := func(at string, msg ...string) { ds = append(ds, Detail{Path: at, Errors: msg}) }
	for _, name := range sortedKeys(p.Secrets) {
		if !secretPathOK(p.Secrets[name].Source) {
			add("/secrets/"+name+"/source", fmt.Sprintf("%q is not a secret path (segments of letters, digits, '.', '_', '-')", p.Secrets[name].Source))
		}
	}
	envRefs := func(at string, env map[string]any) {
		for _, k := range sortedKeys(env) {
			switch v := env[k].(type) {
			case string:
			case map[string]any:
				ref, ok := v["secret"].(string)
				switch {
				case !ok:
					add(at+"/"+k, "secret must be the name of an entry of secrets")
				case len(v) != 1:
					add(at+"/"+k, `a secret reference is {"secret": "<name>"} and nothing else`)
				default:
					if _, ok := p.Secrets[ref]; !ok {
						add(at+"/"+k, fmt.Sprintf("references an undefined secret named '%s'", ref))
					}
				}
			default:
				add(at+"/"+k, "must be a string or a secret reference")
			}
		}
	}
	envRefs("/environment", p.Environment)
	secretVols := map[string]bool{}
	for i, v := range p.Volumes {
		if v.Secret == "" {
			continue
		}
		secretVols[v.Name] = true
		at := fmt.Sprintf("/volumes/%d", i)
		if _, ok := p.Secrets[v.Secret]; !ok {
			add(at+"/secret", fmt.Sprintf("references an undefined secret named '%s'", v.Secret))
		}
		if v.Host != "" || len(v.Persistent) > 0 {
			add(at, "a secret volume has no host and no persistent")
		}
	}
	for i, c := range p.Containers {
		pc := fmt.Sprintf("/containers/%d", i)
		envRefs(pc+"/environment", c.Environment)
		for j, m := range c.VolumeMounts {
			if !secretVols[m.Name] {
				continue
			}
			mp := m.MountPath
			if mp == "" || path.IsAbs(mp) || path.Clean(mp) != mp || mp == ".." || strings.HasPrefix(mp, "../") {
				add(fmt.Sprintf("%s/volumeMounts/%d/mountPath", pc, j),
					"a secret volume's mountPath must be a relative path inside the sandbox (not yet supported: absolute paths)")
			}
		}
	}
	return ds
}

// podEnv is a container's environment: the pod's, overridden by the
// container's, as plain values and as Mesos SECRET variables naming the
// store path.
func podEnv(def *Pod, c PodContainer) (map[string]string, []api.EnvVar) {
	merged := map[string]any{}
	for k, v := range def.Environment {
		merged[k] = v
	}
	for k, v := range c.Environment {
		merged[k] = v
	}
	plain := map[string]string{}
	var secret []api.EnvVar
	for _, k := range sortedKeys(merged) {
		switch v := merged[k].(type) {
		case string:
			plain[k] = v
		case map[string]any:
			ref, _ := v["secret"].(string)
			if s, ok := def.Secrets[ref]; ok { // else refused by validate
				secret = append(secret, api.EnvVar{Name: k, Type: api.EnvTypeSecret, Secret: secretRef(s.Source)})
			}
		}
	}
	return plain, secret
}

// podSecretVolume is a mount of a secret volume as a Mesos SECRET volume
// (nil when the mount is of another kind of volume).
func podSecretVolume(def *Pod, m PodVolumeMount) *api.Volume {
	for _, v := range def.Volumes {
		if v.Name != m.Name || v.Secret == "" {
			continue
		}
		s, ok := def.Secrets[v.Secret]
		if !ok {
			return nil // refused by validate
		}
		return &api.Volume{ContainerPath: m.MountPath, Mode: "RO",
			Source: &api.VolumeSource{Type: api.VolumeTypeSecret, Secret: secretRef(s.Source)}}
	}
	return nil
}
