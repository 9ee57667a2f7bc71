package api

import (
	"errors"
	"fmt"
)

// Secrets in tasks have Mesos' shapes (include/mesos/v1/mesos.proto,
// message Secret; Environment.Variable.SECRET; Volume.Source.SECRET).
// A framework names a secret of the cluster store by REFERENCE; the master
// resolves references into VALUE secrets only in the LAUNCH it sends the
// agent, so what the master keeps and shows (/state, task lists, etcd)
// holds names, never values. The agent keeps resolved values out of its
// checkpoint (Redacted).

// Secret types and the secret volume source type.
const (
	SecretReference  = "REFERENCE"
	SecretValue      = "VALUE"
	EnvTypeSecret    = "SECRET"
	VolumeTypeSecret = "SECRET"
	EnvTypeValue     = "VALUE"
)

// Secret is a Mesos Secret: a reference to a stored secret, or its value.
type Secret struct {
	Type      string     `json:"type"` // REFERENCE or VALUE
	Reference *SecretRef `json:"reference,omitempty"`
	Value     *SecretVal `json:"value,omitempty"`
}

// SecretRef names a secret of the cluster store by its path.
type SecretRef struct {
	Name string `json:"name"`
	Key  string `json:"key,omitempty"`
}

// SecretVal is a secret's value; Data is base64 in JSON (bytes, as Mesos).
type SecretVal struct {
	Data []byte `json:"data"`
}

// VolumeSource is a volume's source (Mesos Volume.Source); nodectl
// supports SECRET and, in task groups, SANDBOX_PATH (taskgroup.go).
type VolumeSource struct {
	Type        string       `json:"type"`
	Secret      *Secret      `json:"secret,omitempty"`
	SandboxPath *SandboxPath `json:"sandbox_path,omitempty"`
}

// ErrSecretMissing is returned when a referenced secret does not exist.
var ErrSecretMissing = Kind(ErrNotFound, "secret not found")

// valid checks a secret's shape.
func (s *Secret) valid() error {
	switch {
	case s == nil:
		return errors.New("no secret given")
	case s.Type == SecretReference && (s.Reference == nil || s.Reference.Name == ""):
		return errors.New("a REFERENCE secret needs reference.name")
	case s.Type == SecretReference && s.Reference.Key != "":
		return fmt.Errorf("secret %s: reference.key is not supported (a secret has one value)", s.Reference.Name)
	case s.Type == SecretValue && s.Value == nil:
		return errors.New("a VALUE secret needs value.data")
	case s.Type != SecretReference && s.Type != SecretValue:
		return fmt.Errorf("secret type %q is not REFERENCE or VALUE", s.Type)
	}
	return nil
}

// ValidateSecrets checks the secrets of a task's environment, volumes and
// image pull config.
func (ti TaskInfo) ValidateSecrets() error {
	if c := ti.Command; c != nil && c.Environment != nil {
		for _, v := range c.Environment.Variables {
			switch v.Type {
			case "", EnvTypeValue:
				if v.Secret != nil {
					return fmt.Errorf("environment variable %s: a secret needs type SECRET", v.Name)
				}
			case EnvTypeSecret:
				if v.Value != "" {
					return fmt.Errorf("environment variable %s: type SECRET takes secret, not value", v.Name)
				}
				if err := v.Secret.valid(); err != nil {
					return fmt.Errorf("environment variable %s: %w", v.Name, err)
				}
			default:
				return fmt.Errorf("environment variable %s: type %q is not VALUE or SECRET", v.Name, v.Type)
			}
		}
	}
	if ct := ti.Container; ct != nil {
		for _, v := range ct.Volumes {
			if v.Source == nil || v.Source.Type != VolumeTypeSecret {
				continue // other sources are the master's to check (cluster/validate.go)
			}
			if v.HostPath != "" {
				return fmt.Errorf("volume %s: a SECRET volume has no host_path", v.ContainerPath)
			}
			if err := v.Source.Secret.valid(); err != nil {
				return fmt.Errorf("volume %s: %w", v.ContainerPath, err)
			}
		}
		if d := ct.dockerImage(); d != nil && d.Config != nil {
			if err := d.Config.valid(); err != nil {
				return fmt.Errorf("image %s: docker.config: %w", d.Name, err)
			}
		}
	}
	return nil
}

