package apps

import (
	"fmt"

	"nodectl/cluster/api"
)

// Registry credentials for pulling an image (Marathon docs, "Using a
// Private Docker Registry", mesosphere.github.io/marathon/docs/
// native-docker-private-registry.html, the Mesos containerizer's
// pullConfig): an app's container.docker.pullConfig or a pod container's
// image.pullConfig is {"secret": "<name of an entry of secrets>"}, and
// that secret's value is a Docker config.json. It becomes the image's
// Mesos Image.Docker.config, a REFERENCE secret the leading master
// resolves into the LAUNCH only (cluster/secrets_launch.go); the agent
// uses the value for that pull and keeps it nowhere (runtime/pullauth.go).
// Naming the secret in "secrets" makes the request need view_secrets on
// its path, as every other secret reference (permitSecrets).

// PullConfig names the secret holding a Docker config.json.
type PullConfig struct {
	Secret string `json:"secret"`
}

// validatePullConfig checks a pullConfig at path at against secrets.
func validatePullConfig(at string, pc *PullConfig, secrets map[string]SecretDef) []Detail {
	if pc == nil {
		return nil
	}
	if pc.Secret == "" {
		return []Detail{{Path: at + "/secret", Errors: []string{"pullConfig.secret must be the name of an entry of secrets"}}}
	}
	if _, ok := secrets[pc.Secret]; !ok {
		return []Detail{{Path: at + "/secret", Errors: []string{fmt.Sprintf("references an undefined secret named '%s'", pc.Secret)}}}
	}
	return nil
}

// pullConfigSecret is the Mesos Image.Docker.config of a pullConfig (nil
// without one; an undefined name is refused by validation).
func pullConfigSecret(pc *PullConfig, secrets map[string]SecretDef) *api.Secret {
	if pc == nil {
		return nil
	}
	s, ok := secrets[pc.Secret]
	if !ok {
		return nil
	}
	return secretRef(s.Source)
}
