package apps

import (
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"

	"nodectl/cluster/api"
	"nodectl/cluster/auth"
)

// Marathon's app secrets (Marathon docs, "Secrets": mesosphere.github.io/
// marathon/docs/secrets.html): "secrets" names secrets of the cluster
// store, {"secret0": {"source": "/db/password"}}; env refers to one as
// {"DB_PASS": {"secret": "secret0"}} and container.volumes as
// {"containerPath": "dbpass", "secret": "secret0"}. The app and every
// task the framework keeps hold the references only; the master resolves
// them into the LAUNCH sent to the agent (cluster/secrets_launch.go).

// SecretDef is one entry of an app's "secrets".
type SecretDef struct {
	Source string `json:"source"`
}

// secretPathOK mirrors cluster/secrets.CleanPath's rule (this package
// does not import the store): segments of letters, digits, '.', '_', '-'
// starting with a letter or digit.
func secretPathOK(p string) bool {
	p = strings.TrimPrefix(p, "/")
	if p == "" || len(p) > 255 {
		return false
	}
	for _, s := range strings.Split(p, "/") {
		if s == "" || !alnum(s[0]) {
			return false
		}
		for i := 0; i < len(s); i++ {
			if c := s[i]; !alnum(c) && c != '.' && c != '_' && c != '-' {
				return false
			}
		}
	}
	return true
}

func alnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// secretSource is the canonical store path of a secret source.
func secretSource(s string) string { return "/" + strings.TrimPrefix(s, "/") }

// validateSecrets checks "secrets" and every reference to them: an
// undefined reference is named (422), never dropped.
func (a *App) validateSecrets() []Detail {
	var ds []Detail
	add := func(p string, msg ...string) { ds = append(ds, Detail{Path: p, Errors: msg}) }
	for _, name := range sortedKeys(a.Secrets) {
		if !secretPathOK(a.Secrets[name].Source) {
			add("/secrets/"+name+"/source", fmt.Sprintf("%q is not a secret path (segments of letters, digits, '.', '_', '-')", a.Secrets[name].Source))
		}
	}
	for _, k := range sortedKeys(a.Env) {
		m, ok := a.Env[k].(map[string]any)
		if !ok {
			continue
		}
		ref, ok := m["secret"].(string)
		switch {
		case !ok:
			add("/env/"+k, "secret must be the name of an entry of secrets")
		case len(m) != 1:
			add("/env/"+k, `a secret reference is {"secret": "<name>"} and nothing else`)
		default:
			if _, ok := a.Secrets[ref]; !ok {
				add("/env/"+k, fmt.Sprintf("references an undefined secret named '%s'", ref))
			}
		}
	}
	if a.Container != nil {
		for i, v := range a.Container.Volumes {
			if v.Secret == "" {
				continue
			}
			p := fmt.Sprintf("/container/volumes/%d", i)
			if _, ok := a.Secrets[v.Secret]; !ok {
				add(p+"/secret", fmt.Sprintf("references an undefined secret named '%s'", v.Secret))
			}
			switch {
			case v.HostPath != "" || v.Persistent != nil:
				add(p, "a secret volume has no hostPath and no persistent")
			case v.ContainerPath == "" || path.IsAbs(v.ContainerPath) || path.Clean(v.ContainerPath) != v.ContainerPath || strings.HasPrefix(v.ContainerPath, ".."):
				add(p+"/containerPath", "a secret volume's containerPath must be a relative path inside the sandbox (not yet supported: absolute paths)")
			}
		}
	}
	return ds
}

// secretEnv is the app's env entries that reference secrets, as Mesos
// SECRET variables naming the store path.
func secretEnv(def *App) []api.EnvVar {
	var out []api.EnvVar
	for _, k := range sortedKeys(def.Env) {
		m, ok := def.Env[k].(map[string]any)
		if !ok {
			continue
		}
		ref, _ := m["secret"].(string)
		s, ok := def.Secrets[ref]
		if !ok {
			continue // refused by validate
		}
		out = append(out, api.EnvVar{Name: k, Type: api.EnvTypeSecret, Secret: secretRef(s.Source)})
	}
	return out
}

func secretRef(source string) *api.Secret {
	return &api.Secret{Type: api.SecretReference, Reference: &api.SecretRef{Name: secretSource(source)}}
}

// secretVolume is a secret volume as a Mesos SECRET volume.
func secretVolume(def *App, v Volume) api.Volume {
	return api.Volume{ContainerPath: v.ContainerPath, Mode: "RO",
		Source: &api.VolumeSource{Type: api.VolumeTypeSecret, Secret: secretRef(def.Secrets[v.Secret].Source)}}
}

// permitSecrets checks that the request's principal may use every secret
// the app references (view_secrets on its path): an app-scoped user
// cannot read another team's secret through an app.
func (a *Apps) permitSecrets(w http.ResponseWriter, r *http.Request, app *App) bool {
	if a.cfg.Guard == nil {
		return true
	}
	var sources []string
	for _, s := range app.Secrets {
		sources = append(sources, secretSource(s.Source))
	}
	sort.Strings(sources)
	for _, s := range sources {
		if !a.cfg.Guard.AllowedCtx(r.Context(), auth.ViewSecrets, s) {
			writeMessage(w, http.StatusForbidden, fmt.Sprintf("Not Authorized to perform this action! (%s on secret %s)", auth.ViewSecrets, s))
			return false
		}
	}
	return true
}