// dockerImage is the container's Docker image, or nil.
func (c *ContainerInfo) dockerImage() *DockerImage {
	if c == nil || c.Mesos == nil || c.Mesos.Image == nil {
		return nil
	}
	return c.Mesos.Image.Docker
}

// eachSecret calls f with every secret of a deep copy of ti and returns
// the copy. The copy shares nothing with ti that f may change.
func (ti TaskInfo) eachSecret(f func(s *Secret) error) (TaskInfo, error) {
	out := ti
	if c := ti.Command; c != nil && c.Environment != nil {
		cmd := *c
		env := *c.Environment
		env.Variables = append([]EnvVar(nil), c.Environment.Variables...)
		for i := range env.Variables {
			if s := env.Variables[i].Secret; s != nil {
				cp := *s
				if err := f(&cp); err != nil {
					return ti, fmt.Errorf("environment variable %s: %w", env.Variables[i].Name, err)
				}
				env.Variables[i].Secret = &cp
			}
		}
		cmd.Environment = &env
		out.Command = &cmd
	}
	if ct := ti.Container; ct != nil && len(ct.Volumes) > 0 {
		c := *ct
		c.Volumes = append([]Volume(nil), ct.Volumes...)
		for i := range c.Volumes {
			src := c.Volumes[i].Source
			if src == nil || src.Secret == nil {
				continue
			}
			sc, cp := *src, *src.Secret
			if err := f(&cp); err != nil {
				return ti, fmt.Errorf("volume %s: %w", c.Volumes[i].ContainerPath, err)
			}
			sc.Secret = &cp
			c.Volumes[i].Source = &sc
		}
		out.Container = &c
	}
	if d := out.Container.dockerImage(); d != nil && d.Config != nil {
		// Image.Docker.config: the pull credentials.
		c := *out.Container
		ms := *c.Mesos
		img := *ms.Image
		di := *d
		cp := *d.Config
		if err := f(&cp); err != nil {
			return ti, fmt.Errorf("image %s: docker.config: %w", d.Name, err)
		}
		di.Config = &cp
		img.Docker = &di
		ms.Image = &img
		c.Mesos = &ms
		out.Container = &c
	}
	return out, nil
}

// SecretRefs lists the secret paths ti references.
func (ti TaskInfo) SecretRefs() []string {
	var out []string
	_, _ = ti.eachSecret(func(s *Secret) error {
		if s.Type == SecretReference && s.Reference != nil {
			out = append(out, s.Reference.Name)
		}
		return nil
	})
	return out
}

// Resolved returns a copy of ti with every REFERENCE secret replaced by
// its VALUE from resolve. An error names the secret (and where it is used).
func (ti TaskInfo) Resolved(resolve func(name string) ([]byte, error)) (TaskInfo, error) {
	return ti.eachSecret(func(s *Secret) error {
		if s.Type != SecretReference || s.Reference == nil {
			return nil
		}
		v, err := resolve(s.Reference.Name)
		if err != nil {
			return fmt.Errorf("secret %s: %w", s.Reference.Name, err)
		}
		s.Type, s.Value = SecretValue, &SecretVal{Data: v}
		return nil
	})
}

// Redacted returns a copy of ti without secret values: a VALUE secret
// keeps its type and loses its data; references stay (they are names).
func (ti TaskInfo) Redacted() TaskInfo {
	out, _ := ti.eachSecret(func(s *Secret) error {
		if s.Value != nil {
			s.Value = nil
		}
		return nil
	})
	return out
}

// HasSecretValues reports whether ti carries a secret's value.
func (ti TaskInfo) HasSecretValues() bool {
	has := false
	_, _ = ti.eachSecret(func(s *Secret) error {
		has = has || s.Value != nil
		return nil
	})
	return has
}
