package runtime

import (
	"fmt"

	"nodectl/runtime/image"
)

// An image's pull config (Mesos Image.Docker.config; Marathon's
// pullConfig) reaches the agent as a VALUE secret in the LAUNCH: a
// Docker config.json with the registry's credentials. takeSecrets moves
// it out of the task (secrets.go), so the checkpoint never holds it; the
// pulls of that launch (forcePull, prepareRootfs) use it, and it is
// dropped with the task's other secrets once the container starts.
// Neither it nor anything parsed from it is logged. An image already in
// the store is not pulled again (unless cached=false), as in Mesos'
// docker store.

// pullOptions are the image pull options of a task's pull config (none
// without one).
func pullOptions(config []byte) ([]image.PullOption, error) {
	if len(config) == 0 {
		return nil, nil
	}
	kc, err := image.DockerConfigKeychain(config)
	if err != nil {
		return nil, fmt.Errorf("image pull config: %w", err)
	}
	return []image.PullOption{image.WithKeychain(kc)}, nil
}
